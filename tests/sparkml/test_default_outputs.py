"""The outputs a save picks when the caller names none (``sparkml.pipeline.default_output_columns``)."""

from __future__ import annotations

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlmodel import flavor_block
from pyspark.ml import Pipeline
from pyspark.ml.clustering import LDA
from pyspark.ml.feature import RFormula
from pyspark.ml.linalg import Vectors

import mlflow_sparkonnx


def test_an_rformula_alone_outputs_its_features(spark, adult_train, tmp_path):
    """Its label column exists only when the caller sends the label, so the features are the output."""
    train = adult_train[["age", "workclass", "hours_per_week", "income"]].head(500)
    model = Pipeline(stages=[RFormula(formula="income ~ age + workclass + hours_per_week")]).fit(
        spark.createDataFrame(train)
    )
    path = str(tmp_path / "rformula")
    mlflow_sparkonnx.save_model(model, path, input_example=train.drop(columns=["income"]).head(200))
    block = flavor_block(path)
    assert [c["name"] for c in block["outputs"]] == ["features"]
    assert block["onnx_status"] == "verified", block["onnx_reason"]


def test_an_lda_model_outputs_its_topic_distribution(spark, tmp_path):
    """A DistributedLDAModel (no predictionCol): the topic distribution, scored like Spark."""
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"counts": [Vectors.dense(rng.poisson(2.0, 6).astype(float)) for _ in range(60)]})
    lda = LDA(k=3, maxIter=5, optimizer="em", featuresCol="counts", seed=1)
    model = Pipeline(stages=[lda]).fit(spark.createDataFrame(frame))
    assert type(model.stages[0]).__name__ == "DistributedLDAModel"
    example = pd.DataFrame({"counts": [v.toArray().tolist() for v in frame["counts"]]})
    path = str(tmp_path / "lda")
    mlflow_sparkonnx.save_model(model, path, input_example=example)
    assert [c["name"] for c in flavor_block(path)["outputs"]] == ["topicDistribution"]

    scored = mlflow.pyfunc.load_model(path, model_config={"runtime": "spark"}).predict(example.head(10))
    # Spark's LDA inference starts from random values on every transform (two calls on the same
    # model differ by ~1e-5), so the Spark runtime is compared with Spark within that noise.
    expected = model.transform(spark.createDataFrame(frame.head(10))).select("topicDistribution").collect()
    np.testing.assert_allclose(
        np.array(scored["topicDistribution"].tolist()),
        np.array([r[0].toArray() for r in expected]),
        atol=1e-3,
    )
