"""Parity of the GeneralizedLinearRegression converter (families, links, offset) with Spark."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from adult_data import NUMERIC
from parity import assert_onnx_matches_spark, report_parity
from pyspark.ml import Pipeline
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.regression import GeneralizedLinearRegression

from mlflow_sparkonnx.convert.converters.glr import family_and_link

FEATURES = ["f0", "f1", "f2"]


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training rows with a label per family, and scoring rows with zeros, negatives and huge values."""
    rng = np.random.default_rng(21)
    rows = 300
    x = rng.normal(0, 1, (rows, len(FEATURES)))
    mean = np.exp(0.3 * x[:, 0] - 0.2 * x[:, 1] + 0.5)
    train = pd.DataFrame(x, columns=FEATURES).assign(
        gaussian=mean + rng.normal(0, 0.3, rows),
        binomial=(rng.uniform(size=rows) < 1 / (1 + np.exp(-x[:, 0] + x[:, 2]))).astype(float),
        poisson=rng.poisson(mean).astype(float),
        gamma=rng.gamma(2.0, mean / 2.0),
        off=rng.uniform(-0.2, 0.2, rows),
    )
    score = x.copy()
    score[::11] = 0.0
    score[1::13] *= -30
    score[2::17, 0] = 1e6  # exactly representable in float32 (the graph's input type)
    score[3::19, 1] = -1e6
    score[4::23, 2] = 2.0**40
    score[5::29] = 1e-30
    frame = pd.DataFrame(score, columns=FEATURES).assign(off=rng.uniform(-0.5, 0.5, rows))
    return train, frame


# (family, link or None for the family's default, extra params)
CASES = [
    ("gaussian", None, {"linkPredictionCol": "eta"}),
    ("gaussian", "log", {}),
    ("binomial", None, {"linkPredictionCol": "eta"}),
    ("binomial", "probit", {}),
    ("binomial", "cloglog", {}),
    ("poisson", "sqrt", {}),
    ("gamma", None, {}),
    ("gamma", "log", {"linkPredictionCol": "eta"}),
    ("tweedie", None, {"variancePower": 1.5}),
    ("tweedie", None, {"variancePower": 0.0, "linkPower": 0.3}),
]


def _fit(spark, train: pd.DataFrame, family: str, link: str | None, extra: dict):
    label = {"tweedie": "gaussian" if extra.get("variancePower") == 0.0 else "gamma"}.get(family, family)
    params = {"family": family, "labelCol": label, "maxIter": 8, "regParam": 0.01, **extra}
    if link:
        params["link"] = link
    stages = [
        VectorAssembler(inputCols=FEATURES, outputCol="features"),
        GeneralizedLinearRegression(**params),
    ]
    return Pipeline(stages=stages).fit(spark.createDataFrame(train))


@pytest.mark.parametrize(
    ("family", "link", "extra"), CASES, ids=[f"{f}-{lk}-{sorted(e)}" for f, lk, e in CASES]
)
def test_family_and_link(spark, tmp_path, frames, family, link, extra):
    train, score = frames
    model = _fit(spark, train, family, link, extra)
    print(f"{family}/{link}: Spark's family and link as read: {family_and_link(model.stages[-1])}")
    outputs = ["prediction"] + (["eta"] if "linkPredictionCol" in extra else [])
    report_parity(assert_onnx_matches_spark(model, score[FEATURES], spark, tmp_path, output_cols=outputs))


def test_offset_column(spark, tmp_path, frames):
    """The converter adds the offset column to eta (tweedie, log link)."""
    train, score = frames
    model = _fit(spark, train, "tweedie", None, {"variancePower": 1.4, "linkPower": 0.0, "offsetCol": "off"})
    report_parity(assert_onnx_matches_spark(model, score, spark, tmp_path))


def test_adult_poisson_end_to_end(spark, tmp_path, adult_train):
    """Adult: numerics → GLR(poisson, log) for hours_per_week: onnxmltools' silent error, now verified."""
    stages = [
        VectorAssembler(inputCols=["age", "education_num"], outputCol="features"),
        GeneralizedLinearRegression(labelCol="hours_per_week", family="poisson", link="log", maxIter=10),
    ]
    model = Pipeline(stages=stages).fit(spark.createDataFrame(adult_train))
    frame = adult_train[NUMERIC].head(300)
    report_parity(assert_onnx_matches_spark(model, frame, spark, tmp_path))
