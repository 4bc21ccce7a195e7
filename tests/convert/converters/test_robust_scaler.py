"""Parity of the RobustScalerModel converter with Spark: centering, scaling, quantiles, zero ranges."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from parity import assert_onnx_matches_spark
from pyspark.ml import Pipeline
from pyspark.ml.feature import RobustScaler, VectorAssembler

COLUMNS = ["a", "b", "c", "k", "z"]


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training rows (``k`` constant, ``z`` mostly zero: zero ranges), scoring rows with edge values."""
    rng = np.random.default_rng(31)
    n = 300
    z = np.zeros(n)
    z[::50] = 3.0
    train = pd.DataFrame(
        {
            "a": rng.normal(0, 1, n),
            "b": rng.normal(100, 30, n),
            "c": rng.exponential(5, n),
            "k": 4.0,
            "z": z,
        }
    )
    score = train.copy()
    score.loc[::13, ["a", "b", "c"]] = 0.0
    score.loc[3::17, "a"] = -1e6
    score.loc[4::19, "b"] = 1e9
    score.loc[5::23, "k"] = -2.0
    score.loc[6::29, COLUMNS] = 0.0
    score.loc[7::31, "c"] = np.nan
    score.loc[8::37, "k"] = np.nan  # NaN on a zero-range feature: NaN * 0 stays NaN in Spark
    score.loc[9::41, "z"] = -1e30
    return train, score


#: (withCentering, withScaling, lower, upper): each combination is one scaler of the same pipeline.
SETTINGS = [
    (False, True, 0.25, 0.75),
    (True, True, 0.25, 0.75),
    (True, False, 0.1, 0.9),
    (True, True, 0.05, 0.6),
]


def test_robust_scaler_settings(spark, tmp_path, frames):
    """Four RobustScalers on one assembled vector: one Spark fit, one save, every combination checked."""
    train, score = frames
    scalers = [
        RobustScaler(
            inputCol="features",
            outputCol=f"scaled_{i}",
            withCentering=centering,
            withScaling=scaling,
            lower=lower,
            upper=upper,
        )
        for i, (centering, scaling, lower, upper) in enumerate(SETTINGS)
    ]
    stages = [VectorAssembler(inputCols=COLUMNS, outputCol="features", handleInvalid="keep"), *scalers]
    model = Pipeline(stages=stages).fit(spark.createDataFrame(train))
    fitted = model.stages[1:]
    assert all(s.range[3] == 0.0 and s.range[4] == 0.0 for s in fitted)  # real zero ranges
    assert len({tuple(s.range.toArray()) for s in fitted}) > 1  # the quantiles matter
    outputs = [s.getOutputCol() for s in fitted]
    conf = assert_onnx_matches_spark(model, score, spark, tmp_path, output_cols=outputs)
    assert conf["parity"]["rows"] == len(score)
