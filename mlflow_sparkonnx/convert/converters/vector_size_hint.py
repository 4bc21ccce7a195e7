"""VectorSizeHint: Spark checks a vector column's size (and nulls) and writes size metadata in place.

The graph's vector inputs already have a fixed width, which the input schema enforces in both
runtimes (a vector of another length is refused naming the column and row), so the stage is an
identity on the values, in every ``handleInvalid`` mode: no vector reaching it can be null (an input
vector column is required) or of another size. A hint whose size differs from the width of a vector
with size metadata makes Spark refuse the pipeline itself, so the save fails before conversion; the
converter refuses any other width mismatch.
"""

from __future__ import annotations

from typing import Any

from pyspark.ml.feature import VectorSizeHint

from mlflow_sparkonnx.convert.converters import ConverterSpec
from mlflow_sparkonnx.convert.converters._graph import input_columns, node, same_float_type, width
from mlflow_sparkonnx.exceptions import UnsupportedStageError


def convert_vector_size_hint(scope: Any, operator: Any, container: Any) -> None:
    """``Identity``, after checking that the vector's width is the hinted size."""
    stage = operator.raw_operator
    size, found = int(stage.getSize()), width(operator.inputs[0])
    if found is not None and found != size and stage.getHandleInvalid() != "optimistic":
        raise UnsupportedStageError(
            f"VectorSizeHint {stage.uid} expects vectors of size {size} in '{stage.getInputCol()}', which "
            f"holds {found}: Spark refuses or drops every row; fix the hint's size to convert it"
        )
    node(
        scope,
        container,
        "Identity",
        [operator.inputs[0].full_name],
        op_version=14,
        output=operator.outputs[0].full_name,
    )


def calculate_vector_size_hint_shape(operator: Any) -> None:
    """The input's type and shape."""
    variable = operator.inputs[0]
    operator.outputs[0].type = same_float_type(variable, list(variable.type.shape))


SPECS = [
    ConverterSpec(
        VectorSizeHint,
        convert_vector_size_hint,
        calculate_vector_size_hint_shape,
        input_columns=input_columns,
        output_columns=input_columns,  # it rewrites its input column's metadata in place
    )
]
