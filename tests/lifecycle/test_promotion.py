"""promote() against a real `mlflow server`: the re-validation gate, tags, refusals, copy_to.

The disagreement case is a registered copy of a verified model whose graph was altered where the
stored input example cannot see it: the weight of ``capital_loss``, which is 0 in every stored
example row, is changed (and the recorded sha256 updated, as a faulty converter would have left
it). Only validation rows with a non-zero ``capital_loss`` expose it.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

import mlflow_sparkonnx
from mlflow_sparkonnx.artifacts import sha256_of
from mlflow_sparkonnx.exceptions import PromotionRefusedError
from mlflow_sparkonnx.flavor.report import PARITY_PNG, REPORT_DIR, REPORT_JSON
from mlflow_sparkonnx.lifecycle.promotion import (
    TAG_FAILED,
    TAG_PARITY,
    TAG_RUNTIME,
    TAG_VALIDATED_AT,
    promote,
)

pytestmark = pytest.mark.slow

NAME = "adult-lr"


@pytest.fixture(scope="module")
def registered(tracking_server, lr_pipeline, sql_pipeline, adult_train, tmp_path_factory):
    """adult-lr 1: the LR pipeline (verified); 2: its copy with an altered graph. adult-sql: unsupported."""
    features = adult_train.drop(columns=["income"]).head(250)
    # The stored example rows (the first 5) all have capital_loss == 0.
    first = features[features.capital_loss == 0].head(5)
    example = pd.concat([first, features.drop(index=first.index)]).reset_index(drop=True)
    with mlflow.start_run(experiment_id=tracking_server.experiment_id) as run:
        info = mlflow_sparkonnx.log_model(
            lr_pipeline, name="model", input_example=example, registered_model_name=NAME
        )
        sql = mlflow_sparkonnx.log_model(
            sql_pipeline, name="sql", input_example=features.head(60), registered_model_name="adult-sql"
        )
    corrupted = _altered_copy(info.model_uri, tmp_path_factory.mktemp("altered"), lr_pipeline)
    with mlflow.start_run(experiment_id=tracking_server.experiment_id) as altered_run:
        mlflow.log_artifacts(corrupted, "model")
    client = MlflowClient()
    client.create_model_version(
        NAME, f"{altered_run.info.artifact_uri}/model", run_id=altered_run.info.run_id
    )
    return {"run_id": run.info.run_id, "info": info, "sql": sql}


def _altered_copy(model_uri: str, target, lr_pipeline) -> str:
    """The model's files with the capital_loss weight of the ONNX graph raised by 5 (per unit)."""
    import onnx
    from onnx import numpy_helper

    path = mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(target))
    onnx_path = os.path.join(path, "model.onnx")
    graph = onnx.load(onnx_path)
    weights = next(t for t in graph.graph.initializer if t.name.startswith("lr_weights"))
    values = numpy_helper.to_array(weights).copy()
    expected = lr_pipeline.stages[-1].coefficients.toArray()
    np.testing.assert_allclose(values.ravel(), expected, rtol=1e-6)  # the layout we think it is
    values[0, -2] += 5.0  # features = one-hot columns + age, education_num, capital_gain, capital_loss, hours
    weights.CopyFrom(numpy_helper.from_array(values, weights.name))
    onnx.save(graph, onnx_path)
    mlmodel_path = os.path.join(path, "MLmodel")
    with open(mlmodel_path) as f:
        mlmodel = yaml.safe_load(f)
    mlmodel["flavors"]["sparkonnx"]["onnx_model_sha256"] = sha256_of(onnx_path)
    with open(mlmodel_path, "w") as f:
        yaml.safe_dump(mlmodel, f)
    shutil.rmtree(os.path.join(path, REPORT_DIR), ignore_errors=True)
    return path


def test_log_model_puts_the_report_in_the_run_artifacts(registered):
    client = MlflowClient()
    names = {
        os.path.basename(a.path) for a in client.list_artifacts(registered["run_id"], f"{REPORT_DIR}/model")
    }
    assert {REPORT_JSON, PARITY_PNG, "report.md", "report.html"} <= names
    local = mlflow.artifacts.download_artifacts(
        run_id=registered["run_id"], artifact_path=f"{REPORT_DIR}/sql/{REPORT_JSON}"
    )
    with open(local) as f:
        assert json.load(f)["onnx_status"] == "unsupported"


