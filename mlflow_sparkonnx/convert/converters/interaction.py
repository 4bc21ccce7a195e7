"""Interaction: the products of one term from each input column, in Spark's order.

Each input column is encoded as Spark's ``FeatureEncoder`` does: a numeric scalar is one
feature; a nominal scalar (per its ML metadata, e.g. a StringIndexer output) with ``n > 1``
values is one-hot encoded over ``n`` features; a vector contributes its features, each
encoded the same way. The output is the Kronecker product of the encodings with the first
column varying slowest; Spark multiplies from the last column to the first, and so does the
graph (which matters only for float overflow).

Spark walks a vector's *active* entries: every entry of a dense vector, only the non-zero
ones of a sparse vector. A term with an inactive entry is absent (0), even where the product
would be NaN (0 × NaN, 0 × inf); a scalar column is always active. A nominal feature of a
sparse vector at index 0 is inactive too, so its one-hot block is all zeros. The graph
reproduces the representation for the producers whose choice is known: VectorAssembler and
Interaction (``compressed``: sparse when ``12 * nnz + 20 <= 8 * size``, measured),
OneHotEncoder (always sparse); any other producer is taken as dense.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pyspark.ml.feature import Interaction, OneHotEncoderModel, VectorAssembler

from mlflow_sparkonnx.convert.converters import ConverterSpec
from mlflow_sparkonnx.convert.converters._graph import (
    BOOL,
    FLOAT,
    INT64,
    as_float_matrix,
    constant,
    input_columns,
    node,
    output_columns,
    row_sum,
    width,
)
from mlflow_sparkonnx.convert.converters._metadata import (
    Attribute,
    column_metadata,
    producer_of,
    scalar_attribute,
    vector_attributes,
)
from mlflow_sparkonnx.exceptions import ConversionError

_logger = logging.getLogger(__name__)

_COMPRESSED_PRODUCERS = (VectorAssembler, Interaction)


@dataclass
class _Encoded:
    """One column's encoding: float values ``[N, m]`` and, when some entries can be inactive, a bool mask."""

    values: str
    size: int
    active: str | None


def _encoded_size(attribute: Attribute, where: str) -> int:
    if attribute.kind != "nominal":
        return 1
    size = attribute.nominal_size
    if size is None:
        raise ConversionError(f"Interaction: nominal feature {where} has no number of values in its metadata")
    return max(1, size)


def _one_hot(scope: Any, container: Any, column: str, size: int) -> str:
    """Bool ``[N, size]``: ``column == j`` for j in 0..size-1 (Spark asserts an integer index in range)."""
    levels = constant(
        scope, container, "interaction_levels", FLOAT, [1, size], [float(j) for j in range(size)]
    )
    return node(scope, container, "Equal", [column, levels], op_version=13)


def _slice(scope: Any, container: Any, x: str, start: int, end: int) -> str:
    starts = constant(scope, container, "interaction_start", INT64, [1], [start])
    ends = constant(scope, container, "interaction_end", INT64, [1], [end])
    axes = constant(scope, container, "interaction_axis", INT64, [1], [1])
    return node(scope, container, "Slice", [x, starts, ends, axes], op_version=13)


def _dense_rows(scope: Any, container: Any, x: str, size: int, producer: Any) -> str | None:
    """Bool ``[N, 1]``: rows Spark holds densely; None when every row is dense."""
    raw = producer.raw_operator if producer is not None else None
    if isinstance(raw, OneHotEncoderModel):
        return constant(scope, container, "interaction_sparse", BOOL, [1, 1], [False])
    if not isinstance(raw, _COMPRESSED_PRODUCERS):
        return None
    # Vector.compressed, measured on pyspark 4.3: sparse when 12 * nnz + 20 <= 8 * size (NaN counts)
    zero = constant(scope, container, "interaction_zero", FLOAT, [1], [0.0])
    nonzero = node(
        scope, container, "Not", [node(scope, container, "Equal", [x, zero], op_version=13)], op_version=1
    )
    nnz = row_sum(scope, container, node(scope, container, "Cast", [nonzero], op_version=13, to=FLOAT))
    twelve = constant(scope, container, "interaction_twelve", FLOAT, [1], [12.0])
    twenty = constant(scope, container, "interaction_twenty", FLOAT, [1], [20.0])
    sparse_bytes = node(
        scope,
        container,
        "Add",
        [node(scope, container, "Mul", [nnz, twelve], op_version=14), twenty],
        op_version=14,
    )
    dense_bytes = constant(scope, container, "interaction_dense_bytes", FLOAT, [1], [8.0 * size])
    return node(scope, container, "Greater", [sparse_bytes, dense_bytes], op_version=13)


def _encode_vector(
    scope: Any, container: Any, operator: Any, variable: Any, attributes: list[Attribute]
) -> _Encoded:
    x = as_float_matrix(scope, container, variable)
    size = len(attributes)
    dense = _dense_rows(scope, container, x, size, producer_of(scope, variable))
    active = None
    if dense is not None:
        zero = constant(scope, container, "interaction_zero", FLOAT, [1], [0.0])
        nonzero = node(
            scope, container, "Not", [node(scope, container, "Equal", [x, zero], op_version=13)], op_version=1
        )
        active = node(scope, container, "Or", [dense, nonzero], op_version=7)
    sizes = [_encoded_size(a, f"{i} of '{variable.raw_name}'") for i, a in enumerate(attributes)]
    if all(s == 1 for s in sizes):
        return _Encoded(x, size, active)
    values, masks = [], []
    for i, encoded_size in enumerate(sizes):
        column = _slice(scope, container, x, i, i + 1)
        column_active = _slice(scope, container, active, i, i + 1) if active is not None else None
        if encoded_size == 1:
            values.append(column)
            masks.append(
                column_active or constant(scope, container, "interaction_true", BOOL, [1, 1], [True])
            )
            continue
        hot = _one_hot(scope, container, column, encoded_size)
        if column_active is not None:
            hot = node(scope, container, "And", [hot, column_active], op_version=7)
        values.append(node(scope, container, "Cast", [hot], op_version=13, to=FLOAT))
        masks.append(hot)
    rows = _row_count(scope, container, x)
    masks = [_broadcast_rows(scope, container, m, rows) for m in masks]
    value_matrix = node(scope, container, "Concat", values, op_version=13, axis=1)
    mask_matrix = node(scope, container, "Concat", masks, op_version=13, axis=1)
    return _Encoded(value_matrix, sum(sizes), mask_matrix)


