"""log_model against a real sqlite tracking store and model registry."""

from __future__ import annotations

import re

import mlflow
import numpy as np

import mlflow_sparkonnx


def test_log_model_then_load_by_run_and_registry_uri(tracking_uri, lr_pipeline, adult_train, adult_holdout):
    with mlflow.start_run() as run:
        info = mlflow_sparkonnx.log_model(
            lr_pipeline,
            name="model",
            input_example=adult_train.drop(columns=["income"]).head(200),
            registered_model_name="adult-lr",
            params={"maxIter": 30},
            tags={"team": "tests"},
        )
    assert info.flavors["sparkonnx"]["onnx_status"] == "verified"
    assert info.registered_model_version == 1
    assert info.signature is not None

    by_model_id = mlflow.pyfunc.load_model(info.model_uri)
    by_run = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    by_registry = mlflow.pyfunc.load_model("models:/adult-lr/1")
    expected = by_model_id.predict(adult_holdout)
    for loaded in (by_run, by_registry):
        assert loaded.get_raw_model().runtime == "onnx"
        got = loaded.predict(adult_holdout)
        np.testing.assert_array_equal(got["prediction"], expected["prediction"])

    native = mlflow_sparkonnx.load_model("models:/adult-lr/1")
    assert [type(s).__name__ for s in native.stages][-1] == "LogisticRegressionModel"
    graph = mlflow_sparkonnx.load_onnx_model(info.model_uri)
    outputs = {o.name for o in graph.graph.output if not o.name.startswith("sparkonnx_row_check")}
    assert outputs == {"prediction", "probability"}


def test_log_model_through_the_mlflow_alias(tracking_uri, mismatch_pipeline, adult_train):
    import mlflow.sparkonnx

    with mlflow.start_run():
        info = mlflow.sparkonnx.log_model(
            mismatch_pipeline, name="mismatch", input_example=adult_train.head(50)
        )
    assert info.flavors["sparkonnx"]["onnx_status"] == "mismatch"
    try:
        mlflow_sparkonnx.load_onnx_model(info.model_uri)
    except mlflow_sparkonnx.RuntimeUnavailableError as exc:
        assert "no verified ONNX graph" in str(exc)
    else:
        raise AssertionError("load_onnx_model must refuse a model without a verified graph")


def test_the_onnx_verdict_is_searchable_on_runs_versions_and_logged_models(
    tracking_uri, lr_pipeline, mismatch_pipeline, adult_train
):
    """log_model tags the run, the registered version and (MLflow 3) the logged model with the verdict."""
    from mlflow.tracking import MlflowClient

    from mlflow_sparkonnx.flavor.mlflow_compat import HAS_LOGGED_MODELS

    example = adult_train.drop(columns=["income"]).head(100)
    logged = {}
    for status, pipeline in (("verified", lr_pipeline), ("mismatch", mismatch_pipeline)):
        with mlflow.start_run() as run:
            info = mlflow_sparkonnx.log_model(
                pipeline, name="model", input_example=example, registered_model_name=f"search-{status}"
            )
        logged[status] = (run.info.run_id, info)
    verified_run, verified_info = logged["verified"]
    mismatch_run, mismatch_info = logged["mismatch"]

    found = mlflow.search_runs(
        filter_string="tags.`sparkonnx.onnx_status` = 'verified'", search_all_experiments=True
    )
    assert verified_run in set(found["run_id"]) and mismatch_run not in set(found["run_id"])
    run_tags = MlflowClient().get_run(mismatch_run).data.tags
    assert run_tags["sparkonnx.onnx_status"] == "mismatch"
    assert run_tags["sparkonnx.default_runtime"] == "spark"
    assert (
        run_tags["sparkonnx.parity_summary"].startswith("mismatch: ")
        and "\n" not in run_tags["sparkonnx.parity_summary"]
    )

    versions = MlflowClient().search_model_versions("tags.`sparkonnx.onnx_status` = 'verified'")
    names = {v.name for v in versions}
    assert "search-verified" in names and "search-mismatch" not in names
    version = MlflowClient().get_model_version("search-verified", "1")
    assert version.tags["sparkonnx.default_runtime"] == "onnx"
    assert re.fullmatch(
        r"verified: all outputs agree with Spark on 100 rows and \d+ edge probes",
        version.tags["sparkonnx.parity_summary"],
    )

    if HAS_LOGGED_MODELS:
        models = mlflow.search_logged_models(
            filter_string="tags.`sparkonnx.onnx_status` = 'verified'", output_format="list"
        )
        ids = {m.model_id for m in models}
        assert verified_info.model_id in ids and mismatch_info.model_id not in ids