def test_promote_then_load_champion_through_onnx(registered, adult_holdout):
    result = promote(NAME, 1, validation_data=adult_holdout)
    assert result.model_uri == f"models:/{NAME}@champion"
    assert result.figures["checked"] == "onnx-vs-spark"
    assert result.figures["rows"] == 5 + len(adult_holdout)  # stored example + validation rows

    version = MlflowClient().get_model_version(NAME, "1")
    assert version.aliases == ["champion"]
    assert version.tags[TAG_RUNTIME] == "onnx"
    parity = json.loads(version.tags[TAG_PARITY])
    assert parity["passed"] and parity["rows"] == 405
    assert parity["outputs"]["prediction"]["mismatched_rows"] == 0
    assert parity["outputs"]["probability"]["max_abs_diff"] < 1e-4
    assert datetime.fromisoformat(version.tags[TAG_VALIDATED_AT]).tzinfo is not None

    champion = mlflow.pyfunc.load_model(f"models:/{NAME}@champion")
    assert champion.get_raw_model().runtime == "onnx"
    scored = champion.predict(adult_holdout)
    assert len(scored) == len(adult_holdout) and set(scored["prediction"]) <= {0.0, 1.0}


def test_unverified_graph_is_refused_when_onnx_is_required(registered):
    client = MlflowClient()
    with pytest.raises(PromotionRefusedError, match="no verified ONNX graph") as refused:
        promote("adult-sql", 1, require_runtime="onnx")
    assert "SQLTransformer" in str(refused.value)
    with pytest.raises(MlflowException):
        client.get_model_version_by_alias("adult-sql", "champion")
    failure = json.loads(client.get_model_version("adult-sql", "1").tags[TAG_FAILED])
    assert failure["alias"] == "champion" and failure["error"] == "PromotionRefusedError"


def test_validation_data_exposing_a_disagreement_refuses_and_keeps_the_alias(registered, adult_holdout):
    client = MlflowClient()
    promote(NAME, 1, alias="champion")
    # The stored example cannot see the altered weight: a check on it alone passes.
    assert promote(NAME, 2, alias="canary").figures["passed"]

    exposing = adult_holdout[adult_holdout.capital_loss > 0]
    assert len(exposing) > 5
    with pytest.raises(PromotionRefusedError, match="prediction") as refused:
        promote(NAME, 2, alias="champion", validation_data=adult_holdout)
    figures = refused.value.figures
    assert figures["passed"] is False
    assert 0 < figures["outputs"]["prediction"]["mismatched_rows"] <= len(exposing)
    assert client.get_model_version_by_alias(NAME, "champion").version == "1"
    assert json.loads(client.get_model_version(NAME, "2").tags[TAG_FAILED])["figures"]["rows"] == 405


def test_copy_to_promotes_into_another_registered_model(registered):
    result = promote(NAME, 1, alias="prod", copy_to="adult-lr-prod")
    client = MlflowClient()
    copied = client.get_model_version_by_alias("adult-lr-prod", "prod")
    assert (result.name, result.version, result.source) == ("adult-lr-prod", copied.version, (NAME, "1"))
    assert copied.tags[TAG_RUNTIME] == "onnx"
    assert "prod" not in client.get_model_version(NAME, "1").aliases
    model = mlflow.pyfunc.load_model("models:/adult-lr-prod@prod")
    assert model.get_raw_model().runtime == "onnx"


def test_rows_the_onnx_runtime_refuses_are_left_out_and_counted(tracking_server):
    """A SQL cast to string the graph writes for whole numbers only: 0.5 is refused by the ONNX
    runtime alone, so promotion compares the other rows and counts it."""
    from pyspark.ml import PipelineModel
    from pyspark.ml.feature import SQLTransformer

    model = PipelineModel(stages=[SQLTransformer(statement="SELECT *, CAST(x AS STRING) AS t FROM __THIS__")])
    with mlflow.start_run(experiment_id=tracking_server.experiment_id):
        mlflow_sparkonnx.log_model(
            model, name="cast", input_example=pd.DataFrame({"x": [1.0, -2.0]}), registered_model_name="cast"
        )
    result = promote("cast", 1, alias="champion", validation_data=pd.DataFrame({"x": [3.0, 0.5, 7.0]}))
    assert result.figures["passed"] and result.figures["onnx_refused_rows"] == 1
    assert result.figures["rows"] == 4  # the two stored example rows and 3.0, 7.0
