"""Parity of the scaler, Normalizer and Bucketizer converters with Spark."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from parity import assert_onnx_matches_spark, report_parity
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import Bucketizer, MinMaxScaler, Normalizer, StandardScaler, VectorAssembler

COLUMNS = ["a", "b", "c", "k"]


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training rows (``k`` constant), and scoring rows with zeros, negatives and huge values."""
    rng = np.random.default_rng(8)
    train = pd.DataFrame(
        {"a": rng.normal(0, 1, 300), "b": rng.normal(100, 30, 300), "c": rng.exponential(5, 300), "k": 4.0}
    )
    score = train.copy()
    score.loc[::13, ["a", "b", "c"]] = 0.0
    score.loc[3::17, "a"] = -1e6
    score.loc[4::19, "b"] = 1e9
    score.loc[5::23, "k"] = -2.0
    score.loc[6::29, ["a", "b", "c", "k"]] = 0.0
    return train, score


def _assembled(stage_estimator, train: pd.DataFrame, spark) -> PipelineModel:
    stages = [VectorAssembler(inputCols=COLUMNS, outputCol="features"), stage_estimator]
    return Pipeline(stages=stages).fit(spark.createDataFrame(train))


@pytest.mark.parametrize("low, high", [(0.0, 1.0), (-1.0, 1.0), (5.0, 10.0), (-3.0, 7.5)])
def test_min_max_scaler(spark, tmp_path, frames, low, high):
    model = _assembled(
        MinMaxScaler(inputCol="features", outputCol="scaled", min=low, max=high), frames[0], spark
    )
    report_parity(assert_onnx_matches_spark(model, frames[1], spark, tmp_path, output_cols=["scaled"]))


@pytest.mark.parametrize("with_mean", [True, False])
@pytest.mark.parametrize("with_std", [True, False])
def test_standard_scaler(spark, tmp_path, frames, with_mean, with_std):
    scaler = StandardScaler(inputCol="features", outputCol="scaled", withMean=with_mean, withStd=with_std)
    model = _assembled(scaler, frames[0], spark)
    report_parity(assert_onnx_matches_spark(model, frames[1], spark, tmp_path, output_cols=["scaled"]))


@pytest.mark.parametrize("p", [1.0, 2.0, math.inf, 3.0, 1.5])
def test_normalizer(spark, tmp_path, frames, p):
    score = frames[1].copy()
    score.loc[7::31, ["a", "b", "c", "k"]] = [1e30, -2e30, 3e29, 0.0]  # float32 squares overflow
    score.loc[8::37, ["a", "b", "c", "k"]] = [1e-30, 0.0, -1e-30, 0.0]  # and underflow
    score.loc[9::41, ["a", "b", "c", "k"]] = [math.inf, 1.0, -2.0, 0.0]  # an infinite norm: NaN, 0, 0
    score.loc[10::43, ["a", "b", "c", "k"]] = [-math.inf, math.inf, 0.5, 0.0]
    stages = [
        VectorAssembler(inputCols=COLUMNS, outputCol="features"),
        Normalizer(inputCol="features", outputCol="normed", p=p),
    ]
    model = PipelineModel(stages=stages)
    report_parity(assert_onnx_matches_spark(model, score, spark, tmp_path, output_cols=["normed"]))


@pytest.fixture(scope="module")
def bucket_frame() -> pd.DataFrame:
    rng = np.random.default_rng(9)
    x = rng.normal(0, 3, 300)
    edge = [-1.0, 0.0, -0.0, 2.5, 1e30, -1e30, float("nan"), 2.4999, 10.0, 20.0]
    x[::7] = [edge[i % len(edge)] for i in range(len(x[::7]))]
    y = rng.uniform(0, 30, 300)
    y[::11] = [[0.0, 10.0, 20.0, 30.0][i % 4] for i in range(len(y[::11]))]
    return pd.DataFrame({"x": x, "y": y})


def _spark_frame(spark, frame: pd.DataFrame):
    """A Spark frame that keeps NaN as NaN (createDataFrame(pandas) turns NaN into null)."""
    rows = [tuple(float(v) for v in row) for row in frame.itertuples(index=False)]
    return spark.createDataFrame(rows, schema=", ".join(f"{c} double" for c in frame.columns))


def test_bucketizer_single_with_infinite_splits(spark, tmp_path, bucket_frame):
    bucketizer = Bucketizer(
        inputCol="x", outputCol="xb", splits=[-math.inf, -1.0, 0.0, 2.5, math.inf], handleInvalid="keep"
    )
    model = PipelineModel(stages=[bucketizer])
    report_parity(
        assert_onnx_matches_spark(
            model, _spark_frame(spark, bucket_frame[["x"]]), spark, tmp_path, output_cols=["xb"]
        )
    )


def test_bucketizer_multi_columns(spark, tmp_path, bucket_frame):
    """inputCols + splitsArray: ±inf splits on one column, finite ones (last bound inclusive) on the other."""
    bucketizer = Bucketizer(
        inputCols=["x", "y"],
        outputCols=["xb", "yb"],
        splitsArray=[[-math.inf, -0.0, 2.5, 10.0, math.inf], [0.0, 10.0, 20.0, 30.0]],
        handleInvalid="keep",
    )
    model = PipelineModel(stages=[bucketizer])
    report_parity(
        assert_onnx_matches_spark(
            model, _spark_frame(spark, bucket_frame), spark, tmp_path, output_cols=["xb", "yb"]
        )
    )
