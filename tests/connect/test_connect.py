"""Saving, loading and scoring from Spark Connect sessions, against a server on this machine's disk
and one whose file system the client cannot see (see conftest.py).

The pipelines are fitted through the Connect session, so they are the server's models; Spark's own
``transform`` of them, through the same session, is what every answer is compared with.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from adult_data import CATEGORICAL, NUMERIC
from mlmodel import flavor_block

import mlflow_sparkonnx
from mlflow_sparkonnx.exceptions import RuntimeUnavailableError

pytestmark = pytest.mark.connect
OUTPUTS = ["prediction", "probability"]


@pytest.fixture(scope="module")
def fitted(connect, adult_train):
    """(kind, session, {"lr": ..., "rf": ...}) fitted on the server."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression, RandomForestClassifier
    from pyspark.ml.feature import OneHotEncoder, StringIndexer, VectorAssembler

    kind, spark = connect
    train = spark.createDataFrame(adult_train.head(3000))
    idx = [f"{c}_idx" for c in CATEGORICAL]
    ohe = [f"{c}_ohe" for c in CATEGORICAL]
    lr = Pipeline(
        stages=[
            StringIndexer(inputCols=CATEGORICAL, outputCols=idx, handleInvalid="keep"),
            OneHotEncoder(inputCols=idx, outputCols=ohe, handleInvalid="keep"),
            VectorAssembler(inputCols=ohe + NUMERIC, outputCol="features"),
            StringIndexer(inputCol="income", outputCol="label"),
            LogisticRegression(maxIter=20, regParam=0.01),
        ]
    ).fit(train)
    rf = Pipeline(
        stages=[
            StringIndexer(inputCol="income", outputCol="label"),
            VectorAssembler(inputCols=NUMERIC, outputCol="features"),
            RandomForestClassifier(numTrees=10, maxDepth=5, seed=3),
        ]
    ).fit(train)
    return kind, spark, {"lr": lr, "rf": rf}


@pytest.fixture(scope="module")
def rows(adult_holdout) -> pd.DataFrame:
    return adult_holdout[CATEGORICAL + NUMERIC].head(150).assign(row_id=range(150))


@pytest.fixture(scope="module")
def saved(fitted, adult_train, tmp_path_factory) -> dict[str, str]:
    """Each pipeline saved into the client's /tmp, which the separate server cannot see."""
    _, _, models = fitted
    root = tmp_path_factory.mktemp("connect-models")
    example = adult_train.drop(columns=["income"]).head(100)
    paths = {}
    for name, model in models.items():
        paths[name] = str(root / name)
        mlflow_sparkonnx.save_model(model, paths[name], input_example=example)
    return paths


def spark_answers(fitted, name: str, rows: pd.DataFrame) -> pd.DataFrame:
    """Spark's own transform of ``rows`` through the Connect session, in row order."""
    _, spark, models = fitted
    scored = models[name].transform(spark.createDataFrame(rows)).select("row_id", *OUTPUTS).toPandas()
    scored = scored.sort_values("row_id").reset_index(drop=True)
    scored["probability"] = [
        np.asarray(v.toArray() if hasattr(v, "toArray") else v) for v in scored["probability"]
    ]
    return scored


def assert_same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    np.testing.assert_array_equal(got["prediction"].to_numpy(), expected["prediction"].to_numpy())
    np.testing.assert_allclose(np.vstack(got["probability"]), np.vstack(expected["probability"]), atol=1e-4)


def test_save_model_fetches_a_whole_archive_and_verifies_the_graph(fitted, saved):
    _, _, models = fitted
    for name, path in saved.items():
        conf = flavor_block(path)
        assert conf["onnx_status"] == "verified", conf["onnx_reason"]
        with zipfile.ZipFile(Path(path) / "sparkml.zip") as zf:
            names = zf.namelist()
        for stage in models[name].stages:  # every stage's metadata and the pipeline's came back
            assert any(f"_{stage.uid}/metadata/part-" in n for n in names), (stage.uid, names)
        assert any(n.startswith("metadata/part-") for n in names)


@pytest.mark.parametrize("name", ["lr", "rf"])
def test_the_onnx_runtime_answers_as_spark(fitted, saved, rows, name):
    model = mlflow.pyfunc.load_model(saved[name])
    assert model.get_raw_model().runtime == "onnx"
    assert_same(model.predict(rows), spark_answers(fitted, name, rows))


