"""Parity of the factorization-machine converters (classifier and regressor) with Spark."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from adult_data import NUMERIC
from parity import assert_onnx_matches_spark, report_parity
from pyspark.ml import Pipeline
from pyspark.ml.classification import FMClassifier
from pyspark.ml.feature import MinMaxScaler, StringIndexer, VectorAssembler
from pyspark.ml.regression import FMRegressor

FEATURES = ["f0", "f1", "f2", "f3"]


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(8)
    rows = 300
    x = rng.normal(0, 1, (rows, len(FEATURES)))
    y = x[:, 0] - 0.5 * x[:, 1] + 0.8 * x[:, 0] * x[:, 2] + rng.normal(0, 0.2, rows)
    train = pd.DataFrame(x, columns=FEATURES).assign(y=y, label=(y > 0).astype(float))
    score = x.copy()
    score[::11] = 0.0
    score[1::13] *= -40
    score[2::17, 0] = 1e6  # exactly representable in float32 (the graph's input type)
    score[3::19, 3] = -(2.0**20)
    score[4::23] = 1e-30
    return train, pd.DataFrame(score, columns=FEATURES)


def _fit(spark, frame, estimator):
    stages = [VectorAssembler(inputCols=FEATURES, outputCol="features"), estimator]
    return Pipeline(stages=stages).fit(spark.createDataFrame(frame))


@pytest.mark.parametrize("params", [{}, {"fitIntercept": False, "fitLinear": False, "factorSize": 2}])
def test_fm_regressor(spark, tmp_path, frames, params):
    model = _fit(spark, frames[0], FMRegressor(labelCol="y", maxIter=10, seed=1, **params))
    conf = assert_onnx_matches_spark(model, frames[1], spark, tmp_path)
    report_parity(conf)
    # The graph computes in double, but beyond float32's range its pairwise term cancels differently
    # from Spark's (f0 = -3.5e38: Spark -2.9e38, the graph -6.0e59): the edge probes limit the input.
    assert "f0" in conf["float32_inputs"]


@pytest.mark.parametrize("params", [{}, {"thresholds": [0.3, 0.7], "factorSize": 2, "fitIntercept": False}])
def test_fm_classifier(spark, tmp_path, frames, params):
    model = _fit(spark, frames[0], FMClassifier(maxIter=10, seed=2, **params))
    outputs = ["prediction", "probability", "rawPrediction"]
    report_parity(assert_onnx_matches_spark(model, frames[1], spark, tmp_path, output_cols=outputs))


def test_adult_fm_classifier_end_to_end(spark, tmp_path, adult_train):
    """Adult numerics → MinMaxScaler → FMClassifier, saved and served through pyfunc(runtime="onnx")."""
    stages = [
        StringIndexer(inputCol="income", outputCol="label"),
        VectorAssembler(inputCols=NUMERIC, outputCol="raw_features"),
        MinMaxScaler(inputCol="raw_features", outputCol="features"),
        FMClassifier(maxIter=10, factorSize=4, seed=3),
    ]
    model = Pipeline(stages=stages).fit(spark.createDataFrame(adult_train))
    frame = adult_train.drop(columns=["income"]).head(300)
    report_parity(assert_onnx_matches_spark(model, frame, spark, tmp_path))
