"""Parity of the IndexToString converter: labels from Spark metadata, and after a classifier's prediction."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from parity import assert_onnx_matches_spark
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import DecisionTreeClassifier, LogisticRegression
from pyspark.ml.feature import Bucketizer, IndexToString, StringIndexer, VectorAssembler


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "color": rng.choice(["red", "green", "blue", "Grün", ""], n),
            "x": rng.normal(0, 3, n),
            "y": rng.normal(0, 1, n),
        }
    )
    frame["species"] = np.where(
        frame["x"] + frame["y"] > 1, "setosa", np.where(frame["x"] < -1, "virginica", "versicolor")
    )
    return frame


def test_labels_from_metadata_and_after_classifiers(spark, tmp_path):
    """StringIndexer(keep) and Bucketizer metadata; labelConverter after LogisticRegression and a tree."""
    train = _frame(300, 1)
    score = _frame(300, 2).drop(columns=["species"])
    score.loc[::9, "color"] = "unseen"  # keep → "__unknown", read back from the metadata
    score.loc[1::11, "x"] = 0.0
    score.loc[2::13, "x"] = -1e6
    score.loc[3::17, "y"] = 1e6
    label_indexer = StringIndexer(inputCol="species", outputCol="label")
    stages = [
        StringIndexer(inputCol="color", outputCol="color_index", handleInvalid="keep"),
        IndexToString(inputCol="color_index", outputCol="color_back"),
        Bucketizer(inputCol="x", outputCol="x_bucket", splits=[-math.inf, -1.0, 0.0, 2.5, math.inf]),
        IndexToString(inputCol="x_bucket", outputCol="x_range"),
        label_indexer,
        VectorAssembler(inputCols=["color_index", "x", "y"], outputCol="features"),
        LogisticRegression(maxIter=20),
        DecisionTreeClassifier(
            maxDepth=3,
            predictionCol="tree_prediction",
            rawPredictionCol="tree_raw",
            probabilityCol="tree_probability",
        ),
    ]
    fitted = Pipeline(stages=stages).fit(spark.createDataFrame(train))
    labels = fitted.stages[4].labels
    converters = [
        IndexToString(inputCol="prediction", outputCol="predicted_species", labels=labels),
        IndexToString(inputCol="tree_prediction", outputCol="tree_species", labels=labels),
    ]
    model = PipelineModel(stages=[*fitted.stages, *converters])
    outputs = ["color_back", "x_range", "predicted_species", "tree_species"]
    conf = assert_onnx_matches_spark(model, score, spark, tmp_path, output_cols=outputs)
    assert "species" not in [c["name"] for c in conf["inputs"]]  # the label indexer is not needed
    got = model.transform(spark.createDataFrame(score)).select(*outputs).toPandas()
    assert "__unknown" in set(got["color_back"]) and "-Infinity, -1.0" in set(got["x_range"])
    assert set(got["predicted_species"]) <= set(labels) and got["predicted_species"].nunique() > 1


def test_raw_index_column_converts_with_spark_to_int(spark, tmp_path):
    """An index read from the caller: Spark's cast to int (truncation toward zero), and a row check for
    an index outside the labels or NaN (refused in tests/scoring/test_refused_rows.py)."""
    values = [0.0, 1.0, 2.0, 2.9, 0.5, -0.5, -0.0, -0.9999, 1.9999999999999998]
    frame = pd.DataFrame({"index": [values[i % len(values)] for i in range(300)]})
    model = PipelineModel(stages=[IndexToString(inputCol="index", outputCol="label", labels=["a", "b", "c"])])
    conf = assert_onnx_matches_spark(model, frame, spark, tmp_path)
    assert [c["column"] for c in conf["row_checks"]] == ["index"]
