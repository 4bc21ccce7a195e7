"""A log_model that fails midway leaves nothing usable half-logged in the run or the registry."""

from __future__ import annotations

import mlflow
import pytest
from mlflow import MlflowClient

import mlflow_sparkonnx


def test_failed_log_model_leaves_no_artifacts_no_ready_model_and_no_version(
    tracking_uri, sql_pipeline, adult_train
):
    client = MlflowClient()
    with mlflow.start_run() as run:
        with pytest.raises(mlflow_sparkonnx.UnsupportedStageError, match="SQLTransformer"):
            mlflow_sparkonnx.log_model(
                sql_pipeline,
                name="model",
                input_example=adult_train.head(50),
                onnx="require",
                registered_model_name="never-registered",
            )
    assert client.list_artifacts(run.info.run_id) == []
    logged = mlflow.search_logged_models(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"source_run_id = '{run.info.run_id}'",
        output_format="list",
    )
    assert all(m.status != "READY" for m in logged), [(m.model_id, m.status) for m in logged]
    for model in logged:  # whatever MLflow created up front holds no model files
        assert client.list_logged_model_artifacts(model.model_id) == []
    assert client.search_model_versions("name = 'never-registered'") == []
