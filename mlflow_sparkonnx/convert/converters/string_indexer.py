"""StringIndexerModel: ``handleInvalid`` honoured, string and numeric input columns.

The fitted ``labelsArray`` already encodes ``stringOrderType``. Output is int64 ``[N, 1]``
like onnxmltools' (so IndexToString still works); VectorAssembler casts it to float.

- ``keep``: an unseen value maps to ``len(labels)``, as in Spark.
- ``error``: Spark raises on an unseen value (NaN and null included); the graph maps it to -1
  and flags the row as a row check, which the ONNX runtime refuses (a raw string column is
  refused earlier by the input rules, with its categories named).
- ``skip``: Spark drops the row; the graph maps the value to -1, as onnxmltools does.

Spark indexes a numeric column by casting it to string ("1" for 1 as bigint, "1.0" as
double). The graph's numeric inputs are float32, so each label is parsed back to a number
and looked up as float32 (exact for labels that are float32-representable, e.g. integers
below 2**24); "-0.0" and "0.0" are distinct labels in Spark and in the graph. A label that
does not parse, or two labels equal in float32, make the conversion fail with a message rather
than index silently wrong.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from pyspark.ml.feature import StringIndexerModel

from mlflow_sparkonnx.convert.converters import ConverterSpec
from mlflow_sparkonnx.convert.converters._graph import (
    DOUBLE,
    FLOAT,
    INT64,
    constant,
    input_columns,
    is_double,
    lookup_numbers,
    node,
    output_columns,
)
from mlflow_sparkonnx.convert.converters._row_checks import refuse_rows
from mlflow_sparkonnx.exceptions import ConversionError

_logger = logging.getLogger(__name__)

_UNSEEN = "a value not seen when the pipeline was fitted (handleInvalid='error'; Spark: 'Unseen label')"


def _numeric_keys(labels: list[str], column: str) -> tuple[list[float], list[int], int | None]:
    """Double keys and their indices, and the index of the label "-0.0" (None if absent)."""
    try:
        keys = np.array([float(label) for label in labels], dtype=np.float64)
    except ValueError as exc:
        raise ConversionError(
            f"StringIndexer on numeric column '{column}': a label is not a number ({exc})."
        ) from exc
    negative_zero = [i for i, k in enumerate(keys) if k == 0.0 and np.signbit(k)]
    kept = [i for i in range(len(keys)) if i not in negative_zero]
    if np.isnan(keys).any() or len(np.unique(keys[kept])) != len(kept):
        raise ConversionError(
            f"StringIndexer on numeric column '{column}': its labels are not distinct numbers; "
            "index a string column instead."
        )
    return [float(keys[i]) for i in kept], kept, (negative_zero[0] if negative_zero else None)


def _index_numbers(
    scope: Any, container: Any, variable: Any, labels: list[str], default: int, output: str
) -> None:
    """Exact key lookup; -0.0 (a label of its own in Spark, "-0.0") is told apart by 1/x < 0."""
    keys, indices, negative_zero_index = _numeric_keys(labels, variable.raw_name)
    double = is_double(variable)
    if not double and len(set(np.float32(keys).tolist())) != len(keys):
        raise ConversionError(
            f"StringIndexer on numeric column '{variable.raw_name}': its labels are not distinct "
            "float32 numbers and its input is float32."
        )
    x = variable.full_name
    encoded = lookup_numbers(
        scope, container, x, x_is_double=double, keys=keys, values=indices, default=default
    )
    zero_type = DOUBLE if double else FLOAT
    zero = constant(scope, container, "si_zero", zero_type, [1], [0.0])
    one = constant(scope, container, "si_one", zero_type, [1], [1.0])
    is_negative_zero = node(
        scope,
        container,
        "And",
        [
            node(scope, container, "Equal", [x, zero], op_version=13),
            node(
                scope,
                container,
                "Less",
                [node(scope, container, "Div", [one, x], op_version=14), zero],
                op_version=13,
            ),
        ],
        op_version=7,
    )
    target = default if negative_zero_index is None else negative_zero_index
    index = constant(scope, container, "si_negative_zero_index", INT64, [1], [target])
    node(scope, container, "Where", [is_negative_zero, index, encoded], op_version=9, output=output)


def convert_string_indexer(scope: Any, operator: Any, container: Any) -> None:
    """One ``LabelEncoder`` (ai.onnx.ml opset 2) per input column."""
    from onnxmltools.convert.common.data_types import StringTensorType

    stage = operator.raw_operator
    keep = stage.getHandleInvalid() == "keep"
    unseen_index = None  # the index an unseen value gets when Spark raises on it
    if stage.getHandleInvalid() == "error":
        unseen_index = constant(scope, container, "si_unseen", INT64, [1], [-1])
    for variable, output, labels in zip(operator.inputs, operator.outputs, stage.labelsArray, strict=True):
        labels = list(labels)
        default = len(labels) if keep else -1
        if not isinstance(variable.type, StringTensorType):
            _index_numbers(scope, container, variable, labels, default, output.full_name)
        else:
            node(
                scope,
                container,
                "LabelEncoder",
                [variable.full_name],
                op_domain="ai.onnx.ml",
                op_version=2,
                output=output.full_name,
                keys_strings=labels,
                values_int64s=list(range(len(labels))),
                default_int64=default,
            )
        if unseen_index is not None:
            unseen = node(scope, container, "Equal", [output.full_name, unseen_index], op_version=13)
            refuse_rows(scope, container, unseen, stage, variable.raw_name, _UNSEEN)


def calculate_string_indexer_shapes(operator: Any) -> None:
    """Int64, the input's shape; string or number inputs only."""
    from onnxmltools.convert.common.data_types import (
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )

    for variable, output in zip(operator.inputs, operator.outputs, strict=True):
        if not isinstance(variable.type, StringTensorType | FloatTensorType | DoubleTensorType):
            raise ConversionError(
                f"StringIndexer input '{variable.raw_name}' must be a string or number tensor, "
                f"not {type(variable.type).__name__}."
            )
        output.type = Int64TensorType(list(variable.type.shape))


SPECS = [
    ConverterSpec(
        StringIndexerModel,
        convert_string_indexer,
        calculate_string_indexer_shapes,
        input_columns=input_columns,
        output_columns=output_columns,
        replaces_onnxmltools=True,
    )
]
