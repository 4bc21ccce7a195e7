"""Parity of the AFTSurvivalRegression and IsotonicRegression converters with Spark."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from parity import assert_onnx_matches_spark, report_parity
from pyspark.ml import Pipeline
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.regression import AFTSurvivalRegression, IsotonicRegression

FEATURES = ["f0", "f1", "f2"]


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(31)
    rows = 300
    x = rng.normal(0, 1, (rows, len(FEATURES)))
    time = np.exp(0.5 * x[:, 0] - 0.3 * x[:, 1] + 1.0) * rng.weibull(1.5, rows) + 1e-3
    y = np.sqrt(np.abs(x[:, 0])) * np.sign(x[:, 0]) + rng.normal(0, 0.3, rows)
    train = pd.DataFrame(x, columns=FEATURES).assign(
        time=time, censor=(rng.uniform(size=rows) < 0.8).astype(float), y=y
    )
    score = x.copy()
    score[::11] = 0.0
    score[1::13] *= -25
    score[2::17, 0] = 1e6
    score[3::19, 1] = -(2.0**30)
    score[4::23] = 1e-30
    return train, pd.DataFrame(score, columns=FEATURES)


@pytest.mark.parametrize("quantiles", [None, [0.01, 0.25, 0.5, 0.9, 0.999]])
def test_aft_survival_regression(spark, tmp_path, frames, quantiles):
    params = {"quantileProbabilities": quantiles, "quantilesCol": "quantiles"} if quantiles else {}
    stages = [
        VectorAssembler(inputCols=FEATURES, outputCol="features"),
        AFTSurvivalRegression(labelCol="time", censorCol="censor", maxIter=30, **params),
    ]
    model = Pipeline(stages=stages).fit(spark.createDataFrame(frames[0]))
    outputs = ["prediction"] + (["quantiles"] if quantiles else [])
    report_parity(assert_onnx_matches_spark(model, frames[1], spark, tmp_path, output_cols=outputs))


def _isotonic_score_rows(boundaries: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Values below, above, between, exactly on and one double step either side of the
    boundaries, zeros, huge values (doubles: a steep segment would magnify any float32 rounding).
    """
    inside = rng.uniform(boundaries[0], boundaries[-1], 200)
    near = boundaries[:20]
    edges = np.concatenate(
        [
            near,
            np.nextafter(near, -np.inf),
            np.nextafter(near, np.inf),
            [boundaries[0] - 1, boundaries[-1] + 1, 0.0, -0.0],
        ]
    )
    huge = np.array([1e6, -1e6, 2.0**40, -(2.0**40), 1e-30, np.inf, -np.inf])
    values = np.concatenate([inside, edges, huge, rng.normal(0, 3, 300 - 200 - len(edges) - len(huge))])
    return values


def _with_nan(spark, column: str, values) -> object:
    """A Spark frame holding real NaN (pandas → Spark would turn NaN into null)."""
    return spark.createDataFrame([(float(v),) for v in values], [column])


@pytest.mark.parametrize("isotonic", [True, False])
def test_isotonic_on_a_double_column(spark, tmp_path, frames, isotonic):
    """featuresCol is a double column (NaN allowed: Java's binary search puts it above +inf)."""
    train = frames[0].assign(y=frames[0]["y"] * (1 if isotonic else -1))
    model = Pipeline(stages=[IsotonicRegression(featuresCol="f0", labelCol="y", isotonic=isotonic)]).fit(
        spark.createDataFrame(train)
    )
    boundaries = model.stages[0].boundaries.toArray()
    print(f"isotonic={isotonic}: {len(boundaries)} boundaries")
    values = _isotonic_score_rows(boundaries, np.random.default_rng(2))
    values[-3] = np.nan
    report_parity(assert_onnx_matches_spark(model, _with_nan(spark, "f0", values), spark, tmp_path))


def test_isotonic_feature_index_of_a_vector(spark, tmp_path, frames):
    stages = [
        VectorAssembler(inputCols=FEATURES, outputCol="features"),
        IsotonicRegression(labelCol="y", featureIndex=2),
    ]
    train = frames[0].assign(y=frames[0]["f2"] ** 3 + np.random.default_rng(4).normal(0, 0.5, len(frames[0])))
    model = Pipeline(stages=stages).fit(spark.createDataFrame(train))
    values = _isotonic_score_rows(model.stages[-1].boundaries.toArray(), np.random.default_rng(3))
    values = values[np.isfinite(values)]  # VectorAssembler refuses NaN; inf is fine but kept simple
    frame = frames[1].head(len(values)).assign(f2=values)
    report_parity(assert_onnx_matches_spark(model, frame, spark, tmp_path))


def test_isotonic_single_boundary(spark, tmp_path):
    """A constant label gives one boundary: its prediction everywhere."""
    train = pd.DataFrame({"x": [1.0, 1.0, 1.0], "y": [2.0, 2.0, 2.0]})
    model = Pipeline(stages=[IsotonicRegression(featuresCol="x", labelCol="y")]).fit(
        spark.createDataFrame(train)
    )
    assert len(model.stages[0].boundaries) == 1
    frame = _with_nan(spark, "x", [-5.0, 0.0, 1.0, 3.0, 1e6, np.nan])
    report_parity(assert_onnx_matches_spark(model, frame, spark, tmp_path))
