"""Save-time edge probes: rows beyond the example (nulls, NaN, ±inf, split points, unseen strings)
scored by Spark and by the graph; a graph that differs on one of them is not verified."""

from __future__ import annotations

import numpy as np
import pandas as pd
from mlmodel import flavor_block
from pyspark.ml import PipelineModel
from pyspark.ml.feature import Binarizer
from wrong_converter import temporary_converter

import mlflow_sparkonnx


def convert_binarizer_blind_to_nan(scope, operator, container) -> None:
    """``Sign(Relu(x - t))``: Spark's ``x > t`` for every number, but NaN where Spark gives 0."""
    from onnx import TensorProto

    threshold = scope.get_unique_variable_name("threshold")
    container.add_initializer(threshold, TensorProto.FLOAT, [1], [operator.raw_operator.getThreshold()])
    names = [scope.get_unique_variable_name(n) for n in ("shifted", "positive")]
    container.add_node("Sub", [operator.inputs[0].full_name, threshold], names[0], op_version=7)
    container.add_node("Relu", [names[0]], names[1], op_version=6)
    container.add_node("Sign", [names[1]], operator.outputs[0].full_name, op_version=9)


def test_a_graph_wrong_only_at_an_edge_is_not_verified(spark, tmp_path):
    model = PipelineModel(stages=[Binarizer(threshold=0.5, inputCol="x", outputCol="on")])
    example = pd.DataFrame({"x": np.linspace(-3.0, 3.0, 300)})  # no NaN: parity alone passes
    path = str(tmp_path / "blind")
    with temporary_converter(Binarizer, convert_binarizer_blind_to_nan):
        mlflow_sparkonnx.save_model(model, path, input_example=example)
    conf = flavor_block(path)
    assert conf["parity"]["outputs"]["on"]["mismatched_rows"] == 0
    assert conf["onnx_status"] == "mismatch"
    assert conf["onnx_reason"].startswith("edge probes: output 'on' differs from Spark on probe row 'x' = ")
    assert "'x' = nan" in conf["onnx_reason"] or "'x' = None" in conf["onnx_reason"]
    assert conf["parity"]["edge_probes"]["divergence"] in conf["onnx_reason"]

    right = str(tmp_path / "right")  # the package's own converter gives Spark's 0.0 for NaN
    mlflow_sparkonnx.save_model(model, right, input_example=example)
    probes = flavor_block(right)["parity"]["edge_probes"]
    assert flavor_block(right)["onnx_status"] == "verified"
    # null, NaN, ±inf, 0, -0.0, ±3.5e38, ±1e300 (the graph compares doubles: no float32 input), and the
    # threshold with its two neighbours; all scored, as in Spark
    assert flavor_block(right)["float32_inputs"] == []
    assert probes == {"rows": 13, "scored": 13, "dropped": 0, "refused": 0, "divergence": None}


def test_the_adult_pipelines_record_their_probes(saved_models):
    """Per integer input: null, 0, -1; per string input: unseen, empty, non-ASCII (a null string is
    refused before scoring, so it is no probe). A null number is refused (VectorAssembler's default
    handleInvalid), the rest scored as in Spark."""
    expected = {
        "lr": {"rows": 30, "scored": 25, "dropped": 0, "refused": 5, "divergence": None},  # 5 ints, 5 strings
        "rf": {"rows": 15, "scored": 10, "dropped": 0, "refused": 5, "divergence": None},  # 5 ints
    }
    for name, probes in expected.items():
        conf = flavor_block(saved_models[name])
        assert conf["onnx_status"] == "verified", conf["onnx_reason"]
        assert conf["parity"]["edge_probes"] == probes
        assert conf["onnx_reason"].endswith(f"and {probes['rows']} edge probes")
