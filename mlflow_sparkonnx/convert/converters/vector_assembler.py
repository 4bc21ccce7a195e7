"""VectorAssembler over inputs of mixed types (onnxmltools concatenates them as they come).

Every input (float, double, int64 such as StringIndexer's output, or bool; a scalar ``[N, 1]``,
a 1-D ``[N]`` label, or a vector ``[N, k]``) is cast to double (Spark's vector element type) and
reshaped to a matrix before one ``Concat``. ``handleInvalid`` needs nothing here: NaN passes
through (``keep``) and Spark raises (``error``) or drops the row (``skip``) on its own.
"""

from __future__ import annotations

from typing import Any

from pyspark.ml.feature import VectorAssembler

from mlflow_sparkonnx.convert.converters import ConverterSpec
from mlflow_sparkonnx.convert.converters._graph import as_double_matrix, node, width


def convert_vector_assembler(scope: Any, operator: Any, container: Any) -> None:
    """Cast each input to a double matrix, then concatenate along columns."""
    parts = [as_double_matrix(scope, container, variable) for variable in operator.inputs]
    node(scope, container, "Concat", parts, op_version=13, output=operator.outputs[0].full_name, axis=1)


def calculate_vector_assembler_shapes(operator: Any) -> None:
    """Double ``[N, sum of widths]`` (width unknown if any input's is)."""
    from onnxmltools.convert.common.data_types import DoubleTensorType

    widths = [width(variable) for variable in operator.inputs]
    total = None if any(w is None for w in widths) else sum(w for w in widths if w is not None)
    operator.outputs[0].type = DoubleTensorType([operator.inputs[0].type.shape[0], total])


SPECS = [
    ConverterSpec(
        VectorAssembler,
        convert_vector_assembler,
        calculate_vector_assembler_shapes,
        input_columns=lambda stage: list(stage.getOrDefault("inputCols")),
        output_columns=lambda stage: [stage.getOrDefault("outputCol")],
        replaces_onnxmltools=True,
    )
]
