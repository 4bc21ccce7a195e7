"""Inputs Spark refuses or drops (unseen categories, out-of-range buckets): same in both runtimes."""

from __future__ import annotations

import math

import mlflow.pyfunc
import pytest
import yaml
from conftest import NUMERIC
from pyspark.ml import Pipeline
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import OneHotEncoder, StringIndexer, VectorAssembler

import mlflow_sparkonnx

CATS = ["workclass", "sex"]


def fit(spark, adult_train, handle_invalid: str):
    stages = [
        StringIndexer(inputCols=CATS, outputCols=[f"{c}_i" for c in CATS], handleInvalid=handle_invalid),
        OneHotEncoder(
            inputCols=[f"{c}_i" for c in CATS], outputCols=[f"{c}_o" for c in CATS], handleInvalid="keep"
        ),
        VectorAssembler(inputCols=[f"{c}_o" for c in CATS] + NUMERIC, outputCol="features"),
        StringIndexer(inputCol="income", outputCol="label"),
        LogisticRegression(maxIter=10),
    ]
    return Pipeline(stages=stages).fit(spark.createDataFrame(adult_train))


@pytest.fixture(scope="module")
def saved(spark, adult_train, tmp_path_factory):
    paths = {}
    for mode in ("error", "skip"):
        paths[mode] = str(tmp_path_factory.mktemp("categories") / mode)
        example = adult_train.drop(columns=["income"]).head(200).copy()
        example.loc[3, "workclass"] = "Astronaut"  # left out of the parity rows, not a failure
        mlflow_sparkonnx.save_model(fit(spark, adult_train, mode), paths[mode], input_example=example)
    return paths


def test_closed_categories_are_recorded(saved):
    with open(f"{saved['error']}/MLmodel") as f:
        conf = yaml.safe_load(f)["flavors"]["sparkonnx"]
    assert conf["onnx_status"] == "verified", conf["onnx_reason"]
    assert set(conf["closed_categories"]) == {"workclass", "sex"}
    assert conf["closed_categories"]["sex"]["handle_invalid"] == "error"
    assert sorted(conf["closed_categories"]["sex"]["labels"]) == ["Female", "Male"]


@pytest.mark.parametrize("runtime", ["onnx", "spark"])
def test_error_mode_refuses_an_unseen_category_naming_column_row_and_value(saved, adult_holdout, runtime):
    model = mlflow.pyfunc.load_model(saved["error"], model_config={"runtime": runtime})
    frame = adult_holdout.head(5).copy()
    frame.loc[2, "workclass"] = "Astronaut"
    with pytest.raises(mlflow_sparkonnx.InvalidInputError, match=r"'workclass' row 2 holds 'Astronaut'"):
        model.predict(frame)


def test_skip_mode_gives_null_outputs_for_that_row_in_both_runtimes(saved, adult_holdout):
    frame = adult_holdout.head(6).copy()
    frame.loc[4, "sex"] = "Unknown"
    results = {
        runtime: mlflow.pyfunc.load_model(saved["skip"], model_config={"runtime": runtime}).predict(frame)
        for runtime in ("onnx", "spark")
    }
    for result in results.values():
        assert len(result) == 6
        assert math.isnan(result["prediction"][4]) and result["probability"][4] is None
        assert not result.drop(index=4)["prediction"].isna().any()
    assert (
        results["onnx"]["prediction"].drop(index=4).tolist()
        == results["spark"]["prediction"].drop(index=4).tolist()
    )


@pytest.fixture(scope="module")
def bucketed(spark, adult_train, tmp_path_factory):
    """Bucketizer(age, finite splits, handleInvalid='skip') → VectorAssembler → LogisticRegression."""
    from pyspark.ml.feature import Bucketizer

    stages = [
        Bucketizer(
            splits=[17.0, 30.0, 45.0, 60.0, 91.0],
            inputCol="age",
            outputCol="age_bucket",
            handleInvalid="skip",
        ),
        VectorAssembler(inputCols=["age_bucket", "hours_per_week"], outputCol="features"),
        StringIndexer(inputCol="income", outputCol="label"),
        LogisticRegression(maxIter=10),
    ]
    model = Pipeline(stages=stages).fit(spark.createDataFrame(adult_train))
    path = str(tmp_path_factory.mktemp("bucketed") / "model")
    mlflow_sparkonnx.save_model(model, path, input_example=adult_train.drop(columns=["income"]).head(200))
    return path


