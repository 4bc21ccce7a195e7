"""Parity of the selector converters (VectorSlicer, ChiSq, Univariate, VarianceThreshold) with Spark."""

from __future__ import annotations

import numpy as np
import pandas as pd
from parity import assert_onnx_matches_spark
from pyspark.ml import Pipeline
from pyspark.ml.feature import (
    ChiSqSelector,
    UnivariateFeatureSelector,
    VarianceThresholdSelector,
    VectorAssembler,
    VectorSlicer,
)

FEATURES = ["a", "b", "c", "d", "e", "f"]


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(17)
    n = 300
    train = pd.DataFrame(
        {
            "a": rng.integers(0, 4, n).astype(float),
            "b": rng.normal(0, 1e-3, n),
            "c": rng.integers(0, 3, n).astype(float),
            "d": rng.normal(5, 10, n),
            "e": rng.integers(0, 2, n).astype(float),
            "f": 7.0,
        }
    )
    train["label"] = ((train["a"] + train["c"]) > 3).astype(float)
    score = train.drop(columns=["label"]).copy()
    score.loc[::11, FEATURES] = 0.0
    score.loc[1::13, "d"] = -1e9
    score.loc[2::17, "a"] = 1e30
    score.loc[3::19, "c"] = -4.0
    score.loc[4::23, "d"] = np.nan
    score.loc[5::29, "b"] = np.nan
    return train, score


def test_selectors_in_one_pipeline(spark, tmp_path):
    """Six selectors in one graph (two ChiSq-style gathers, two slicers): no initializer collides."""
    train, score = _frames()
    stages = [
        VectorAssembler(inputCols=FEATURES, outputCol="features", handleInvalid="keep"),
        VectorSlicer(inputCol="features", outputCol="sliced", indices=[4, 0, 3]),
        VectorSlicer(inputCol="features", outputCol="named", indices=[5], names=["d", "a"]),
        ChiSqSelector(featuresCol="features", outputCol="chi", labelCol="label", numTopFeatures=2),
        UnivariateFeatureSelector(
            featuresCol="features", outputCol="univariate", labelCol="label", selectionMode="numTopFeatures"
        )
        .setFeatureType("continuous")
        .setLabelType("categorical")
        .setSelectionThreshold(3),
        VarianceThresholdSelector(featuresCol="features", outputCol="variance", varianceThreshold=0.5),
        VectorSlicer(inputCol="chi", outputCol="chi_then_slice", indices=[1]),
    ]
    model = Pipeline(stages=stages).fit(spark.createDataFrame(train))
    fitted = {type(s).__name__: s for s in model.stages}
    assert list(fitted["ChiSqSelectorModel"].selectedFeatures) != list(range(2))  # not a prefix
    univariate = list(fitted["UnivariateFeatureSelectorModel"].selectedFeatures)
    assert univariate != sorted(univariate)  # listed by score; Spark's transform sorts them
    assert len(fitted["VarianceThresholdSelectorModel"].selectedFeatures) < len(FEATURES)
    outputs = ["sliced", "named", "chi", "univariate", "variance", "chi_then_slice"]
    conf = assert_onnx_matches_spark(model, score, spark, tmp_path, output_cols=outputs)
    assert {o["name"] for o in conf["outputs"]} == set(outputs)