def test_the_spark_runtime_and_transform_through_a_shared_staging_folder(fitted, saved, rows, shared_staging):
    _, spark, _ = fitted
    expected = spark_answers(fitted, "rf", rows)
    by_spark = mlflow.pyfunc.load_model(saved["rf"], model_config={"runtime": "spark"})
    assert by_spark.get_raw_model().runtime == "spark"
    assert_same(by_spark.predict(rows), expected)
    frame = spark.createDataFrame(rows)
    for runtime in ("spark", "onnx"):
        scored = mlflow_sparkonnx.transform(frame, saved["rf"], runtime=runtime).select("row_id", *OUTPUTS)
        assert_same(scored.toPandas().sort_values("row_id").reset_index(drop=True), expected)
    assert not list(shared_staging.iterdir()), "staged copies are removed once the server has read them"


def test_without_a_shared_staging_folder(fitted, saved, rows):
    """The local server reads the client's default staging folder; the separate one cannot, and says
    which setting to change instead of failing inside Spark."""
    kind, spark, _ = fitted
    frame = spark.createDataFrame(rows)
    if kind == "local":
        scored = mlflow_sparkonnx.transform(frame, saved["lr"], runtime="spark").select("row_id", *OUTPUTS)
        assert_same(
            scored.toPandas().sort_values("row_id").reset_index(drop=True), spark_answers(fitted, "lr", rows)
        )
        return
    with pytest.raises(RuntimeUnavailableError, match="MLFLOW_DFS_TMP"):
        mlflow_sparkonnx.transform(frame, saved["lr"], runtime="spark")


def test_log_model_and_spark_udf_from_a_tracking_server(fitted, rows, adult_train, tracking_server):
    """Through an HTTP tracking server the server's Python workers fetch the model themselves."""
    from pyspark.sql import functions as F

    kind, spark, models = fitted
    name = f"connect-lr-{kind}"
    with mlflow.start_run(experiment_id=tracking_server.experiment_id):
        info = mlflow_sparkonnx.log_model(
            models["lr"],
            name="model",
            input_example=adult_train.drop(columns=["income"]).head(100),
            registered_model_name=name,
        )
    assert info.flavors["sparkonnx"]["onnx_status"] == "verified"
    udf = mlflow.pyfunc.spark_udf(spark, f"models:/{name}/1")
    names = info.signature.inputs.input_names()
    scored = spark.createDataFrame(rows).withColumn("scores", udf(*[F.col(n) for n in names]))
    got = scored.select("row_id", "scores.*").toPandas().sort_values("row_id").reset_index(drop=True)
    assert_same(got, spark_answers(fitted, "lr", rows))


def test_converters_that_read_the_jvm_save_native_only_and_score_with_spark(
    connect, adult_train, shared_staging, tmp_path
):
    """RFormula and BisectingKMeans convert from their JVM objects, which a Connect client cannot reach:
    the save succeeds native-only with that reason, and the Spark runtime scores the model."""
    from pyspark.ml import Pipeline
    from pyspark.ml.clustering import BisectingKMeans
    from pyspark.ml.feature import RFormula, VectorAssembler
    from pyspark.ml.regression import LinearRegression

    _, spark = connect
    frame = adult_train[["age", "education_num", "workclass", "hours_per_week"]].head(400)
    train = spark.createDataFrame(frame)
    pipelines = {
        "rformula": Pipeline(
            stages=[RFormula(formula="hours_per_week ~ age + workclass"), LinearRegression(maxIter=5)]
        ),
        "bisecting": Pipeline(
            stages=[
                VectorAssembler(inputCols=["age", "education_num"], outputCol="features"),
                BisectingKMeans(k=3, seed=1),
            ]
        ),
    }
    for name, pipeline in pipelines.items():
        model = pipeline.fit(train)
        path = str(tmp_path / name)
        mlflow_sparkonnx.save_model(
            model, path, input_example=frame.drop(columns=["hours_per_week"]).head(50)
        )
        conf = flavor_block(path)
        assert conf["onnx_status"] == "unsupported", conf["onnx_reason"]
        assert "Spark Connect" in conf["onnx_reason"]
        loaded = mlflow.pyfunc.load_model(path)
        assert loaded.get_raw_model().runtime == "spark"
        rows = frame.drop(columns=["hours_per_week"]).head(30)
        expected = model.transform(spark.createDataFrame(rows)).select("prediction").toPandas()
        np.testing.assert_allclose(
            loaded.predict(rows)["prediction"].to_numpy(), expected["prediction"].to_numpy()
        )
