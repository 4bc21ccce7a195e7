"""Parity of BisectingKMeans (tree descent), GaussianMixture and KMeans with Spark, both distance measures."""

from __future__ import annotations

import numpy as np
import pandas as pd
from parity import assert_onnx_matches_spark
from pyspark.ml import Pipeline
from pyspark.ml.clustering import BisectingKMeans, BisectingKMeansModel, GaussianMixture, KMeans
from pyspark.ml.feature import VectorAssembler

COLUMNS = ["a", "b", "c"]
CENTERS = [(0, 0, 0), (6, 6, 0), (0, 9, 3), (9, 0, -4), (-5, 4, 8)]


def _blobs(n_per: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    points = np.vstack([rng.normal(c, 1.5, (n_per, 3)) for c in CENTERS])
    return pd.DataFrame(points, columns=COLUMNS)


def _score(seed: int, with_zeros: bool) -> pd.DataFrame:
    """Points spread between the clusters (where tree descent and nearest leaf disagree), plus edge rows."""
    rng = np.random.default_rng(seed)
    score = pd.DataFrame(rng.uniform(-8, 12, (300, 3)), columns=COLUMNS)
    score.loc[3::17, "a"] = -1e6
    score.loc[4::19, "b"] = 1e7
    score.loc[5::23, ["a", "b", "c"]] = [-3.0, -2.0, -1.0]
    if with_zeros:
        score.loc[::13, COLUMNS] = 0.0
        score.loc[1::11, "c"] = 0.0
    return score


def _leaf_center_disagreements(model, spark, score: pd.DataFrame, prediction: str) -> int:
    """Rows whose Spark prediction is not the nearest leaf center (squared Euclidean)."""
    bkm = next(
        s for s in model.stages if isinstance(s, BisectingKMeansModel) and s.getPredictionCol() == prediction
    )
    centers = np.array([c for c in bkm.clusterCenters()])
    got = np.array([r[0] for r in model.transform(spark.createDataFrame(score)).select(prediction).collect()])
    nearest = ((score[COLUMNS].to_numpy()[:, None, :] - centers[None]) ** 2).sum(axis=2).argmin(axis=1)
    return int((got != nearest).sum())


def test_euclidean_clustering(spark, tmp_path):
    stages = [
        VectorAssembler(inputCols=COLUMNS, outputCol="features"),
        BisectingKMeans(k=5, seed=3, predictionCol="bkm"),
        GaussianMixture(k=4, seed=4, predictionCol="gmm", probabilityCol="gmm_probability"),
        KMeans(k=5, seed=5, predictionCol="kmeans"),
    ]
    model = Pipeline(stages=stages).fit(spark.createDataFrame(_blobs(60, 1)))
    score = _score(2, with_zeros=True)
    assert _leaf_center_disagreements(model, spark, score, "bkm") > 0  # descent ≠ nearest leaf here
    outputs = ["bkm", "gmm", "gmm_probability", "kmeans"]
    conf = assert_onnx_matches_spark(model, score, spark, tmp_path, output_cols=outputs)
    assert conf["parity"]["rows"] == len(score)


def test_cosine_clustering(spark, tmp_path):
    """Cosine distance (Spark refuses zero vectors, so the rows have none)."""
    stages = [
        VectorAssembler(inputCols=COLUMNS, outputCol="features"),
        BisectingKMeans(k=4, seed=6, predictionCol="bkm_cos", distanceMeasure="cosine"),
        KMeans(k=4, seed=7, predictionCol="kmeans_cos", distanceMeasure="cosine"),
    ]
    model = Pipeline(stages=stages).fit(spark.createDataFrame(_blobs(60, 8)))
    score = _score(9, with_zeros=False)
    conf = assert_onnx_matches_spark(model, score, spark, tmp_path, output_cols=["bkm_cos", "kmeans_cos"])
    assert conf["parity"]["rows"] == len(score)


def test_gaussian_mixture_singular_covariance(spark, tmp_path):
    """A constant feature makes every covariance singular: Spark's pseudo-inverse and pseudo-determinant."""
    seed = 11
    train = _blobs(60, seed)
    train["c"] = 2.0
    score = _score(seed + 1, with_zeros=True)
    score.loc[::7, "c"] = 2.0
    stages = [
        VectorAssembler(inputCols=COLUMNS, outputCol="features"),
        GaussianMixture(k=3, seed=seed, predictionCol="gmm", probabilityCol="gmm_probability"),
    ]
    model = Pipeline(stages=stages).fit(spark.createDataFrame(train))
    assert_onnx_matches_spark(model, score, spark, tmp_path, output_cols=["gmm", "gmm_probability"])
