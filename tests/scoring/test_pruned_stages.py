"""Stages the outputs do not need: dropped, unless Spark's answer for a row depends on them.

A stage with ``handleInvalid="skip"`` filters rows even when its output is not selected: both
runtimes keep it and give null outputs for the rows Spark drops. A stage that raises on a row
(k-means on a zero vector under cosine distance) does so in a projection of a column nobody
selects; whether Spark computes it depends on the plan (column pruning skips it, folding a local
relation does not): it stays dropped, and the outputs are the values Spark gives them.
The training label's indexer stays dropped: Spark skips it when callers send no label.
"""

from __future__ import annotations

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from mlmodel import flavor_block
from pyspark.ml import Pipeline
from pyspark.ml.clustering import KMeans
from pyspark.ml.feature import OneHotEncoder, StringIndexer, VectorAssembler

import mlflow_sparkonnx

CATS = ["workclass", "education", "marital_status"]


@pytest.fixture(scope="module")
def marital_only(spark, adult_train, tmp_path_factory):
    """Three indexed and encoded columns (skip), only marital_status's vector as the output."""
    stages = [
        StringIndexer(inputCols=CATS, outputCols=[f"{c}_i" for c in CATS], handleInvalid="skip"),
        OneHotEncoder(inputCols=[f"{c}_i" for c in CATS], outputCols=[f"{c}_v" for c in CATS]),
    ]
    model = Pipeline(stages=stages).fit(spark.createDataFrame(adult_train[CATS]))
    path = str(tmp_path_factory.mktemp("pruned") / "marital")
    mlflow_sparkonnx.save_model(
        model, path, input_example=adult_train[CATS].head(300), output_cols=["marital_status_v"]
    )
    return model, path


def test_a_skip_indexer_whose_output_is_not_an_output_is_kept(marital_only):
    conf = flavor_block(marital_only[1])
    assert conf["onnx_status"] == "verified", conf["onnx_reason"]
    assert conf["dropped_stages"] == []
    assert [c["name"] for c in conf["inputs"]] == CATS
    assert set(conf["closed_categories"]) == set(CATS)


@pytest.mark.parametrize("runtime", ["onnx", "spark"])
def test_rows_spark_drops_for_an_unneeded_column_get_null_outputs(
    spark, marital_only, adult_holdout, runtime
):
    model, path = marital_only
    frame = adult_holdout[CATS].head(300).reset_index(drop=True)
    frame.loc[::7, "workclass"] = "Astronaut"
    frame.loc[3::11, "education"] = ""
    frame["row"] = np.arange(len(frame))
    kept_by_spark = model.transform(spark.createDataFrame(frame)).select("row", "marital_status_v").toPandas()
    assert 0 < len(kept_by_spark) < len(frame)  # Spark dropped some rows

    got = mlflow.pyfunc.load_model(path, model_config={"runtime": runtime}).predict(frame[CATS])
    assert len(got) == len(frame)
    dropped = sorted(set(frame["row"]) - set(kept_by_spark["row"]))
    assert all(got["marital_status_v"][r] is None for r in dropped)
    for row, vector in zip(kept_by_spark["row"], kept_by_spark["marital_status_v"], strict=True):
        assert list(got["marital_status_v"][row]) == list(vector.toArray())


def test_the_label_indexer_stays_dropped_when_the_example_holds_the_label(lr_pipeline, adult_train, tmp_path):
    path = str(tmp_path / "with-label")
    mlflow_sparkonnx.save_model(lr_pipeline, path, input_example=adult_train.head(50), onnx=False)
    conf = flavor_block(path)
    assert conf["dropped_stages"] == ["pyspark.ml.feature.StringIndexerModel"]
    assert "income" not in [c["name"] for c in conf["inputs"]]


def test_a_stage_that_raises_in_an_unselected_column_stays_dropped(spark, tmp_path):
    """Cosine k-means on (a, b) raises on a zero vector; only the Euclidean one on (c, d) is the output."""
    rng = np.random.default_rng(3)
    train = pd.DataFrame(rng.normal(size=(200, 4)) + 2.0, columns=["a", "b", "c", "d"])
    stages = [
        VectorAssembler(inputCols=["a", "b"], outputCol="ab"),
        VectorAssembler(inputCols=["c", "d"], outputCol="cd"),
        KMeans(k=3, seed=1, featuresCol="ab", predictionCol="cosine_cluster", distanceMeasure="cosine"),
        KMeans(k=3, seed=2, featuresCol="cd", predictionCol="cluster"),
    ]
    model = Pipeline(stages=stages).fit(spark.createDataFrame(train))
    path = str(tmp_path / "kmeans")
    mlflow_sparkonnx.save_model(model, path, input_example=train.head(100), output_cols=["cluster"])
    conf = flavor_block(path)
    assert conf["onnx_status"] == "verified", conf["onnx_reason"]
    assert [s.rsplit(".", 1)[1] for s in conf["dropped_stages"]] == ["VectorAssembler", "KMeansModel"]

    frame = train.head(5).copy()
    frame.loc[2, ["a", "b"]] = 0.0
    with pytest.raises(Exception, match="zero-length"):
        model.transform(spark.createDataFrame(frame)).collect()  # computing every column, Spark raises
    # 'cluster' reads c and d only: Spark's value for it, from the same rows with a nonzero (a, b).
    fixed = frame.assign(a=1.0, b=1.0)
    expected = [r.cluster for r in model.transform(spark.createDataFrame(fixed)).select("cluster").collect()]
    for runtime in ("onnx", "spark"):
        got = mlflow.pyfunc.load_model(path, model_config={"runtime": runtime}).predict(frame)
        assert got["cluster"].tolist() == expected
