"""Shared fixtures: one local SparkSession, the Adult data, fitted pipelines, a sqlite tracking store."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd
import pytest

os.environ["PYSPARK_PYTHON"] = sys.executable
os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
os.environ["MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK"] = "true"
os.environ.pop("MLFLOW_SPARKONNX_RUNTIME", None)

ROOT = Path(__file__).resolve().parents[1]
# The full data set sits beside the checkout; a clone without it falls back to the shipped sample.
ADULT_CSV = ROOT.parent / "shared" / "data" / "adult.csv"
if not ADULT_CSV.exists():
    ADULT_CSV = ROOT / "examples" / "data" / "adult_sample.csv"
CATEGORICAL = ["workclass", "education", "marital_status", "occupation", "sex"]
NUMERIC = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]


@pytest.fixture(scope="session")
def spark():
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("mlflow-sparkonnx-tests")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def adult() -> pd.DataFrame:
    """The UCI Adult data (leading spaces stripped): 32,561 rows, or the 2,000-row sample."""
    return pd.read_csv(ADULT_CSV, skipinitialspace=True)


@pytest.fixture(scope="session")
def adult_train(adult) -> pd.DataFrame:
    return adult.sample(n=min(6000, len(adult) // 2), random_state=1).reset_index(drop=True)


@pytest.fixture(scope="session")
def adult_holdout(adult, adult_train) -> pd.DataFrame:
    """Rows not used for training, features only (what a caller sends)."""
    return adult.sample(n=400, random_state=7).drop(columns=["income"]).reset_index(drop=True)


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory):
    import mlflow

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment_id = mlflow.create_experiment("tests", artifact_location=(root / "artifacts").as_uri())
    mlflow.set_experiment(experiment_id=experiment_id)
    return uri


@pytest.fixture(scope="session")
def lr_pipeline(spark, adult_train):
    """StringIndexer → OneHotEncoder(keep) → VectorAssembler → LogisticRegression (label indexed too)."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import OneHotEncoder, StringIndexer, VectorAssembler

    idx = [f"{c}_idx" for c in CATEGORICAL]
    ohe = [f"{c}_ohe" for c in CATEGORICAL]
    stages = [
        StringIndexer(inputCols=CATEGORICAL, outputCols=idx, handleInvalid="keep"),
        OneHotEncoder(inputCols=idx, outputCols=ohe, handleInvalid="keep"),
        VectorAssembler(inputCols=ohe + NUMERIC, outputCol="features"),
        StringIndexer(inputCol="income", outputCol="label"),
        LogisticRegression(maxIter=30, regParam=0.01),
    ]
    return Pipeline(stages=stages).fit(spark.createDataFrame(adult_train))


@pytest.fixture(scope="session")
def rf_pipeline(spark, adult_train):
    """VectorAssembler(numeric) → RandomForestClassifier(20 trees)."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import RandomForestClassifier
    from pyspark.ml.feature import StringIndexer, VectorAssembler

    stages = [
        StringIndexer(inputCol="income", outputCol="label"),
        VectorAssembler(inputCols=NUMERIC, outputCol="features"),
        RandomForestClassifier(numTrees=20, maxDepth=6, seed=3),
    ]
    return Pipeline(stages=stages).fit(spark.createDataFrame(adult_train))


@pytest.fixture(scope="session")
def gbt_regressor_pipeline(spark, adult_train):
    """The article's VectorAssembler → GBTRegressor (predicts hours_per_week)."""
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import VectorAssembler
    from pyspark.ml.regression import GBTRegressor

    features = ["age", "education_num", "capital_gain", "capital_loss"]
    stages = [
        VectorAssembler(inputCols=features, outputCol="features"),
        GBTRegressor(labelCol="hours_per_week", maxIter=10, maxDepth=3, seed=5),
    ]
    return Pipeline(stages=stages).fit(spark.createDataFrame(adult_train))


@pytest.fixture(scope="session")
def glr_pipeline(spark, adult_train):
    """GeneralizedLinearRegression(poisson, log): onnxmltools ignores the link (a known silent error)."""
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import VectorAssembler
    from pyspark.ml.regression import GeneralizedLinearRegression

    stages = [
        VectorAssembler(inputCols=["age", "education_num"], outputCol="features"),
        GeneralizedLinearRegression(labelCol="hours_per_week", family="poisson", link="log", maxIter=10),
    ]
    return Pipeline(stages=stages).fit(spark.createDataFrame(adult_train))


@pytest.fixture(scope="session")
def sql_pipeline(spark, adult_train):
    """SQLTransformer → VectorAssembler → LinearRegression: SQLTransformer has no converter."""
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import SQLTransformer, VectorAssembler
    from pyspark.ml.regression import LinearRegression

    stages = [
        SQLTransformer(statement="SELECT *, age * education_num AS age_x_education FROM __THIS__"),
        VectorAssembler(inputCols=["age", "age_x_education"], outputCol="features"),
        LinearRegression(labelCol="hours_per_week", maxIter=5),
    ]
    return Pipeline(stages=stages).fit(spark.createDataFrame(adult_train))


@pytest.fixture(scope="session")
def text_frame() -> pd.DataFrame:
    words = ["spark", "onnx", "mlflow", "model", "serve", "fast", "slow", "jvm", "python", "data"]
    rows = []
    for i in range(300):
        doc = " ".join(words[(i * k) % len(words)] for k in range(1, 2 + i % 6))
        rows.append({"text": doc.upper() if i % 7 == 0 else doc, "label": float("fast" in doc)})
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def text_pipeline(spark, text_frame):
    """The article's Tokenizer → HashingTF → LogisticRegression."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import HashingTF, Tokenizer

    stages = [
        Tokenizer(inputCol="text", outputCol="words"),
        HashingTF(inputCol="words", outputCol="features", numFeatures=64),
        LogisticRegression(maxIter=10),
    ]
    return Pipeline(stages=stages).fit(spark.createDataFrame(text_frame))


def spark_predictions(pipeline, spark, frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Spark's own transform of ``frame``, collected in order, vectors as lists."""
    out = pipeline.transform(spark.createDataFrame(frame)).select(*columns).collect()
    return pd.DataFrame(
        {c: [r[c].toArray().tolist() if hasattr(r[c], "toArray") else r[c] for r in out] for c in columns}
    )


@pytest.fixture(scope="session")
def saved_models(
    tmp_path_factory,
    spark,
    lr_pipeline,
    rf_pipeline,
    gbt_regressor_pipeline,
    text_pipeline,
    glr_pipeline,
    sql_pipeline,
    adult_train,
    text_frame,
):
    """Each fitted pipeline saved once with save_model(onnx="auto")."""
    import mlflow_sparkonnx

    root = tmp_path_factory.mktemp("models")
    example = adult_train.drop(columns=["income"]).head(300)
    paths = {}
    for name, model, input_example in [
        ("lr", lr_pipeline, example),
        ("rf", rf_pipeline, example),
        ("gbt", gbt_regressor_pipeline, spark.createDataFrame(example)),
        ("text", text_pipeline, text_frame[["text"]]),
        ("glr", glr_pipeline, example),
        ("sql", sql_pipeline, example.head(100)),
    ]:
        paths[name] = str(root / name)
        mlflow_sparkonnx.save_model(model, paths[name], input_example=input_example)
    return paths
