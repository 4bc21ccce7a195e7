"""Parity of the NaiveBayes converter (every modelType, thresholds, refused rows) with Spark."""

from __future__ import annotations

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from adult_data import NUMERIC
from parity import assert_onnx_matches_spark, report_parity
from pyspark.ml import Pipeline
from pyspark.ml.classification import NaiveBayes
from pyspark.ml.feature import StringIndexer, VectorAssembler

import mlflow_sparkonnx

FEATURES = ["f0", "f1", "f2", "f3", "f4"]
ALL_OUTPUTS = ["prediction", "probability", "rawPrediction"]


def _frames(
    model_type: str, rows: int = 300, classes: int = 3, seed: int = 11
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training rows and scoring rows with the edge values the model type allows."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, classes, rows)
    if model_type == "bernoulli":
        p = rng.uniform(0.1, 0.9, (classes, len(FEATURES)))
        x = (rng.uniform(size=(rows, len(FEATURES))) < p[label]).astype(float)
        score = x.copy()
        score[::13] = 0.0
        score[1::17] = 1.0
    elif model_type == "gaussian":
        x = rng.normal(0, 1, (classes, len(FEATURES)))[label] + rng.normal(0, 1.5, (rows, len(FEATURES)))
        score = x.copy()
        score[::13] = 0.0
        score[1::17] *= -50
        score[2::19, 0] = 1e6  # exactly representable in float32: the graph's input type
        score[3::23, 2] = -(2.0**40)
        score[4::29] = 1e-30
    else:  # counts: multinomial, complement
        x = rng.poisson(rng.uniform(0.5, 6, (classes, len(FEATURES)))[label]).astype(float)
        score = x.copy()
        score[::13] = 0.0
        score[1::17, 1] = 1e6
        score[2::19] = 2.0**30
        score[3::23] *= 0.37  # fractional counts are allowed
    train = pd.DataFrame(x, columns=FEATURES).assign(label=label.astype(float))
    return train, pd.DataFrame(score, columns=FEATURES)


def _fit(spark, frame: pd.DataFrame, **params):
    stages = [VectorAssembler(inputCols=FEATURES, outputCol="features"), NaiveBayes(**params)]
    return Pipeline(stages=stages).fit(spark.createDataFrame(frame))


@pytest.mark.parametrize("model_type", ["multinomial", "complement", "bernoulli", "gaussian"])
def test_model_types(spark, tmp_path, model_type):
    train, score = _frames(model_type)
    model = _fit(spark, train, modelType=model_type, smoothing=0.5)
    report_parity(assert_onnx_matches_spark(model, score, spark, tmp_path, output_cols=ALL_OUTPUTS))


@pytest.mark.parametrize(
    ("model_type", "thresholds"), [("multinomial", [0.2, 0.5, 0.3]), ("gaussian", [0.6, 0.0, 0.4])]
)
def test_thresholds(spark, tmp_path, model_type, thresholds):
    train, score = _frames(model_type, seed=5)
    model = _fit(spark, train, modelType=model_type, thresholds=thresholds)
    report_parity(assert_onnx_matches_spark(model, score, spark, tmp_path, output_cols=ALL_OUTPUTS))


@pytest.mark.parametrize(("model_type", "bad_value"), [("multinomial", -1.0), ("bernoulli", 0.5)])
def test_rows_spark_refuses_are_refused_by_guards_and_graph(spark, tmp_path, model_type, bad_value):
    """Spark raises on these rows. The pyfunc refuses them before scoring (the raw columns' rule,
    tests/scoring/test_guards.py), and the graph alone flags them too (a row check on the features)."""
    train, score = _frames(model_type)
    model = _fit(spark, train, modelType=model_type)
    path = tmp_path / "model"
    mlflow_sparkonnx.save_model(model, str(path), input_example=score.head(100), onnx="require")
    bad = score.head(6).copy()
    bad.loc[[1, 4], "f2"] = bad_value
    with pytest.raises(Exception, match="requires"):
        model.transform(spark.createDataFrame(bad)).collect()
    onnx_model = mlflow.pyfunc.load_model(str(path), model_config={"runtime": "onnx"}).get_raw_model()
    with pytest.raises(mlflow_sparkonnx.InvalidInputError, match="'f2' row 1 holds"):
        onnx_model.predict(bad)
    flagged = r"'features' \(computed from the inputs\) row 1"
    with pytest.raises(mlflow_sparkonnx.InvalidInputError, match=flagged):
        onnx_model.runtime_impl.predict(bad)  # the graph alone, without the input guards
    assert not onnx_model.runtime_impl.predict(bad.drop(index=[1, 4]))["prediction"].isna().any()


def test_adult_gaussian_end_to_end(spark, tmp_path, adult_train):
    """Adult numerics → NaiveBayes(gaussian) saved and served through pyfunc(runtime="onnx")."""
    stages = [
        StringIndexer(inputCol="income", outputCol="label"),
        VectorAssembler(inputCols=NUMERIC, outputCol="features"),
        NaiveBayes(modelType="gaussian"),
    ]
    model = Pipeline(stages=stages).fit(spark.createDataFrame(adult_train))
    frame = adult_train.drop(columns=["income"]).head(300)
    report_parity(assert_onnx_matches_spark(model, frame, spark, tmp_path))
