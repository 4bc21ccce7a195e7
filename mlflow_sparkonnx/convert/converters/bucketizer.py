"""Bucketizer with ``inputCol``/``splits`` or ``inputCols``/``splitsArray`` (onnxmltools: single only).

The bucket of ``x`` is the number of inner splits ``<= x`` (the last bucket includes the upper
bound). Spark searches with ``Double.compare``, where ``-0.0 < 0.0``: a ``-0.0`` input lies below
a ``0.0`` split, and the graph tells it apart by ``1 / x < 0``. NaN goes to the extra bucket
``len(splits) - 1`` (``keep``; ``error`` raises and ``skip`` drops the row in Spark). A value
outside the outer splits raises in Spark; the graph clamps it to the first or last bucket.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from pyspark.ml.feature import Bucketizer

from mlflow_sparkonnx.convert.converters import ConverterSpec
from mlflow_sparkonnx.convert.converters._graph import (
    DOUBLE,
    FLOAT,
    as_double_matrix,
    constant,
    input_columns,
    node,
    output_columns,
    row_sum,
)

_logger = logging.getLogger(__name__)


def _splits(stage: Any) -> list[list[float]]:
    if stage.isSet(stage.getParam("splitsArray")):
        return [list(s) for s in stage.getSplitsArray()]
    return [list(stage.getSplits())]


def _is_positive_zero(value: float) -> bool:
    return value == 0.0 and math.copysign(1.0, value) > 0


def _at_or_above_zero(scope: Any, container: Any, x: str) -> str:
    """``x >= 0.0`` in Double.compare order: true for +0.0, false for -0.0."""
    zero = constant(scope, container, "bucket_zero", DOUBLE, [1], [0.0])
    one = constant(scope, container, "bucket_one", DOUBLE, [1], [1.0])
    positive = node(scope, container, "Greater", [x, zero], op_version=13)
    is_zero = node(scope, container, "Equal", [x, zero], op_version=13)
    reciprocal = node(scope, container, "Div", [one, x], op_version=14)
    positive_zero = node(
        scope,
        container,
        "And",
        [is_zero, node(scope, container, "Greater", [reciprocal, zero], op_version=13)],
        op_version=7,
    )
    return node(scope, container, "Or", [positive, positive_zero], op_version=7)


def convert_bucketizer(scope: Any, operator: Any, container: Any) -> None:
    """Per column: sum of ``x >= split`` over the inner splits; NaN to the extra bucket."""
    for variable, output, splits in zip(
        operator.inputs, operator.outputs, _splits(operator.raw_operator), strict=True
    ):
        x = as_double_matrix(scope, container, variable)  # splits compare in double, as in Spark
        inner = splits[1:-1]
        count = constant(scope, container, "bucket_none", FLOAT, [1], [0.0])
        nonzero = [s for s in inner if not _is_positive_zero(s)]
        if nonzero:
            bounds = constant(scope, container, "bucket_splits", DOUBLE, [1, len(nonzero)], nonzero)
            above = node(scope, container, "GreaterOrEqual", [x, bounds], op_version=12)
            flags = node(scope, container, "Cast", [above], op_version=13, to=FLOAT)
            count = row_sum(scope, container, flags)
        if len(nonzero) != len(inner):
            zero_flag = node(
                scope, container, "Cast", [_at_or_above_zero(scope, container, x)], op_version=13, to=FLOAT
            )
            count = node(scope, container, "Add", [count, zero_flag], op_version=14)
        invalid = constant(scope, container, "bucket_invalid", FLOAT, [1], [float(len(splits) - 1)])
        is_nan = node(scope, container, "IsNaN", [x], op_version=13)
        node(scope, container, "Where", [is_nan, invalid, count], op_version=9, output=output.full_name)


def calculate_bucketizer_shapes(operator: Any) -> None:
    """Float ``[N, 1]`` per column."""
    from onnxmltools.convert.common.data_types import FloatTensorType

    for variable, output in zip(operator.inputs, operator.outputs, strict=True):
        output.type = FloatTensorType([variable.type.shape[0], 1])


SPECS = [
    ConverterSpec(
        Bucketizer,
        convert_bucketizer,
        calculate_bucketizer_shapes,
        input_columns=input_columns,
        output_columns=output_columns,
        replaces_onnxmltools=True,
    )
]
