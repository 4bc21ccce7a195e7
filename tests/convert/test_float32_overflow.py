"""A value within float32's range that overflows inside the graph's float32 arithmetic (3e38 through a
scaler whose standard deviation is below 1): the ONNX runtime refuses the row, the Spark runtime
scores it, and rows whose inputs are already NaN are scored alike by both."""

from __future__ import annotations

import math

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from mlmodel import flavor_block
from pyspark.ml import Pipeline
from pyspark.ml.feature import StandardScaler, VectorAssembler
from pyspark.ml.regression import LinearRegression

import mlflow_sparkonnx
from mlflow_sparkonnx import InvalidInputError


@pytest.fixture(scope="module")
def scaled_regression(spark, tmp_path_factory):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=300) * 0.01, "b": rng.normal(size=300)})
    frame["label"] = frame["a"] * 100 + frame["b"]
    stages = [
        VectorAssembler(inputCols=["a", "b"], outputCol="raw", handleInvalid="keep"),
        StandardScaler(inputCol="raw", outputCol="scaled", withMean=True),
        LinearRegression(featuresCol="scaled"),
    ]
    pipeline = Pipeline(stages=stages).fit(spark.createDataFrame(frame))
    path = str(tmp_path_factory.mktemp("overflow") / "model")
    mlflow_sparkonnx.save_model(pipeline, path, input_example=frame[["a", "b"]], onnx="require")
    return path


def test_the_checks_are_recorded_and_the_model_stays_verified(scaled_regression):
    conf = flavor_block(scaled_regression)
    assert conf["onnx_status"] == "verified"
    checks = {c["column"]: c for c in conf["row_checks"] if c.get("action") == "onnx_only"}
    assert set(checks) == {"scaled", "prediction"}  # the assembler only copies: not checked
    assert checks["scaled"]["stage"].startswith("StandardScalerModel")


def test_an_in_range_value_that_overflows_float32_is_refused_by_onnx_and_scored_by_spark(scaled_regression):
    frame = pd.DataFrame({"a": [0.001, 3e38, -1e30], "b": [1.0, 1.0, 1.0]})
    spark_values = mlflow.pyfunc.load_model(scaled_regression, model_config={"runtime": "spark"}).predict(
        frame
    )
    assert np.isfinite(spark_values["prediction"]).all()  # Spark computes in double: 3e38 / 0.01 is finite
    onnx = mlflow.pyfunc.load_model(scaled_regression, model_config={"runtime": "onnx"})
    with pytest.raises(InvalidInputError, match=r"Column 'scaled' .*row 1 .*overflows float32") as caught:
        onnx.predict(frame)
    assert caught.value.onnx_only
    assert "runtime='spark'" in str(caught.value)
    kept = onnx.predict(frame.iloc[[0, 2]].reset_index(drop=True))  # -1e30 / 0.01 fits float32
    assert kept["prediction"].tolist() == pytest.approx(spark_values["prediction"][[0, 2]].tolist(), rel=1e-4)


def test_a_row_whose_input_is_already_nan_or_infinite_is_scored_not_refused(scaled_regression):
    frame = pd.DataFrame({"a": [math.nan, math.inf, 0.5], "b": [1.0, 1.0, -math.inf]})
    spark_values = mlflow.pyfunc.load_model(scaled_regression, model_config={"runtime": "spark"}).predict(
        frame
    )
    onnx_values = mlflow.pyfunc.load_model(scaled_regression, model_config={"runtime": "onnx"}).predict(frame)
    for got, wanted in zip(onnx_values["prediction"], spark_values["prediction"], strict=True):
        assert (math.isnan(got) and math.isnan(wanted)) or got == wanted


def test_an_overflow_beside_a_nan_in_the_same_row_is_refused(spark, tmp_path, scaled_regression):
    """The scaler is checked element by element: a NaN in 'b' does not hide 3e38 overflowing in 'a'."""
    path = str(tmp_path / "scaled")
    pipeline = mlflow_sparkonnx.load_model(scaled_regression)
    example = pd.DataFrame({"a": [0.001, 0.002], "b": [1.0, 2.0]})
    mlflow_sparkonnx.save_model(pipeline, path, input_example=example, output_cols=["scaled"], onnx="require")
    onnx = mlflow.pyfunc.load_model(path, model_config={"runtime": "onnx"})
    with pytest.raises(InvalidInputError, match=r"Column 'scaled' .*row 1 .*overflows float32"):
        onnx.predict(pd.DataFrame({"a": [0.001, 3e38], "b": [1.0, math.nan]}))
    kept = onnx.predict(pd.DataFrame({"a": [0.001], "b": [math.nan]}))
    assert math.isnan(kept["scaled"][0][1]) and math.isfinite(kept["scaled"][0][0])


def test_one_vs_rest_over_float32_children_is_checked(spark, tmp_path):
    """OneVsRest's outputs are double, its children's margins float32: 1e37 (within float32's range)
    overflows them, so the ONNX runtime refuses the row instead of predicting class 0."""
    from pyspark.ml.classification import LogisticRegression, OneVsRest

    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=300), "y": rng.normal(size=300)})
    frame["label"] = np.digitize(frame["x"] + 0.1 * frame["y"], [-0.5, 0.5]).astype(float)
    stages = [
        VectorAssembler(inputCols=["x", "y"], outputCol="features"),
        OneVsRest(classifier=LogisticRegression(maxIter=20)),
    ]
    pipeline = Pipeline(stages=stages).fit(spark.createDataFrame(frame))
    path = str(tmp_path / "ovr")
    mlflow_sparkonnx.save_model(pipeline, path, input_example=frame[["x", "y"]], onnx="require")
    request = pd.DataFrame({"x": [0.0, 1e37], "y": [0.0, 0.0]})
    with pytest.raises(InvalidInputError, match=r"row 1 .*overflows float32") as caught:
        mlflow.pyfunc.load_model(path, model_config={"runtime": "onnx"}).predict(request)
    assert caught.value.onnx_only
    spark_values = mlflow.pyfunc.load_model(path, model_config={"runtime": "spark"}).predict(request)
    assert spark_values["prediction"][1] == 2.0


def test_a_vector_rewritten_in_place_before_a_sparse_head_still_converts(spark, tmp_path):
    """HashingTF → VectorSizeHint → LogisticRegression: the sparse rewrite removes the dense vector the
    hint rewrites in place; the overflow pass must not chase that column in a circle."""
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import HashingTF, Tokenizer, VectorSizeHint

    texts = [f"w{i % 7} w{i % 3} x{i % 5}" for i in range(200)]
    frame = pd.DataFrame({"text": texts, "label": [float(i % 3 == 0) for i in range(200)]})
    stages = [
        Tokenizer(inputCol="text", outputCol="tokens"),
        HashingTF(inputCol="tokens", outputCol="tf", numFeatures=64),
        VectorSizeHint(inputCol="tf", size=64),
        LogisticRegression(featuresCol="tf", maxIter=10),
    ]
    pipeline = Pipeline(stages=stages).fit(spark.createDataFrame(frame))
    path = str(tmp_path / "text")
    mlflow_sparkonnx.save_model(pipeline, path, input_example=frame[["text"]], onnx="require")
    assert flavor_block(path)["onnx_status"] == "verified"
