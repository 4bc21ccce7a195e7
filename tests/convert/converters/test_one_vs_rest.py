"""Parity of the OneVsRest converter with Spark, over each kind of binary classifier it composes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from parity import assert_onnx_matches_spark, report_parity
from pyspark.ml import Pipeline
from pyspark.ml.classification import (
    DecisionTreeClassifier,
    FMClassifier,
    GBTClassifier,
    LinearSVC,
    LogisticRegression,
    MultilayerPerceptronClassifier,
    NaiveBayes,
    OneVsRest,
)
from pyspark.ml.feature import VectorAssembler

FEATURES = ["f0", "f1", "f2", "f3"]
OUTPUTS = ["prediction", "rawPrediction"]


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(17)
    rows = 300
    label = rng.integers(0, 3, rows)
    x = rng.normal(0, 2, (3, len(FEATURES)))[label] + rng.normal(0, 1.2, (rows, len(FEATURES)))
    train = pd.DataFrame(x, columns=FEATURES).assign(label=label.astype(float))
    score = x.copy()
    score[::11] = 0.0
    score[1::13] *= -30
    score[2::17, 0] = 1e6  # exactly representable in float32 (the graph's input type)
    score[3::19, 2] = -(2.0**30)
    score[4::23] = 1e-30
    return train, pd.DataFrame(score, columns=FEATURES)


CLASSIFIERS = {
    "logistic_regression": lambda: LogisticRegression(maxIter=5, regParam=0.01),
    "linear_svc": lambda: LinearSVC(maxIter=5, regParam=0.01),
    "decision_tree": lambda: DecisionTreeClassifier(maxDepth=4, seed=1),
    "gbt": lambda: GBTClassifier(maxIter=3, maxDepth=3, seed=1),
    "naive_bayes_gaussian": lambda: NaiveBayes(modelType="gaussian"),
    "fm": lambda: FMClassifier(maxIter=10, factorSize=2, seed=1),
}


@pytest.mark.parametrize("name", list(CLASSIFIERS))
def test_one_vs_rest(spark, tmp_path, frames, name):
    stages = [
        VectorAssembler(inputCols=FEATURES, outputCol="features"),
        OneVsRest(classifier=CLASSIFIERS[name]()),
    ]
    model = Pipeline(stages=stages).fit(spark.createDataFrame(frames[0]))
    assert len(model.stages[-1].models) == 3
    report_parity(assert_onnx_matches_spark(model, frames[1], spark, tmp_path, output_cols=OUTPUTS))


def test_sub_model_without_raw_prediction_is_unsupported_and_named(spark, tmp_path, frames):
    """onnxmltools' MultilayerPerceptron converter has no rawPrediction: the model saves native-only."""
    import yaml

    import mlflow_sparkonnx

    stages = [
        VectorAssembler(inputCols=FEATURES, outputCol="features"),
        OneVsRest(classifier=MultilayerPerceptronClassifier(layers=[4, 3, 2], maxIter=3, seed=1)),
    ]
    model = Pipeline(stages=stages).fit(spark.createDataFrame(frames[0]))
    mlflow_sparkonnx.save_model(model, str(tmp_path / "m"), input_example=frames[1].head(20))
    conf = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())["flavors"]["sparkonnx"]
    assert conf["onnx_status"] == "unsupported"
    assert "sub-model 0 (MultilayerPerceptronClassificationModel)" in conf["onnx_reason"]
    assert "rawPrediction" in conf["onnx_reason"]


@pytest.mark.parametrize("threshold", [0.0, 0.7])
def test_linear_svc_on_its_own(spark, tmp_path, frames, threshold):
    """The LinearSVC converter OneVsRest composes: rawPrediction [-m, m], label when m > threshold."""
    train = frames[0].assign(label=(frames[0]["label"] > 0).astype(float))
    stages = [
        VectorAssembler(inputCols=FEATURES, outputCol="features"),
        LinearSVC(maxIter=5, regParam=0.01, threshold=threshold),
    ]
    model = Pipeline(stages=stages).fit(spark.createDataFrame(train))
    report_parity(assert_onnx_matches_spark(model, frames[1], spark, tmp_path, output_cols=OUTPUTS))
