"""Parity of the LogisticRegression converter (thresholds, softmax) with Spark."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from adult_data import CATEGORICAL, NUMERIC
from parity import assert_onnx_matches_spark, report_parity
from pyspark.ml import Pipeline
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import OneHotEncoder, StringIndexer, VectorAssembler

FEATURES = ["f0", "f1", "f2", "f3"]
ALL_OUTPUTS = ["prediction", "probability", "rawPrediction"]


def _blobs(n_classes: int, rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Overlapping Gaussian classes to fit on; the same rows with zeros, negatives, huge and ±inf values."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, n_classes, rows)
    centres = rng.normal(0, 1.5, (n_classes, len(FEATURES)))
    x = centres[label] + rng.normal(0, 1.2, (rows, len(FEATURES)))
    train = pd.DataFrame(x, columns=FEATURES).assign(label=label.astype(float))
    x = x.copy()
    x[::17] = 0.0
    x[5::23] = -x[5::23] * 40
    x[7::29, 1] = 1e6
    x[9::31, 2] = -1e6
    x[11::37] = 1e-30
    x[13::41, 0] = np.inf  # infinite margins: Spark's softmax and argmax rules for them
    x[15::43, 1] = -np.inf
    x[19::47, 0], x[19::47, 3] = np.inf, -np.inf
    return train, pd.DataFrame(x, columns=FEATURES)


@pytest.fixture(scope="module")
def binary_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    return _blobs(2, 400, seed=3)


@pytest.fixture(scope="module")
def multi_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    return _blobs(4, 400, seed=4)


def _fit(spark, frame: pd.DataFrame, **params) -> Pipeline:
    stages = [
        VectorAssembler(inputCols=FEATURES, outputCol="features"),
        LogisticRegression(maxIter=50, regParam=0.01, **params),
    ]
    return Pipeline(stages=stages).fit(spark.createDataFrame(frame))


@pytest.fixture(scope="module")
def binary_model(spark, binary_frames):
    """Fitted once: the thresholds below are applied to copies (they do not change the fit)."""
    return _fit(spark, binary_frames[0])


@pytest.fixture(scope="module")
def multi_model(spark, multi_frames):
    return _fit(spark, multi_frames[0])


def with_threshold(model, **params):
    """A copy of the fitted pipeline whose LogisticRegressionModel has ``threshold`` or ``thresholds`` set."""
    copy = model.copy()
    regression = copy.stages[-1]
    if "threshold" in params:
        regression.setThreshold(params["threshold"])
    if "thresholds" in params:
        regression.setThresholds(params["thresholds"])
    return copy


@pytest.mark.parametrize("threshold", [0.5, 0.35, 0.8, 0.02, 0.0, 1.0])
def test_binary_threshold(spark, tmp_path, binary_frames, binary_model, threshold):
    model = with_threshold(binary_model, threshold=threshold)
    assert model.stages[-1].getThreshold() == threshold
    conf = assert_onnx_matches_spark(model, binary_frames[1], spark, tmp_path, output_cols=ALL_OUTPUTS)
    positives = model.transform(spark.createDataFrame(binary_frames[1])).where("prediction = 1").count()
    print(f"threshold {threshold}: Spark predicts 1 on {positives} of {len(binary_frames[1])} rows")
    report_parity(conf)


@pytest.mark.parametrize("raw_column", ["", "rawPrediction"])
@pytest.mark.parametrize("probability_column", ["", "probability"])
def test_binary_zero_threshold_paths(spark, tmp_path, binary_frames, raw_column, probability_column):
    """At threshold 0 Spark's answer depends on which columns exist (double rounding); huge margins."""
    model = _fit(
        spark, binary_frames[0], threshold=0.0, rawPredictionCol=raw_column, probabilityCol=probability_column
    )
    outputs = ["prediction"] + [c for c in (probability_column, raw_column) if c]
    conf = assert_onnx_matches_spark(model, binary_frames[1], spark, tmp_path, output_cols=outputs)
    positives = model.transform(spark.createDataFrame(binary_frames[1])).where("prediction = 1").count()
    print(f"threshold 0 {outputs}: Spark predicts 1 on {positives} of {len(binary_frames[1])} rows")
    report_parity(conf)


