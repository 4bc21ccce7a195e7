"""The serving install (``pip install mlflow-sparkonnx``, no extras) scores models saved elsewhere.

The compatibility stage runs this in a virtualenv with the newest mlflow-skinny and pandas 3 and no
pyspark, on the models ``test_smoke.py`` saved under the newest full MLflow
(``SPARKONNX_COMPAT_FOREIGN_DIR``).
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from scoring_server import ScoringServer

from mlflow_sparkonnx.exceptions import RuntimeUnavailableError

FOREIGN = os.environ.get("SPARKONNX_COMPAT_FOREIGN_DIR")
pytestmark = [
    pytest.mark.compat,
    pytest.mark.skipif(
        not FOREIGN or importlib.util.find_spec("pyspark") is not None,
        reason="runs in the compatibility stage's serving virtualenv (no pyspark)",
    ),
]


def _record(name: str) -> dict:
    return json.loads((Path(FOREIGN) / f"{name}.json").read_text())


def _assert_recorded(got: pd.DataFrame, record: dict) -> None:
    expected = record["predictions"]
    # Labels are equal; a regression's value may differ in the last bits between Spark versions.
    np.testing.assert_allclose(got["prediction"].to_numpy(), np.asarray(expected["prediction"]), rtol=1e-9)
    got_p = np.vstack(got["probability"])
    np.testing.assert_allclose(got_p, np.asarray(expected["probability"]), atol=1e-4)


@pytest.mark.parametrize("name", ["lr", "rf"])
def test_verified_models_score_without_pyspark(name):
    model = mlflow.pyfunc.load_model(str(Path(FOREIGN) / name))
    assert model.get_raw_model().runtime == "onnx"
    record = _record(name)
    _assert_recorded(model.predict(pd.DataFrame(record["rows"])), record)


def test_a_native_only_model_says_what_it_needs():
    with pytest.raises(RuntimeUnavailableError, match="pyspark"):
        mlflow.pyfunc.load_model(str(Path(FOREIGN) / "sql"))


def test_served_over_http(tmp_path):
    record = _record("lr")
    rows = pd.DataFrame(record["rows"])
    server = ScoringServer(str(Path(FOREIGN) / "lr"), tmp_path)
    try:
        server.wait_until_up()
        body = json.dumps({"dataframe_split": json.loads(rows.to_json(orient="split", index=False))})
        response = server.post(body)
        assert response.status_code == 200, response.text
        assert not server.runs_java()
    finally:
        server.stop()
    _assert_recorded(pd.DataFrame(response.json()["predictions"]), record)
