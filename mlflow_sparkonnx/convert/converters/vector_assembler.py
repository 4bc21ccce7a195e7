"""VectorAssembler over inputs of mixed types (onnxmltools concatenates them as they come).

Every input (float, double, int64 such as StringIndexer's output, or bool; a scalar ``[N, 1]``,
a 1-D ``[N]`` label, or a vector ``[N, k]``) is cast to double (Spark's vector element type) and
reshaped to a matrix before one ``Concat``. ``handleInvalid="keep"`` needs nothing: NaN passes
through. With ``"error"`` (the default) Spark raises on a null or NaN number (not on a NaN inside
a vector): the input rules refuse those in raw columns, and the graph flags them in computed
number columns as a row check (a custom stage's output, an Imputer's, a SQL expression's).
With ``"skip"`` Spark drops such rows; the input rules do so for raw columns.
"""

from __future__ import annotations

import logging
from typing import Any

from pyspark.ml.feature import VectorAssembler

from mlflow_sparkonnx.convert.converters import ConverterSpec
from mlflow_sparkonnx.convert.converters._graph import as_double_matrix, is_floating, node, width
from mlflow_sparkonnx.convert.converters._metadata import column_field, producer_of
from mlflow_sparkonnx.convert.converters._row_checks import refuse_rows
from mlflow_sparkonnx.exceptions import ConversionError

_logger = logging.getLogger(__name__)

_NULL_OR_NAN = "null or NaN, which handleInvalid='error' refuses"


def convert_vector_assembler(scope: Any, operator: Any, container: Any) -> None:
    """Cast each input to a double matrix, then concatenate along columns."""
    parts = [as_double_matrix(scope, container, variable) for variable in operator.inputs]
    if operator.raw_operator.getOrDefault("handleInvalid") == "error":
        for variable, part in zip(operator.inputs, parts, strict=True):
            if _is_computed_number(scope, operator, variable):
                missing = node(scope, container, "IsNaN", [part], op_version=13)
                refuse_rows(scope, container, missing, operator.raw_operator, variable.raw_name, _NULL_OR_NAN)
    node(scope, container, "Concat", parts, op_version=13, output=operator.outputs[0].full_name, axis=1)


def _is_computed_number(scope: Any, operator: Any, variable: Any) -> bool:
    """A number column an upstream stage computes (float or double; not a vector, not an index)."""
    if width(variable) != 1 or not is_floating(variable) or producer_of(scope, variable) is None:
        return False
    from pyspark.ml.linalg import VectorUDT

    try:
        field = column_field(scope, operator, variable)
    except ConversionError as exc:  # no SparkSession to ask: a [N, 1] column is most likely a number
        _logger.info("Treating column '%s' as a number: %s", variable.raw_name, exc)
        return True
    return field is not None and not isinstance(field.dataType, VectorUDT)


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
