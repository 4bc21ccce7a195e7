"""Stages onnxmltools converts and this package keeps: parity with Spark on a few hundred rows with
edge values (zeros, -0.0, signs, magnitudes from 1e-8 to 1e3), through the flavor's parity helper;
and DCT, whose graph differs from Spark at infinity, which the edge probes catch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from parity import assert_onnx_matches_spark
from pyspark.ml import Pipeline

import mlflow_sparkonnx

FEATURES = ["x0", "x1", "x2", "x3"]


def numbers(n: int, seed: int) -> pd.DataFrame:
    """Normal values, then rows of edge values in every column."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(0, 2, size=(n, len(FEATURES))), columns=FEATURES)
    edges = [0.0, -0.0, 1e-8, -1e-8, 1e3, -1e3, 1.0, -1.0]
    for i, value in enumerate(edges):
        frame.loc[i, FEATURES] = value
        frame.loc[len(edges) + i, "x0"] = value
    frame["label"] = (frame["x0"] + frame["x1"] > 0).astype(float) + (frame["x2"] > 1).astype(float)
    return frame


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return numbers(300, seed=21)


def saved_conf(model, example: pd.DataFrame, tmp_path, outputs: list[str]) -> dict:
    path = tmp_path / "model"
    mlflow_sparkonnx.save_model(model, str(path), input_example=example, output_cols=outputs)
    return yaml.safe_load((path / "MLmodel").read_text())["flavors"]["sparkonnx"]


def assembled(*stages):
    from pyspark.ml.feature import VectorAssembler

    return Pipeline(stages=[VectorAssembler(inputCols=FEATURES, outputCol="features"), *stages])


@pytest.mark.parametrize("k", [1, 3])
def test_pca(spark, tmp_path, frame, k):
    from pyspark.ml.feature import PCA

    model = assembled(PCA(k=k, inputCol="features", outputCol="pca")).fit(spark.createDataFrame(frame))
    assert_onnx_matches_spark(model, frame[FEATURES], spark, tmp_path, output_cols=["pca"])


def test_max_abs_scaler(spark, tmp_path, frame):
    from pyspark.ml.feature import MaxAbsScaler

    model = assembled(MaxAbsScaler(inputCol="features", outputCol="scaled")).fit(spark.createDataFrame(frame))
    assert_onnx_matches_spark(model, frame[FEATURES], spark, tmp_path, output_cols=["scaled"])


def test_elementwise_product(spark, tmp_path, frame):
    from pyspark.ml.feature import ElementwiseProduct
    from pyspark.ml.linalg import Vectors

    stage = ElementwiseProduct(
        scalingVec=Vectors.dense([0.5, -2.0, 0.0, 3.25]), inputCol="features", outputCol="p"
    )
    model = assembled(stage).fit(spark.createDataFrame(frame))
    assert_onnx_matches_spark(model, frame[FEATURES], spark, tmp_path, output_cols=["p"])


@pytest.mark.parametrize("strategy", ["mean", "median"])
def test_imputer(spark, tmp_path, frame, strategy):
    from pyspark.ml.feature import Imputer

    with_missing = frame[FEATURES].copy()
    with_missing.loc[::7, "x0"] = np.nan
    with_missing.loc[3::11, "x2"] = np.nan
    stage = Imputer(inputCols=["x0", "x2"], outputCols=["x0_filled", "x2_filled"], strategy=strategy)
    model = Pipeline(stages=[stage]).fit(spark.createDataFrame(with_missing))
    assert_onnx_matches_spark(model, with_missing, spark, tmp_path, output_cols=["x0_filled", "x2_filled"])


def test_dct_diverges_at_infinity_and_is_served_by_spark(spark, tmp_path, frame):
    """At x0 = inf Spark's DCT gives NaN in the last coefficient, onnxmltools' graph inf: caught by the
    edge probes."""
    from pyspark.ml.feature import DCT

    model = assembled(DCT(inputCol="features", outputCol="dct")).fit(spark.createDataFrame(frame))
    conf = saved_conf(model, frame[FEATURES], tmp_path, ["dct"])
    assert conf["onnx_status"] == "mismatch"
    assert "probe row" in conf["onnx_reason"] and "inf" in conf["onnx_reason"], conf["onnx_reason"]


def test_multilayer_perceptron(spark, tmp_path, frame):
    from pyspark.ml.classification import MultilayerPerceptronClassifier

    stage = MultilayerPerceptronClassifier(layers=[4, 6, 3], maxIter=50, seed=3)
    model = assembled(stage).fit(spark.createDataFrame(frame))
    assert_onnx_matches_spark(
        model, frame[FEATURES], spark, tmp_path, output_cols=["prediction", "probability"]
    )
