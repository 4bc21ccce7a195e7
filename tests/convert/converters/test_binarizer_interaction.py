"""Parity of the Binarizer and Interaction converters with Spark (scalar, vector and nominal inputs)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from parity import assert_onnx_matches_spark
from pyspark.ml import Pipeline
from pyspark.ml.feature import Binarizer, Interaction, StringIndexer, VectorAssembler

NUMERIC = ["x", "y", "z", "w", "u"]


def _rows(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: rng.normal(0, 2, n) for c in NUMERIC})
    frame["s"] = rng.choice(["red", "green", "blue"], n)
    return frame


def _spark_frame(spark, frame: pd.DataFrame):
    """A Spark frame that keeps NaN as NaN (createDataFrame(pandas) would make it null)."""
    rows = [(r.s, *(float(getattr(r, c)) for c in NUMERIC)) for r in frame.itertuples(index=False)]
    return spark.createDataFrame(rows, "s string, " + ", ".join(f"{c} double" for c in NUMERIC))


def _score_frame() -> pd.DataFrame:
    score = _rows(300, 5)
    score.loc[::7, ["y", "z", "w", "u"]] = 0.0  # sparse assembled vectors
    score.loc[1::11, "x"] = 0.0
    score.loc[2::13, "x"] = np.nan
    score.loc[3::17, "z"] = np.nan  # NaN inside a (possibly sparse) vector
    score.loc[4::19, "y"] = -1e15
    score.loc[5::23, "w"] = 1e15
    score.loc[6::29, "s"] = "unseen"  # keep → the extra index, one-hot "__unknown"
    score.loc[8::31, ["x", "y"]] = [0.5, -0.5]  # on the thresholds
    score.loc[9::37, ["x", "y", "z", "w", "u"]] = 0.0
    score.loc[10::41, "u"] = np.inf
    return score


def test_binarizer_and_interaction(spark, tmp_path):
    stages = [
        StringIndexer(inputCol="s", outputCol="si", handleInvalid="keep"),
        VectorAssembler(inputCols=["y", "z", "w", "u"], outputCol="v", handleInvalid="keep"),
        VectorAssembler(inputCols=["si", "x", "z"], outputCol="mixed", handleInvalid="keep"),
        Binarizer(inputCol="x", outputCol="bx", threshold=0.5),
        Binarizer(
            inputCols=["x", "v", "y", "v"],
            outputCols=["bx_neg", "bv_neg", "by_zero", "bv_pos"],
            thresholds=[-1.0, -0.5, 0.0, 0.5],
        ),
        Interaction(inputCols=["x", "v"], outputCol="x_v"),
        Interaction(inputCols=["si", "x"], outputCol="si_x"),
        Interaction(inputCols=["v", "si", "y"], outputCol="v_si_y"),
        Interaction(inputCols=["y", "mixed"], outputCol="y_mixed"),
        Interaction(inputCols=["x", "y", "w"], outputCol="x_y_w"),
    ]
    model = Pipeline(stages=stages).fit(_spark_frame(spark, _rows(200, 4)))
    outputs = ["bx", "bx_neg", "bv_neg", "by_zero", "bv_pos", "x_v", "si_x", "v_si_y", "y_mixed", "x_y_w"]
    frame = _spark_frame(spark, _score_frame())
    conf = assert_onnx_matches_spark(model, frame, spark, tmp_path, output_cols=outputs)
    assert conf["parity"]["rows"] == 300
    first = model.transform(frame).first()
    sizes = {name: first[name].size for name in ("si_x", "v_si_y", "y_mixed")}
    assert sizes == {"si_x": 4, "v_si_y": 16, "y_mixed": 6}  # nominal features really were one-hot encoded
