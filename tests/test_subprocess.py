"""Behaviour in fresh interpreters: the mlflow.sparkonnx alias, start-up cost, scoring without pyspark."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def run_python(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_import_mlflow_sparkonnx_in_a_fresh_interpreter():
    out = run_python("import mlflow.sparkonnx, mlflow_sparkonnx; print(mlflow.sparkonnx is mlflow_sparkonnx)")
    assert out.strip() == "True"


def test_mlflow_attribute_without_importing_the_package_first():
    out = run_python("import mlflow; print(mlflow.sparkonnx.log_model.__module__)")
    assert out.strip() == "mlflow_sparkonnx.flavor.model"


def test_startup_hook_imports_nothing_heavy():
    out = run_python(
        "import sys; print(json.dumps(sorted(m for m in sys.modules if m.startswith(('mlflow', 'pyspark', "
        "'onnx', 'pandas', 'numpy')))))".replace("json.dumps", "__import__('json').dumps")
    )
    assert json.loads(out) == []
    out = run_python("import sys; print('_mlflow_sparkonnx_alias' in sys.modules)")
    assert out.strip() == "True"


def test_startup_hook_cost_is_negligible():
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "pass"], capture_output=True, text=True
    )
    line = next(line for line in result.stderr.splitlines() if "_mlflow_sparkonnx_alias" in line)
    cumulative_us = int(line.split("|")[1])
    assert cumulative_us < 20_000, line  # 20 ms is a loose ceiling; typically ~1-2 ms


@pytest.mark.slow
def test_verified_model_scores_where_pyspark_cannot_be_imported(saved_models, adult_holdout, tmp_path):
    import mlflow.pyfunc

    frame = adult_holdout.head(50)
    expected = mlflow.pyfunc.load_model(saved_models["rf"]).predict(frame)
    frame_path = tmp_path / "frame.json"
    frame.to_json(frame_path, orient="split")
    code = f"""
import sys
sys.modules['pyspark'] = None  # any 'import pyspark' now raises ImportError
import pandas as pd, mlflow.pyfunc
model = mlflow.pyfunc.load_model({saved_models["rf"]!r})
frame = pd.read_json({str(frame_path)!r}, orient='split')
out = model.predict(frame)
assert not any(m.startswith('pyspark.') for m in sys.modules), 'pyspark was imported'
print(model.get_raw_model().runtime)
print(out.to_json(orient='split'))
"""
    lines = run_python(code).strip().splitlines()
    assert lines[0] == "onnx"
    got = json.loads(lines[-1])
    assert [row[0] for row in got["data"]] == expected["prediction"].tolist()


@pytest.mark.slow
def test_native_only_model_without_pyspark_says_so(saved_models):
    code = f"""
import sys
sys.modules['pyspark'] = None
import mlflow.pyfunc
try:
    mlflow.pyfunc.load_model({saved_models["mismatch"]!r})
except Exception as exc:
    print(type(exc).__name__, exc)
"""
    out = run_python(code)
    assert "RuntimeUnavailableError" in out and "pyspark" in out


def test_scoring_and_inspecting_leave_no_temporary_folder_behind(saved_models, adult_holdout, tmp_path):
    """The native model unzipped for the Spark runtime and the graph shipped to Spark's workers sit in
    temporary folders removed when the process exits; ``inspect``'s download is removed at once."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    rows = tmp_path / "rows.csv"
    adult_holdout.head(20).to_csv(rows, index=False)
    code = f"""
import os, sys, tempfile
tempfile.tempdir = {str(scratch)!r}
os.environ["PYSPARK_PYTHON"] = sys.executable
import mlflow.pyfunc
import pandas as pd
from mlflow_sparkonnx import transform
from mlflow_sparkonnx.cli import _inspect
from pyspark.sql import SparkSession
model = mlflow.pyfunc.load_model({saved_models["lr"]!r}, model_config={{"runtime": "spark"}})
spark = SparkSession.getActiveSession()
frame = spark.createDataFrame(pd.read_csv({str(rows)!r}))
assert transform(frame, {saved_models["lr"]!r}, runtime="onnx").count() == 20
_inspect({saved_models["lr"]!r})
print(sorted(n.rsplit("-", 1)[0] for n in os.listdir({str(scratch)!r}) if n.startswith("sparkonnx-")))
"""
    during = run_python(code).strip().splitlines()[-1]
    assert during == "['sparkonnx-native', 'sparkonnx-ship']"  # the folders Spark read existed...
    assert not [p.name for p in scratch.iterdir() if p.name.startswith("sparkonnx-")]  # ...and are gone
