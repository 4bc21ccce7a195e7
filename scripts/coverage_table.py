"""Rebuild the converter coverage table in docs/converters.md from the parity tests.

    .venv/bin/python scripts/coverage_table.py               # run the parity tests, rewrite the table
    .venv/bin/python scripts/coverage_table.py --from FILE   # use recorded JSON lines, run nothing

The tests run with ``SPARKONNX_COVERAGE_FILE`` set, so every passing
``tests/parity.py::assert_onnx_matches_spark`` call appends one JSON line per verified stage.
The records are grouped per stage class: the parameter values verified, the parity tests, rows
and largest difference. Every stage class this package converts (``builtin_specs()``) gets a row;
one without a record reads "no parity test". So does every other Transformer and Model class of the
installed ``pyspark.ml``: converted by onnxmltools (verified per model when saved), unwrapped, or
not converted (with the reason where one is known). The table replaces what lies between the
``<!-- coverage-table:start -->`` and ``<!-- coverage-table:end -->`` markers of docs/converters.md.

The tests start Spark: on a shared machine, run this under ``flock /tmp/spark.lock``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONVERTERS_PAGE = ROOT / "docs" / "converters.md"
START = "<!-- coverage-table:start -->"
END = "<!-- coverage-table:end -->"
COVERAGE_ENV = "SPARKONNX_COVERAGE_FILE"  # the variable tests/parity.py reads
#: The tests whose parity checks fill the table.
TEST_PATHS = ["tests/convert/converters"]
#: Distinct values shown per parameter before the rest are counted.
MAX_VALUES = 8
#: The ``pyspark.ml`` modules whose Transformer and Model classes the table lists.
PYSPARK_ML_MODULES = (
    "feature",
    "classification",
    "regression",
    "clustering",
    "recommendation",
    "fpm",
    "tuning",
)
#: Base classes and mixins in those modules: not stages a pipeline holds.
NOT_STAGES = {
    "Transformer",
    "Model",
    "UnaryTransformer",
    "JavaTransformer",
    "JavaModel",
    "JavaPredictionModel",
    "PredictionModel",
    "ClassificationModel",
    "ProbabilisticClassificationModel",
    "RegressionModel",
    "LDAModel",
}
#: Classes neither this package nor onnxmltools converts as such, and why (measured or by design).
NOT_CONVERTED = {
    "CrossValidatorModel": "unwrapped: its `bestModel` is saved and converted",
    "TrainValidationSplitModel": "unwrapped: its `bestModel` is saved and converted",
    "FPGrowthModel": "not converted: association rules over item sets; served by Spark",
    "LocalLDAModel": "not converted: Spark infers topics iteratively from a random start; served by Spark",
    "DistributedLDAModel": "not converted: Spark infers topics iteratively from a random start",
    "DCT": (
        "its FFT gives inf/NaN at infinite or huge inputs in size-dependent patterns no graph reproduces; "
        "the edge probes make it `mismatch`, served by Spark"
    ),
}


@dataclass
class StageCoverage:
    """What the parity tests verified for one stage class."""

    stage: str
    converter: str  # ours | onnxmltools
    tests: set[str] = field(default_factory=set)
    rows: int = 0
    max_abs_diff: float = 0.0
    #: The largest |onnx - spark| as a share of the allowed difference (abs + rel * |spark|).
    tolerance_used: float = 0.0
    mismatched_rows: int = 0
    params: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def add(self, record: dict[str, Any]) -> None:
        self.tests.add(record.get("test") or "?")
        self.rows += int(record.get("rows") or 0)
        diff = record.get("max_abs_diff")
        if isinstance(diff, (int, float)) and math.isfinite(diff):
            self.max_abs_diff = max(self.max_abs_diff, float(diff))
        used = record.get("tolerance_used")
        if isinstance(used, (int, float)) and math.isfinite(used):
            self.tolerance_used = max(self.tolerance_used, float(used))
        self.mismatched_rows += int(record.get("mismatched_rows") or 0)
        for name, value in (record.get("params") or {}).items():
            self.params[name].add(str(value))

    @property
    def status(self) -> str:
        if not self.tests:
            return "**no parity test**"
        if self.mismatched_rows:
            return f"**mismatch** on {self.mismatched_rows:,} rows ({self.converter})"
        return f"verified ({self.converter})"


def coverage(records: list[dict[str, Any]], converted_here: list[str]) -> list[StageCoverage]:
    """One entry per stage class: every class in ``converted_here`` and every recorded one.

    Stages converted by a test's own converter (``converter == "user"``) are test fixtures and
    left out.
    """
    stages = {name: StageCoverage(name, "ours") for name in converted_here}
    for record in records:
        provider = record.get("converter")
        if provider not in ("sparkonnx", "onnxmltools"):
            continue
        name = record["stage"]
        if name not in stages:
            stages[name] = StageCoverage(name, "ours" if provider == "sparkonnx" else provider)
        stages[name].add(record)
    return sorted(stages.values(), key=lambda s: s.stage.lower())


def render_table(
    stages: list[StageCoverage], others: dict[str, str] | None = None, onnxmltools: set[str] | None = None
) -> str:
    """The table: the covered ``stages``, then every class in ``others`` (name → the class's status
    when known) not among them, in one alphabetical list."""
    lines = [
        "| Stage | Verified parameters | Parity tests | Status |",
        "|---|---|---|---|",
    ]
    rows = {s.stage: f"| {s.stage} | {_params_cell(s)} | {_tests_cell(s)} | {s.status} |" for s in stages}
    for name, known in (others or {}).items():
        if name in rows:
            continue
        if known:
            status = known
        elif name in (onnxmltools or set()):
            status = "onnxmltools' converter, no parity test here: verified per model when saved"
        else:
            status = "no converter: `unsupported`, served by Spark"
        rows[name] = f"| {name} | – | – | {status} |"
    lines += [rows[name] for name in sorted(rows, key=str.lower)]
    lines.append(
        "| a custom stage | – | – | its registered converter, else `unsupported` and served by Spark |"
    )
    return "\n".join(lines)


def render_block(stages: list[StageCoverage]) -> str:
    note = (
        "Generated by `.venv/bin/python scripts/coverage_table.py` from the parity tests "
        "(`tests/parity.py`); do not edit by hand. *Verified parameters* are the values set "
        "explicitly on the stage in a passing parity test (anything else was Spark's default; "
        "column names and training-only settings are left out). *Parity tests*: how many tests, "
        "the rows they compared, and the largest difference between ONNX and Spark in the "
        "pipelines' outputs as a share of the tolerance (`1e-4 + 1e-4·|spark|`; labels and "
        "strings must be equal)."
    )
    table = render_table(stages, pyspark_ml_stage_classes(), onnxmltools_stage_classes())
    return f"{START}\n{note}\n\n{table}\n{END}"


def _tests_cell(s: StageCoverage) -> str:
    if not s.tests:
        return "–"
    percent = 100 * s.tolerance_used
    if percent == 0:
        worst = "exact"
    elif percent < 0.01:
        worst = "worst < 0.01% of tolerance"
    else:
        worst = f"worst {percent:.2g}% of tolerance"
    return f"{len(s.tests)}, {s.rows:,} rows, {worst}"


def _params_cell(s: StageCoverage) -> str:
    if not s.tests:
        return "–"
    if not s.params:
        return "defaults"
    parts = []
    for name in sorted(s.params, key=str.lower):
        values = sorted(s.params[name], key=_value_order)
        shown = "/".join(values[:MAX_VALUES])
        if len(values) > MAX_VALUES:
            shown += f"/…(+{len(values) - MAX_VALUES})"
        parts.append(f"`{name}={shown}`".replace("|", "\\|"))
    return ", ".join(parts)


def _value_order(value: str) -> tuple[int, float, str]:
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def replace_block(page: str, block: str) -> str:
    """``page`` with the text from the start marker through the end marker replaced by ``block``."""
    start, end = page.find(START), page.find(END)
    if start < 0 or end < start or page.count(START) != 1 or page.count(END) != 1:
        raise SystemExit(f"docs/converters.md needs exactly one {START} ... {END} pair, in that order.")
    return page[:start] + block + page[end + len(END) :]


def converted_here() -> list[str]:
    """The stage classes this package's converters handle."""
    sys.path.insert(0, str(ROOT))
    from mlflow_sparkonnx.convert.converters import builtin_specs

    return sorted({spec.stage_class.__name__ for spec in builtin_specs()})


