"""PolynomialExpansion: parity with Spark on a few hundred rows, among them the rows where Spark's
zero rule and its two vector layouts (dense, and sparse where VectorAssembler compresses a row)
give 0 or NaN where plain products would not."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
import yaml
from parity import assert_onnx_matches_spark
from pyspark.ml import Pipeline
from pyspark.ml.feature import PolynomialExpansion, StandardScaler, VectorAssembler

import mlflow_sparkonnx
from mlflow_sparkonnx.convert.converters.polynomial_expansion import spark_terms

FEATURES = ["x0", "x1", "x2", "x3"]
INF, NAN = math.inf, math.nan

#: Rows whose terms Spark leaves at 0 or makes NaN unlike plain products. With 4 features a row is
#: sparse (VectorAssembler's ``compressed``) when it has at most one nonzero value.
EDGE_ROWS = [
    [INF, 0.0, 0.0, 0.0],  # sparse: inf × 0 terms are 0
    [0.0, 0.0, 0.0, -INF],  # sparse
    [NAN, 0.0, 0.0, 0.0],  # sparse: NaN × 0 terms are 0
    [0.0, 1.5, 0.0, INF],  # dense: x3 · x0 multiplies inf by 0 (NaN), x0 · x3 is skipped at 0
    [INF, 1.5, 0.0, 0.0],  # dense: x0 is multiplied last, after the running product hit 0
    [NAN, 2.0, 0.0, 1.0],  # dense
    [0.5, INF, 1e-200, 1e-200],  # dense: x3 · x2 underflows to 0 before inf joins (0, not NaN)
    [1e200, 1e200, -3.0, 0.0],  # overflow to inf
    [-0.0, -0.0, 2.0, -0.0],  # sparse (one nonzero): -0.0 terms come out 0.0
    [-0.0, 1.0, 2.0, -0.0],  # dense with -0.0
    [INF, -INF, NAN, 0.0],
    [0.0, 0.0, 0.0, 0.0],
]


def frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = rng.normal(0, 3, size=(n, len(FEATURES)))
    values[rng.random(values.shape) < 0.3] = 0.0
    return pd.DataFrame(np.vstack([EDGE_ROWS, values]), columns=FEATURES)


def expansion(degree: int, *before) -> Pipeline:
    assembler = VectorAssembler(inputCols=FEATURES, outputCol="features", handleInvalid="keep")
    last = before[-1].getOutputCol() if before else "features"
    return Pipeline(
        stages=[assembler, *before, PolynomialExpansion(degree=degree, inputCol=last, outputCol="poly")]
    )


@pytest.mark.parametrize("degree", [1, 2, 3])
def test_polynomial_expansion_matches_spark_at_zeros_and_infinities(spark, tmp_path, degree):
    data = frame(300, seed=degree)
    model = expansion(degree).fit(spark.createDataFrame(data))
    assert_onnx_matches_spark(model, data, spark, tmp_path, output_cols=["poly"])


def test_the_term_order_replays_spark():
    """Spark's documented order for (x, y) at degree 2: x, x², y, x·y, y²."""
    assert spark_terms(2, 2) == [[0], [0, 0], [1], [1, 0], [1, 1]]
    assert len(spark_terms(4, 3)) == math.comb(7, 3) - 1


def test_an_input_of_unknown_layout_is_refused_and_served_by_spark(spark, tmp_path):
    data = frame(60, seed=7)
    scaler = StandardScaler(inputCol="features", outputCol="scaled")
    model = expansion(2, scaler).fit(spark.createDataFrame(data))
    path = tmp_path / "model"
    mlflow_sparkonnx.save_model(model, str(path), input_example=data, output_cols=["poly"])
    conf = yaml.safe_load((path / "MLmodel").read_text())["flavors"]["sparkonnx"]
    assert conf["onnx_status"] != "verified"
    assert "StandardScalerModel" in conf["onnx_reason"] and "VectorAssembler" in conf["onnx_reason"]


def test_the_pair_probes_catch_plain_products_that_single_probes_miss(spark, tmp_path):
    """onnxmltools' own converter multiplies plainly, so ``inf × 0`` is NaN where Spark leaves 0. The
    example has no zero, so no probe changing one input alone meets it; the pairs (one input inf, the
    other 0) do, and the model is not verified."""
    import onnxmltools.convert.sparkml.operator_converters.polynomial_expansion as upstream

    from mlflow_sparkonnx.convert.registration import restore_registration, snapshot_registration

    rng = np.random.default_rng(11)
    data = pd.DataFrame(rng.uniform(1, 3, size=(60, len(FEATURES))), columns=FEATURES)
    model = expansion(2).fit(spark.createDataFrame(data))
    previous = snapshot_registration(PolynomialExpansion)
    mlflow_sparkonnx.register_converter(
        PolynomialExpansion,
        upstream.convert_sparkml_polynomial_expansion,
        upstream.calculate_sparkml_polynomial_expansion_output_shapes,
        input_columns=lambda stage: [stage.getInputCol()],
        output_columns=lambda stage: [stage.getOutputCol()],
        overwrite=True,
    )
    try:
        path = tmp_path / "model"
        mlflow_sparkonnx.save_model(model, str(path), input_example=data, output_cols=["poly"])
    finally:
        restore_registration(previous)
    conf = yaml.safe_load((path / "MLmodel").read_text())["flavors"]["sparkonnx"]
    assert conf["onnx_status"] == "mismatch", conf["onnx_reason"]
    assert re.search(r"'x\d' = (inf|-inf|nan), 'x\d' = 0\.0", conf["onnx_reason"]), conf["onnx_reason"]