def _row_count(scope: Any, container: Any, x: str) -> str:
    """``[1]`` int64: the number of rows of ``x``."""
    first = constant(scope, container, "interaction_first_dim", INT64, [1], [0])
    shape = node(scope, container, "Shape", [x], op_version=13)
    return node(scope, container, "Gather", [shape, first], op_version=13, axis=0)


def _broadcast_rows(scope: Any, container: Any, mask: str, rows: str) -> str:
    """A ``[1, 1]`` or ``[N, 1]`` mask as ``[N, 1]`` (Concat does not broadcast)."""
    ones = constant(scope, container, "interaction_one_col", INT64, [1], [1])
    shape = node(scope, container, "Concat", [rows, ones], op_version=13, axis=0)
    return node(scope, container, "Expand", [mask, shape], op_version=13)


def _encode(scope: Any, container: Any, operator: Any, variable: Any) -> _Encoded:
    metadata = column_metadata(scope, operator, variable)
    group = metadata.get("ml_attr") or {}
    columns = width(variable) or group.get("num_attrs")
    if columns is None:
        raise ConversionError(f"Interaction: the width of '{variable.raw_name}' is unknown")
    if columns != 1 or "num_attrs" in group or "attrs" in group:
        attributes = vector_attributes(metadata, columns)
        if attributes is None:
            raise ConversionError(
                f"Interaction: vector column '{variable.raw_name}' has no ML attributes (Spark refuses it)"
            )
        return _encode_vector(scope, container, operator, variable, attributes)
    x = as_float_matrix(scope, container, variable)
    size = _encoded_size(scalar_attribute(metadata), f"'{variable.raw_name}'")
    if size == 1:
        return _Encoded(x, 1, None)
    hot = _one_hot(scope, container, x, size)
    return _Encoded(node(scope, container, "Cast", [hot], op_version=13, to=FLOAT), size, hot)


def _kron(scope: Any, container: Any, left: str, left_size: int, right: str, right_size: int, op: str) -> str:
    """``[N, a] ⊗ [N, b] → [N, a*b]`` (left index slowest), combining entries with ``op`` (right op left)."""
    left_shape = constant(scope, container, "interaction_left_shape", INT64, [3], [0, left_size, 1])
    right_shape = constant(scope, container, "interaction_right_shape", INT64, [3], [0, 1, right_size])
    flat = constant(scope, container, "interaction_flat_shape", INT64, [2], [0, left_size * right_size])
    a = node(scope, container, "Reshape", [left, left_shape], op_version=14)
    b = node(scope, container, "Reshape", [right, right_shape], op_version=14)
    combined = node(scope, container, op, [b, a], op_version=14 if op == "Mul" else 7)
    return node(scope, container, "Reshape", [combined, flat], op_version=14)


def convert_interaction(scope: Any, operator: Any, container: Any) -> None:
    """Encode every column, then fold the Kronecker product from the last column to the first."""
    encoded = [_encode(scope, container, operator, v) for v in operator.inputs]
    last = encoded[-1]
    values, masks, size = last.values, last.active, last.size
    rows = None
    for current in reversed(encoded[:-1]):
        values = _kron(scope, container, current.values, current.size, values, size, "Mul")
        if masks is not None or current.active is not None:
            if rows is None:
                rows = _row_count(scope, container, values)
            left = current.active or _all_true(scope, container, current.size, rows)
            right = masks or _all_true(scope, container, size, rows)
            masks = _kron(scope, container, left, current.size, right, size, "And")
        size *= current.size
    output = operator.outputs[0].full_name
    if masks is None:
        node(scope, container, "Identity", [values], op_version=14, output=output)
        return
    zero = constant(scope, container, "interaction_zero", FLOAT, [1], [0.0])
    node(scope, container, "Where", [masks, values, zero], op_version=9, output=output)


def _all_true(scope: Any, container: Any, size: int, rows: str) -> str:
    true = constant(scope, container, "interaction_true", BOOL, [1, 1], [True])
    columns = constant(scope, container, "interaction_columns", INT64, [1], [size])
    shape = node(scope, container, "Concat", [rows, columns], op_version=13, axis=0)
    return node(scope, container, "Expand", [true, shape], op_version=13)


def calculate_interaction_shape(operator: Any) -> None:
    """Float ``[N, ?]``: the width depends on the nominal attributes, known only during conversion."""
    from onnxmltools.convert.common.data_types import FloatTensorType

    operator.outputs[0].type = FloatTensorType([operator.inputs[0].type.shape[0], None])


SPECS = [
    ConverterSpec(
        Interaction,
        convert_interaction,
        calculate_interaction_shape,
        input_columns=input_columns,
        output_columns=output_columns,
    )
]