def pyspark_ml_stage_classes() -> dict[str, str]:
    """Every Transformer and Model class of the installed ``pyspark.ml`` (name → its known status)."""
    import importlib
    import inspect

    from pyspark.ml import Transformer

    names = set()
    for module_name in PYSPARK_ML_MODULES:
        module = importlib.import_module(f"pyspark.ml.{module_name}")
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, Transformer)
                and cls.__module__ == module.__name__
                and not name.startswith("_")
            ):
                names.add(name)
    return {name: NOT_CONVERTED.get(name, "") for name in sorted(names - NOT_STAGES)}


def onnxmltools_stage_classes() -> set[str]:
    """The stage classes onnxmltools has a converter for."""
    from onnxmltools.convert.sparkml.ops_names import sparkml_operator_name_map

    return {cls.__name__ for cls in sparkml_operator_name_map}


def read_records(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def run_parity_tests(records_path: Path, pytest_args: list[str]) -> int:
    """Run the parity tests with recording on; pytest's exit code."""
    records_path.write_text("")
    env = {**os.environ, COVERAGE_ENV: str(records_path)}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TEST_PATHS, *pytest_args]
    _say(f"running: {' '.join(command)}")
    started = time.monotonic()
    code = subprocess.call(command, cwd=ROOT, env=env)
    _say(f"pytest exited with {code} after {time.monotonic() - started:.0f} s")
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", type=Path, help="read records from this JSONL file")
    parser.add_argument("--save", type=Path, help="keep the records the test run wrote in this file")
    parser.add_argument(
        "--allow-failures", action="store_true", help="write the table even if some tests failed"
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if docs/converters.md differs; write nothing"
    )
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)

    if args.source:
        records = read_records(args.source)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            records_path = args.save or Path(tmp) / "coverage.jsonl"
            code = run_parity_tests(records_path.resolve(), args.pytest_args)
            records = read_records(records_path)
        if code != 0 and not args.allow_failures:
            _say("tests failed: docs/converters.md left unchanged (--allow-failures writes the table anyway)")
            return code or 1
    if not records:
        _say("no parity records: docs/converters.md left unchanged")
        return 1

    stages = coverage(records, converted_here())
    page = CONVERTERS_PAGE.read_text(encoding="utf-8")
    updated = replace_block(page, render_block(stages))
    missing = ", ".join(s.stage for s in stages if not s.tests) or "none"
    _say(f"{len(records)} records, {len(stages)} stage classes; no parity test: {missing}")
    if args.check:
        if updated != page:
            _say("docs/converters.md coverage table is out of date")
            return 1
        return 0
    if updated != page:
        CONVERTERS_PAGE.write_text(updated, encoding="utf-8")
        _say("docs/converters.md coverage table rewritten")
    else:
        _say("docs/converters.md coverage table already up to date")
    return 0


def _say(message: str) -> None:
    sys.stderr.write(message + "\n")


if __name__ == "__main__":
    sys.exit(main())
