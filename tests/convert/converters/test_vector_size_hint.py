"""VectorSizeHint: an identity on the graph's fixed-width vectors, in every handleInvalid mode; a hint
whose size differs from the vector's width is refused (Spark refuses or drops every row)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from parity import assert_onnx_matches_spark
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import VectorAssembler, VectorSizeHint
from pyspark.ml.regression import LinearRegression

import mlflow_sparkonnx

FEATURES = ["a", "b", "c"]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    data = pd.DataFrame(rng.normal(0, 4, size=(300, 3)), columns=FEATURES)
    data.loc[0, FEATURES] = [math.nan, math.inf, -0.0]
    data.loc[1, FEATURES] = [0.0, -math.inf, 1e-300]
    data["label"] = 2 * data["a"].fillna(0) - data["b"].clip(-5, 5)
    return data


@pytest.mark.parametrize("handle_invalid", ["error", "skip", "optimistic"])
def test_vector_size_hint_passes_the_vector_on(spark, tmp_path, frame, handle_invalid):
    stages = [
        VectorAssembler(inputCols=FEATURES, outputCol="features", handleInvalid="keep"),
        VectorSizeHint(inputCol="features", size=3, handleInvalid=handle_invalid),
    ]
    assembler_and_hint = PipelineModel(
        stages=Pipeline(stages=stages).fit(spark.createDataFrame(frame)).stages
    )
    head = LinearRegression().fit(assembler_and_hint.transform(spark.createDataFrame(frame.iloc[2:])))
    model = PipelineModel(stages=[*assembler_and_hint.stages, head])
    assert_onnx_matches_spark(model, frame[FEATURES], spark, tmp_path, output_cols=["features", "prediction"])


def test_a_hint_of_another_size_fails_the_save_and_leaves_nothing(spark, tmp_path, frame):
    """Spark refuses the pipeline itself (in every mode), so the save does too."""
    assembler = VectorAssembler(inputCols=FEATURES, outputCol="features", handleInvalid="keep")
    model = PipelineModel(stages=[assembler, VectorSizeHint(inputCol="features", size=4)])
    path = tmp_path / "model"
    with pytest.raises(Exception, match="size of vectors in `features` to 4 but size already set to 3"):
        mlflow_sparkonnx.save_model(model, str(path), input_example=frame[FEATURES], output_cols=["features"])
    assert not path.exists()
