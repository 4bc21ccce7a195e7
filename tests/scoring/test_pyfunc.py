"""The pyfunc wrapper: runtime choice, both runtimes agreeing, input handling."""

from __future__ import annotations

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from parity import spark_transform

import mlflow_sparkonnx
from mlflow_sparkonnx.convert.verify import ABS_TOL, REL_TOL


def load(path, **config):
    return mlflow.pyfunc.load_model(path, model_config=config or None)


def assert_same_predictions(got: pd.DataFrame, expected: pd.DataFrame):
    assert list(got.columns) == list(expected.columns)
    assert len(got) == len(expected)
    np.testing.assert_array_equal(got["prediction"].to_numpy(), expected["prediction"].to_numpy())
    if "probability" in got:
        np.testing.assert_allclose(
            np.stack(got["probability"]), np.stack(expected["probability"]), atol=ABS_TOL, rtol=REL_TOL
        )


@pytest.mark.parametrize("name", ["lr", "rf"])
def test_verified_models_score_with_onnx_and_agree_with_spark(
    saved_models, name, adult_holdout, spark, lr_pipeline, rf_pipeline
):
    model = load(saved_models[name])
    assert model.get_raw_model().runtime == "onnx"
    got = model.predict(adult_holdout)
    pipeline = {"lr": lr_pipeline, "rf": rf_pipeline}[name]
    expected = spark_transform(pipeline, spark, adult_holdout, ["prediction", "probability"])
    assert_same_predictions(got, expected)
    assert got["prediction"].dtype == np.float64


@pytest.mark.parametrize("name", ["lr", "rf"])
def test_both_runtimes_return_the_same_columns_dtypes_and_rows(saved_models, name, adult_holdout):
    onnx_result = load(saved_models[name], runtime="onnx").predict(adult_holdout)
    spark_result = load(saved_models[name], runtime="spark").predict(adult_holdout)
    assert list(onnx_result.dtypes) == list(spark_result.dtypes)
    assert_same_predictions(onnx_result, spark_result)
    assert isinstance(onnx_result["probability"][0], list)
    assert isinstance(spark_result["probability"][0], list)


def test_native_only_models_score_with_spark_via_auto(
    saved_models, mismatch_pipeline, sql_pipeline, adult_holdout, spark
):
    for name, pipeline in (("mismatch", mismatch_pipeline), ("sql", sql_pipeline)):
        model = load(saved_models[name])
        assert model.get_raw_model().runtime == "spark"
        expected = spark_transform(pipeline, spark, adult_holdout, ["prediction"])
        np.testing.assert_allclose(
            model.predict(adult_holdout)["prediction"], expected["prediction"], rtol=1e-12
        )


@pytest.mark.parametrize("name", ["gbt", "text"])
def test_the_articles_pipelines_score_with_onnx_and_agree_with_spark(
    saved_models, name, gbt_regressor_pipeline, text_pipeline, adult_holdout, text_frame, spark
):
    pipeline, frame = {
        "gbt": (gbt_regressor_pipeline, adult_holdout),
        "text": (text_pipeline, text_frame[["text"]]),
    }[name]
    model = load(saved_models[name])
    assert model.get_raw_model().runtime == "onnx"
    got = model.predict(frame)
    expected = spark_transform(pipeline, spark, frame, list(got.columns))
    np.testing.assert_allclose(got["prediction"], expected["prediction"], atol=ABS_TOL, rtol=REL_TOL)


def test_runtime_override_by_model_config(saved_models):
    assert load(saved_models["lr"], runtime="spark").get_raw_model().runtime == "spark"
    assert load(saved_models["lr"], runtime="onnx").get_raw_model().runtime == "onnx"


def test_runtime_override_by_environment_variable(saved_models, monkeypatch):
    monkeypatch.setenv("MLFLOW_SPARKONNX_RUNTIME", "spark")
    assert load(saved_models["lr"]).get_raw_model().runtime == "spark"
    # An explicit model_config wins over the environment.
    assert load(saved_models["lr"], runtime="onnx").get_raw_model().runtime == "onnx"


def test_runtime_override_by_inference_config_environment(saved_models, monkeypatch):
    monkeypatch.setenv("MLFLOW_PYFUNC_INFERENCE_CONFIG", '{"runtime": "spark"}')
    assert load(saved_models["lr"]).get_raw_model().runtime == "spark"


def test_onnx_runtime_on_native_only_model_fails_quoting_the_reason(saved_models):
    with pytest.raises(mlflow_sparkonnx.RuntimeUnavailableError, match="mismatch.*prediction"):
        load(saved_models["mismatch"], runtime="onnx")


def test_unknown_runtime_is_refused(saved_models):
    with pytest.raises(mlflow_sparkonnx.SparkOnnxError, match="Unknown runtime"):
        load(saved_models["lr"], runtime="gpu")


@pytest.mark.parametrize("runtime", ["onnx", "spark"])
def test_missing_column_is_named(saved_models, adult_holdout, runtime):
    model = load(saved_models["lr"], runtime=runtime)
    with pytest.raises(mlflow.exceptions.MlflowException, match="age"):
        model.predict(adult_holdout.drop(columns=["age"]))
    # The wrapper's own check (used when no signature is enforced) names it too.
    with pytest.raises(mlflow_sparkonnx.InvalidInputError, match="'age'"):
        model.get_raw_model().predict(adult_holdout.drop(columns=["age"]))


@pytest.mark.parametrize("runtime", ["onnx", "spark"])
def test_extra_columns_ignored_and_json_types_cast(saved_models, adult_holdout, runtime):
    model = load(saved_models["lr"], runtime=runtime)
    base = model.predict(adult_holdout.head(20))
    noisy = adult_holdout.head(20).assign(unused=1, income="x")
    floats = noisy.astype({"capital_gain": "float64", "hours_per_week": "float64"})
    assert_same_predictions(model.get_raw_model().predict(floats), base)
    assert_same_predictions(model.predict(noisy), base)


@pytest.mark.parametrize("runtime", ["onnx", "spark"])
def test_text_in_numeric_column_is_refused(saved_models, adult_holdout, runtime):
    model = load(saved_models["lr"], runtime=runtime)
    bad = adult_holdout.head(3).astype({"age": object})
    bad.loc[1, "age"] = "forty"
    with pytest.raises(mlflow_sparkonnx.InvalidInputError, match="'age'.*row 1"):
        model.get_raw_model().predict(bad)


@pytest.mark.parametrize("runtime", ["onnx", "spark"])
def test_empty_frame_gives_empty_result_with_columns(saved_models, adult_holdout, runtime):
    got = load(saved_models["lr"], runtime=runtime).get_raw_model().predict(adult_holdout.head(0))
    assert list(got.columns) == ["prediction", "probability"]
    assert len(got) == 0


def test_unseen_category_with_keep_agrees(saved_models, adult_holdout):
    frame = adult_holdout.head(10).copy()
    frame.loc[0, "workclass"] = "Astronaut"
    onnx_result = load(saved_models["lr"], runtime="onnx").predict(frame)
    spark_result = load(saved_models["lr"], runtime="spark").predict(frame)
    assert_same_predictions(onnx_result, spark_result)
