"""IsotonicRegressionModel (onnxmltools has no converter).

Spark reads one value ``v``: the ``featuresCol`` double, or element ``featureIndex`` of a vector.
With ascending ``boundaries`` b and their ``predictions`` p (decreasing when ``isotonic`` is
false; prediction is the same either way): below ``b[0]`` → ``p[0]``; above ``b[-1]`` → ``p[-1]``;
between ``b[j]`` and ``b[j+1]`` → ``p[j] + (p[j+1] - p[j]) * (v - b[j]) / (b[j+1] - b[j])``; on a
boundary → its prediction. Java's binary search orders NaN above +inf, so NaN → ``p[-1]``.
Computed in doubles.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from pyspark.ml.regression import IsotonicRegressionModel

from mlflow_sparkonnx.convert.converters import ConverterSpec
from mlflow_sparkonnx.convert.converters._graph import (
    INT64,
    NodeMaker,
    as_double_matrix,
    calculate_double_prediction_shape,
    constant,
    node,
    row_sum,
    width,
)
from mlflow_sparkonnx.convert.converters._probabilistic import (
    DOUBLE,
    double_constant,
    flatten,
)

_logger = logging.getLogger(__name__)


def _feature(scope: Any, container: Any, operator: Any) -> str:
    """The ``[N, 1]`` double value Spark reads: the column itself, or ``featureIndex`` of a vector."""
    x = as_double_matrix(scope, container, operator.inputs[0])
    if width(operator.inputs[0]) == 1:
        return x
    index = constant(
        scope, container, "iso_feature_index", INT64, [1], [operator.raw_operator.getFeatureIndex()]
    )
    return node(scope, container, "Gather", [x, index], op_version=13, axis=1)


def convert_isotonic_regression(scope: Any, operator: Any, container: Any) -> None:
    """Clamp, find the segment by counting boundaries passed, interpolate with Gather."""
    stage = operator.raw_operator
    output = operator.outputs[0].full_name
    boundaries = stage.boundaries.toArray().tolist()
    predictions = stage.predictions.toArray().tolist()
    v = _feature(scope, container, operator)
    k = len(boundaries)

    def c(hint: str, values: list[float], shape: list[int] | None = None) -> str:
        return double_constant(scope, container, hint, values, shape)

    op = NodeMaker(scope, container, default=14)

    if k == 1:  # one boundary: its prediction everywhere (a [N, 1] Where of one constant)
        only = c("iso_only", predictions)
        flatten(scope, container, op("Where", op("IsNaN", v, version=13), only, only, version=9), output)
        return
    low, high = c("iso_low", [boundaries[0]]), c("iso_high", [boundaries[-1]])
    clamped = op("Where", op("Less", v, low, version=13), low, v, version=9)
    above = op("Or", op("Greater", clamped, high, version=13), op("IsNaN", v, version=13), version=7)
    clamped = op("Where", above, high, clamped, version=9)
    # segment j: how many of b[1..k-2] the value has reached (0..k-2)
    inner = c("iso_inner_boundaries", boundaries[1:-1] or [math.inf], [1, max(k - 2, 1)])
    reached = op("Cast", op("GreaterOrEqual", clamped, inner, version=12), version=13, to=DOUBLE)
    segment = op("Cast", row_sum(scope, container, reached), version=13, to=INT64)
    lower = op("Add", segment, constant(scope, container, "iso_zero_index", INT64, [1], [0]))
    upper = op("Add", segment, constant(scope, container, "iso_one_index", INT64, [1], [1]))

    def gather(table: str, index: str) -> str:
        return op("Gather", table, index, version=13, axis=0)

    b, p = c("iso_boundaries", boundaries), c("iso_predictions", predictions)
    x1, x2, y1, y2 = gather(b, lower), gather(b, upper), gather(p, lower), gather(p, upper)
    span = op("Sub", x2, x1)
    interpolated = op("Add", y1, op("Div", op("Mul", op("Sub", y2, y1), op("Sub", clamped, x1)), span))
    # a repeated boundary (empty segment) can only be reached at its end: its prediction
    empty = op("Equal", span, c("iso_zero", [0.0]), version=13)
    flatten(scope, container, op("Where", empty, y2, interpolated, version=9), output)


SPECS = [
    ConverterSpec(
        IsotonicRegressionModel,
        convert_isotonic_regression,
        calculate_double_prediction_shape,
        input_columns=lambda stage: [stage.getFeaturesCol()],
        output_columns=lambda stage: [stage.getPredictionCol()],
        replaces_onnxmltools=True,
    )
]
