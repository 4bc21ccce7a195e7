"""The coverage table in docs/converters.md: generated from the parity tests, with a row for every converter.

No Spark here: the table is read from docs/converters.md, and the generator is fed made-up records.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from mlflow_sparkonnx.convert.converters import builtin_specs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def generator():
    spec = importlib.util.spec_from_file_location("coverage_table", ROOT / "scripts" / "coverage_table.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def table_rows(generator) -> dict[str, list[str]]:
    """The generated block's rows, by stage class: {stage: [parameters, tests, status]}."""
    page = generator.CONVERTERS_PAGE.read_text(encoding="utf-8")
    assert page.count(generator.START) == 1 and page.count(generator.END) == 1
    block = page[page.index(generator.START) : page.index(generator.END)]
    rows = {}
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if line.startswith("| ") and len(cells) == 4:
            rows[cells[0]] = cells[1:]
    return rows


def test_every_converter_has_a_row_in_the_docs_table(generator):
    rows = table_rows(generator)
    missing = sorted({s.stage_class.__name__ for s in builtin_specs()} - set(rows))
    assert not missing, (
        f"docs/converters.md coverage table has no row for {missing}: run "
        "`.venv/bin/python scripts/coverage_table.py` (it runs the parity tests) "
        "and commit docs/converters.md"
    )


def test_generator_aggregates_per_stage_and_shows_gaps(generator):
    def record(test, params, rows=100, used=0.001, converter="sparkonnx", stage="StringIndexerModel"):
        return {
            "stage": stage,
            "converter": converter,
            "params": params,
            "rows": rows,
            "max_abs_diff": used / 1e4,
            "tolerance_used": used,
            "mismatched_rows": 0,
            "test": test,
        }

    records = [
        record("t.py::a", {"handleInvalid": "keep"}),
        record("t.py::a", {"handleInvalid": "skip"}, used=0.25),  # the same test, a second call
        record("t.py::b", {"handleInvalid": "keep", "inputCols": "2"}),
        record("t.py::c", {}, used=0.0, converter="onnxmltools", stage="PCAModel"),
        record("t.py::d", {}, converter="user", stage="DoublingStage"),
    ]
    stages = generator.coverage(records, ["StringIndexerModel", "Tokenizer"])
    table = generator.render_table(stages)

    assert (
        "| StringIndexerModel | `handleInvalid=keep/skip`, `inputCols=2` | 2, 300 rows, "
        "worst 25% of tolerance | verified (ours) |"
    ) in table
    assert "| PCAModel | defaults | 1, 100 rows, exact | verified (onnxmltools) |" in table
    assert "| Tokenizer | – | – | **no parity test** |" in table
    assert "DoublingStage" not in table


def test_generator_replaces_only_the_marked_block(generator):
    page = f"before\n{generator.START}\nold table\n{generator.END}\nafter\n"
    updated = generator.replace_block(page, f"{generator.START}\nnew\n{generator.END}")
    assert updated == f"before\n{generator.START}\nnew\n{generator.END}\nafter\n"
    with pytest.raises(SystemExit):
        generator.replace_block("no markers here", "x")


def test_every_pyspark_ml_stage_class_has_a_row_in_the_docs_table(generator):
    """The table lists every Transformer and Model class of the installed pyspark.ml (the generator
    finds them by import; base classes left out)."""
    rows = table_rows(generator)
    classes = generator.pyspark_ml_stage_classes()
    assert {"ALSModel", "VectorSizeHint", "Tokenizer", "CrossValidatorModel"} <= set(classes)
    assert not {"Model", "Transformer", "JavaModel"} & set(classes)
    missing = sorted(set(classes) - set(rows))
    assert not missing, (
        f"docs/converters.md coverage table has no row for {missing}: run scripts/coverage_table.py"
    )


def test_classes_without_records_get_their_status(generator):
    table = generator.render_table(
        [], {"PCAModel": "", "ALSModel": "not converted: why", "Foo": ""}, {"PCAModel"}
    )
    assert (
        "| PCAModel | – | – | onnxmltools' converter, no parity test here: verified per model when saved |"
        in table
    )
    assert "| ALSModel | – | – | not converted: why |" in table
    assert "| Foo | – | – | no converter: `unsupported`, served by Spark |" in table