def test_binary_thresholds_pair(spark, tmp_path, binary_frames, binary_model):
    """``thresholds=[t0, t1]`` on a binary model means ``threshold = 1 / (1 + t0 / t1)``."""
    model = with_threshold(binary_model, thresholds=[0.7, 0.3])
    report_parity(
        assert_onnx_matches_spark(model, binary_frames[1], spark, tmp_path, output_cols=ALL_OUTPUTS)
    )


def test_binary_multinomial_family(spark, tmp_path, binary_frames):
    """A two-class model fitted with family="multinomial": two coefficient rows, softmax, and Spark
    predicts the argmax even with ``threshold`` set (``thresholds`` is not defined)."""
    model = _fit(spark, binary_frames[0], family="multinomial", threshold=0.3)
    report_parity(
        assert_onnx_matches_spark(model, binary_frames[1], spark, tmp_path, output_cols=ALL_OUTPUTS)
    )


@pytest.mark.parametrize("thresholds", [None, [0.5, 0.2, 0.9, 0.3], [0.4, 0.0, 0.6, 0.5]])
def test_multinomial(spark, tmp_path, multi_frames, multi_model, thresholds):
    model = with_threshold(multi_model, thresholds=thresholds) if thresholds else multi_model
    assert model.stages[-1].numClasses == 4
    report_parity(assert_onnx_matches_spark(model, multi_frames[1], spark, tmp_path, output_cols=ALL_OUTPUTS))


def test_adult_default_encoders_lr_threshold(spark, tmp_path, adult_train):
    """Adult: StringIndexer and OneHotEncoder with Spark's defaults → VectorAssembler → LR(threshold 0.3)."""
    idx = [f"{c}_idx" for c in CATEGORICAL]
    ohe = [f"{c}_ohe" for c in CATEGORICAL]
    stages = [
        StringIndexer(inputCols=CATEGORICAL, outputCols=idx),
        OneHotEncoder(inputCols=idx, outputCols=ohe),
        VectorAssembler(inputCols=ohe + NUMERIC, outputCol="features"),
        StringIndexer(inputCol="income", outputCol="label"),
        LogisticRegression(maxIter=30, regParam=0.01, threshold=0.3),
    ]
    model = Pipeline(stages=stages).fit(spark.createDataFrame(adult_train))
    frame = adult_train.drop(columns=["income"]).head(300)  # training rows: every category is seen
    report_parity(assert_onnx_matches_spark(model, frame, spark, tmp_path))


def test_adult_multinomial_relationship(spark, tmp_path, adult_train):
    """Adult: predict ``relationship`` (6 classes) from one-hot (keep) categoricals and numbers."""
    cats = ["workclass", "education", "marital_status", "occupation"]
    idx = [f"{c}_idx" for c in cats]
    ohe = [f"{c}_ohe" for c in cats]
    stages = [
        StringIndexer(inputCols=cats, outputCols=idx, handleInvalid="keep"),
        OneHotEncoder(inputCols=idx, outputCols=ohe, handleInvalid="keep", dropLast=False),
        VectorAssembler(inputCols=ohe + NUMERIC, outputCol="features"),
        StringIndexer(inputCol="relationship", outputCol="label"),
        LogisticRegression(maxIter=30, regParam=0.01),
    ]
    model = Pipeline(stages=stages).fit(spark.createDataFrame(adult_train))
    assert model.stages[-1].numClasses == 6
    frame = adult_train.drop(columns=["income", "relationship"]).tail(300).copy()
    frame.loc[frame.index[::10], "occupation"] = "Astronaut"  # unseen: the 'keep' category
    report_parity(assert_onnx_matches_spark(model, frame, spark, tmp_path))