def test_numeric_guards_are_recorded(bucketed):
    with open(f"{bucketed}/MLmodel") as f:
        conf = yaml.safe_load(f)["flavors"]["sparkonnx"]
    assert conf["onnx_status"] == "verified", conf["onnx_reason"]
    assert conf["numeric_guards"]["age"] == {"low": 17.0, "high": 91.0, "nan": "skip"}
    # The VectorAssembler reads hours_per_week raw, with Spark's default handleInvalid='error'.
    assert conf["numeric_guards"]["hours_per_week"] == {"low": -math.inf, "high": math.inf, "nan": "error"}


@pytest.mark.parametrize("runtime", ["onnx", "spark"])
def test_value_outside_bucketizer_splits_is_refused(bucketed, adult_holdout, runtime):
    model = mlflow.pyfunc.load_model(bucketed, model_config={"runtime": runtime})
    frame = adult_holdout.head(4).copy()
    frame.loc[1, "age"] = 120
    with pytest.raises(mlflow_sparkonnx.InvalidInputError, match=r"'age' row 1 holds 120.0, outside"):
        model.predict(frame)


def test_nan_under_skip_gives_null_outputs_in_both_runtimes(bucketed, adult_holdout):
    frame = adult_holdout.head(5).astype({"age": "float64"})
    frame.loc[3, "age"] = float("nan")
    results = {
        runtime: mlflow.pyfunc.load_model(bucketed, model_config={"runtime": runtime})
        .get_raw_model()
        .predict(frame)
        for runtime in ("onnx", "spark")
    }
    for result in results.values():
        assert math.isnan(result["prediction"][3]) and not result.drop(index=3)["prediction"].isna().any()
    assert (
        results["onnx"]["prediction"].drop(index=3).tolist()
        == results["spark"]["prediction"].drop(index=3).tolist()
    )


@pytest.mark.parametrize("runtime", ["onnx", "spark"])
def test_nan_into_a_default_vector_assembler_is_refused(saved_models, adult_holdout, runtime):
    """Spark's VectorAssembler (handleInvalid='error') fails on NaN; the graph would score it."""
    model = mlflow.pyfunc.load_model(saved_models["lr"], model_config={"runtime": runtime}).get_raw_model()
    frame = adult_holdout.head(4).astype({"capital_gain": "float64"})
    frame.loc[2, "capital_gain"] = float("nan")
    with pytest.raises(
        mlflow_sparkonnx.InvalidInputError, match=r"'capital_gain' row 2 holds nan, a null/NaN"
    ):
        model.predict(frame)


@pytest.mark.parametrize("value", [30.5, float("inf"), 1e300])
def test_integral_column_refuses_what_spark_cannot_hold(saved_models, adult_holdout, value):
    """A bigint input (age) cannot hold 30.5, inf or 1e300: Spark would refuse or truncate it, the graph
    would score it as a float; both runtimes refuse it, naming the column, row and value."""
    model = mlflow.pyfunc.load_model(saved_models["lr"], model_config={"runtime": "onnx"}).get_raw_model()
    frame = adult_holdout.head(3).astype({"age": "float64"})
    frame.loc[1, "age"] = value
    refusal = r"'age' \(bigint\) row 1 holds .*whole number"
    with pytest.raises(mlflow_sparkonnx.InvalidInputError, match=refusal):
        model.predict(frame)
    frame.loc[1, "age"] = 31.0  # a whole number in a float column is fine
    assert len(model.predict(frame)) == 3
