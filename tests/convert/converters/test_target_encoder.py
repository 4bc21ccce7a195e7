"""TargetEncoderModel (Spark 4): parity with Spark on a few hundred rows with edge values (fitted
categories, -0.0, unseen indices, Spark's own -1 and 2147483647 entries, fractions, NaN), binary and
continuous targets, with and without smoothing; under ``handleInvalid="error"`` an unseen value is
refused in both runtimes."""

from __future__ import annotations

import math

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from parity import assert_onnx_matches_spark
from pyspark.ml import PipelineModel

import mlflow_sparkonnx

feature = pytest.importorskip("pyspark.ml.feature")
TargetEncoder = feature.TargetEncoder

EDGES = [-0.0, 7.0, -1.0, 2147483647.0, 0.5, math.nan, 1e300, -3.0]


@pytest.fixture(scope="module")
def training(spark):
    """Columns a (5 categories) and b (3, with nulls: Spark keeps a null entry), two targets."""
    rng = np.random.default_rng(4)
    a, b = rng.integers(0, 5, 400).astype(float), rng.integers(0, 3, 400).astype(float)
    rows = [
        (
            float(a[i]),
            None if i % 13 == 0 else float(b[i]),
            float(a[i] % 2 == 0 or rng.random() < 0.2),
            float(rng.normal() + a[i]),
        )
        for i in range(400)
    ]
    return spark.createDataFrame(rows, "a double, b double, label double, y double")


def fitted(training, target: str, smoothing: float, handle_invalid: str):
    label = "label" if target == "binary" else "y"
    encoder = TargetEncoder(
        inputCols=["a", "b"], outputCols=["ae", "be"], labelCol=label, targetType=target, smoothing=smoothing
    )
    return PipelineModel(stages=[encoder.fit(training).setHandleInvalid(handle_invalid)])


def scoring_frame(n: int, with_edges: bool) -> pd.DataFrame:
    rng = np.random.default_rng(8)
    frame = pd.DataFrame({"a": rng.integers(0, 5, n).astype(float), "b": rng.integers(0, 3, n).astype(float)})
    frame.loc[0, ["a", "b"]] = -0.0
    if with_edges:
        for i, value in enumerate(EDGES):
            frame.loc[1 + i, "a"] = value
            frame.loc[10 + i, "b"] = value
    return frame


def as_spark(spark, frame: pd.DataFrame):
    """A Spark frame holding NaN as NaN (pandas conversion would make it null, which this stage
    encodes differently; the pyfunc reads a float column's NaN as NaN)."""
    rows = [tuple(float(v) for v in row) for row in frame.itertuples(index=False)]
    return spark.createDataFrame(rows, "a double, b double")


@pytest.mark.parametrize(("target", "smoothing"), [("binary", 0.0), ("binary", 2.5), ("continuous", 1.0)])
def test_encodings_equal_sparks_with_unseen_values_kept(spark, tmp_path, training, target, smoothing):
    model = fitted(training, target, smoothing, "keep")
    frame = as_spark(spark, scoring_frame(300, with_edges=True))
    assert_onnx_matches_spark(model, frame, spark, tmp_path, abs_tol=0.0, rel_tol=0.0)


def test_error_mode_scores_fitted_categories_and_refuses_the_rest(spark, tmp_path, training):
    model = fitted(training, "binary", 1.0, "error")
    assert_onnx_matches_spark(
        model, scoring_frame(300, with_edges=False), spark, tmp_path, abs_tol=0.0, rel_tol=0.0
    )
    loaded = {
        r: mlflow.pyfunc.load_model(str(tmp_path / "model"), model_config={"runtime": r})
        for r in ("onnx", "spark")
    }
    for value in (7.0, 0.5, math.nan, 2147483647.0):
        frame = scoring_frame(4, with_edges=False)
        frame.loc[2, "b"] = value
        for runtime, pyfunc in loaded.items():
            with pytest.raises(mlflow_sparkonnx.InvalidInputError, match=r"'b' row 2|row 2 .*'b'") as caught:
                pyfunc.predict(frame)
            assert "Unseen value" in str(caught.value) or "fitted categories" in str(caught.value), runtime
