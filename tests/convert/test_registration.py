"""The converter registry: canaries on onnxmltools' internals, and the public extension API."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import yaml
from doubling_stage import Doubler
from onnx import TensorProto
from parity import assert_onnx_matches_spark
from pyspark.ml import Pipeline
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.regression import LinearRegression

import mlflow_sparkonnx
from mlflow_sparkonnx.convert import registration
from mlflow_sparkonnx.exceptions import InvalidInputError


def test_canary_onnxmltools_tables_have_the_shapes_we_rely_on(spark):
    """If onnxmltools reorganises its three tables, this fails before any conversion goes wrong."""
    from pyspark.ml.classification import LogisticRegressionModel
    from pyspark.ml.feature import HashingTF

    names, io_map, onnxmltools_registration = registration._tables()
    assert isinstance(names, dict) and isinstance(io_map, dict)
    assert callable(onnxmltools_registration.register_converter)
    assert callable(onnxmltools_registration.register_shape_calculator)
    assert isinstance(onnxmltools_registration._converter_pool, dict)
    operator = names[LogisticRegressionModel]
    inputs, outputs = io_map[operator]
    assert callable(inputs) and callable(outputs)
    assert operator in onnxmltools_registration._converter_pool
    # onnxmltools names HashingTF without a converter; this package provides one.
    assert registration.converter_provider(HashingTF()) == "sparkonnx"


def convert_doubler(scope, operator, container) -> None:
    two = scope.get_unique_variable_name("two")
    container.add_initializer(two, TensorProto.FLOAT, [1], [2.0])
    container.add_node(
        "Mul",
        [operator.inputs[0].full_name, two],
        operator.outputs[0].full_name,
        name=scope.get_unique_operator_name("Mul"),
        op_version=7,
    )


def doubler_shape(operator) -> None:
    from onnxmltools.convert.common.data_types import FloatTensorType

    operator.outputs[0].type = FloatTensorType(list(operator.inputs[0].type.shape))


@pytest.fixture(scope="module")
def doubler_pipeline(spark):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=200), "z": rng.normal(size=200)})
    frame["label"] = 3 * frame.x - frame.z
    stages = [
        Doubler(inputCol="x", outputCol="x2"),
        VectorAssembler(inputCols=["x2", "z"], outputCol="features"),
        LinearRegression(maxIter=5),
    ]
    return Pipeline(stages=stages).fit(spark.createDataFrame(frame)), frame[["x", "z"]]


def test_custom_python_stage_without_converter_saves_and_serves_with_spark(spark, tmp_path, doubler_pipeline):
    import mlflow.pyfunc

    model, frame = doubler_pipeline
    path = tmp_path / "model"
    mlflow_sparkonnx.save_model(model, str(path), input_example=frame)
    conf = yaml.safe_load((path / "MLmodel").read_text())["flavors"]["sparkonnx"]
    assert conf["onnx_status"] == "unsupported" and "Doubler" in conf["onnx_reason"]
    loaded = mlflow.pyfunc.load_model(str(path))
    assert loaded.get_raw_model().runtime == "spark"
    assert len(loaded.predict(frame)) == len(frame)


def test_registering_a_converter_for_a_custom_stage_verifies_it(spark, tmp_path, doubler_pipeline):
    model, frame = doubler_pipeline
    mlflow_sparkonnx.register_converter(
        Doubler,
        convert_doubler,
        doubler_shape,
        input_columns=lambda stage: [stage.getInputCol()],
        output_columns=lambda stage: [stage.getOutputCol()],
    )
    assert registration.converter_provider(Doubler()) == "user"
    edge = pd.DataFrame({"x": [0.0, -0.0, 1e6, -1e-6], "z": [0.0, 1.0, -1e3, 5.0]})
    conf = assert_onnx_matches_spark(model, pd.concat([frame, edge], ignore_index=True), spark, tmp_path)
    assert conf["stages"][0].endswith("Doubler")
    # A NaN or null x gives a NaN x2, on which Spark's VectorAssembler (handleInvalid="error") raises:
    # the graph flags the computed column, so both runtimes refuse the row.
    import mlflow.pyfunc

    for runtime, message in (
        ("onnx", r"Column 'x2' \(computed from the inputs\) row 1 .*null or NaN"),
        ("spark", "Row 1"),
    ):
        loaded = mlflow.pyfunc.load_model(str(tmp_path / "model"), model_config={"runtime": runtime})
        for missing in (np.nan, None):
            with pytest.raises(InvalidInputError, match=message):
                loaded.predict(pd.DataFrame({"x": [1.0, missing], "z": [0.0, 0.0]}))
    # A second registration for the same class must be asked for explicitly.
    with pytest.raises(ValueError, match="overwrite=True"):
        mlflow_sparkonnx.register_converter(
            Doubler,
            convert_doubler,
            doubler_shape,
            input_columns=lambda stage: [stage.getInputCol()],
            output_columns=lambda stage: [stage.getOutputCol()],
        )


def test_replacing_a_builtin_converter_needs_overwrite(spark):
    from pyspark.ml.feature import Tokenizer

    with pytest.raises(ValueError, match="already registered"):
        mlflow_sparkonnx.register_converter(
            Tokenizer,
            convert_doubler,
            doubler_shape,
            input_columns=lambda stage: [stage.getInputCol()],
            output_columns=lambda stage: [stage.getOutputCol()],
        )
    assert os.environ.get("PYSPARK_PYTHON")  # the Doubler runs in Python workers
