"""Models saved under another pyspark / MLflow combination, loaded here with both runtimes.

``SPARKONNX_COMPAT_FOREIGN_DIR`` names the folder ``test_smoke.py`` filled in the other combination
(``scripts/compat.sh`` pairs Spark 3.5 with the newest Spark, both ways). The ONNX runtime must give
the recorded predictions whatever Spark saved the model; the Spark runtime must too, or, when this
Spark is older than the saving one and cannot read the model, refuse with an error naming both
versions and pointing to the ONNX runtime.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from packaging.version import Version
from pyspark import __version__ as running_pyspark

from mlflow_sparkonnx.exceptions import RuntimeUnavailableError

FOREIGN = os.environ.get("SPARKONNX_COMPAT_FOREIGN_DIR")
pytestmark = [
    pytest.mark.compat,
    pytest.mark.skipif(
        not FOREIGN, reason="runs in the compatibility stage, which sets SPARKONNX_COMPAT_FOREIGN_DIR"
    ),
]


def _record(name: str) -> dict:
    return json.loads((Path(FOREIGN) / f"{name}.json").read_text())


def _minor(version: str) -> tuple[int, ...]:
    return Version(version).release[:2]


def _assert_recorded(got: pd.DataFrame, record: dict) -> None:
    expected = record["predictions"]
    # Labels are equal; a regression's value may differ in the last bits between Spark versions.
    np.testing.assert_allclose(got["prediction"].to_numpy(), np.asarray(expected["prediction"]), rtol=1e-9)
    if "probability" in expected:
        np.testing.assert_allclose(
            np.vstack(got["probability"]), np.asarray(expected["probability"]), atol=1e-4
        )


@pytest.mark.parametrize("name", ["lr", "rf"])
def test_the_onnx_runtime_scores_a_model_from_another_combination(name):
    record = _record(name)
    model = mlflow.pyfunc.load_model(str(Path(FOREIGN) / name), model_config={"runtime": "onnx"})
    _assert_recorded(model.predict(pd.DataFrame(record["rows"])), record)


def test_the_spark_runtime_scores_it_or_names_both_versions():
    newer = _minor(_record("lr")["pyspark"]) > _minor(running_pyspark)
    refused = []
    for name in ("lr", "rf", "sql"):
        record = _record(name)
        path = str(Path(FOREIGN) / name)
        try:
            model = mlflow.pyfunc.load_model(path, model_config={"runtime": "spark"})
        except RuntimeUnavailableError as exc:
            assert newer, f"{name}: a model from Spark {record['pyspark']} was refused by {running_pyspark}"
            message = str(exc)
            assert record["pyspark"] in message and running_pyspark in message, message
            if name != "sql":  # verified models point to the ONNX runtime
                assert "runtime='onnx'" in message, message
            refused.append(name)
            continue
        _assert_recorded(model.predict(pd.DataFrame(record["rows"])), record)
    if newer and _minor(running_pyspark) < (4, 0):
        # Spark 4 writes a forest's tree metadata in a layout Spark 3.5 cannot read (measured).
        assert "rf" in refused
    # auto keeps choosing the graph for a verified model whatever Spark is here.
    assert mlflow.pyfunc.load_model(str(Path(FOREIGN) / "rf")).get_raw_model().runtime == "onnx"
