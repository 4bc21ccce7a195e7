"""MinMaxScaler, StandardScaler and Normalizer with Spark's edge cases.

- MinMaxScalerModel: ``(x - E_min) * (max - min) / (E_max - E_min) + min``; a constant feature
  gives ``(min + max) / 2``; NaN stays NaN (onnxmltools ignores ``min``/``max``).
- StandardScalerModel: ``(x - mean)`` if ``withMean``, times ``1 / std`` if ``withStd``, with
  ``0`` in place of ``1 / std`` for a zero-variance feature (onnxmltools divides by zero).
- RobustScalerModel: ``(x - median)`` if ``withCentering``, times ``1 / range`` if ``withScaling``
  (``range`` = upper - lower quantile), ``0`` in place of ``1 / range`` for a zero range, as in
  Spark (so a finite value becomes 0 and ±inf or NaN becomes NaN). No onnxmltools converter.
- Normalizer: ``x / ||x||_p`` for any ``p >= 1`` (inf included), ``x`` itself when the norm is
  0, an infinite norm when an element is infinite (Spark: NaN there, 0 elsewhere). The norm is
  taken of ``x / max|x|`` and scaled back, so float32 neither overflows nor underflows on huge or
  tiny vectors.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from pyspark.ml.feature import MinMaxScalerModel, Normalizer, RobustScalerModel, StandardScalerModel

from mlflow_sparkonnx.convert.converters import ConverterSpec
from mlflow_sparkonnx.convert.converters._graph import (
    BOOL,
    FLOAT,
    as_float_matrix,
    constant,
    input_columns,
    node,
    output_columns,
    row_max,
    row_sum,
)

_logger = logging.getLogger(__name__)


def convert_min_max_scaler(scope: Any, operator: Any, container: Any) -> None:
    """Affine map per feature; constant features (range 0) and NaN handled as in Spark."""
    stage = operator.raw_operator
    low, high = stage.getMin(), stage.getMax()
    original_min = stage.originalMin.toArray()
    ranges = stage.originalMax.toArray() - original_min
    k = len(original_min)
    scale = [(high - low) / r if r != 0 else 0.0 for r in ranges]
    x = as_float_matrix(scope, container, operator.inputs[0])
    shifted = node(
        scope,
        container,
        "Sub",
        [x, constant(scope, container, "mm_min", FLOAT, [1, k], original_min)],
        op_version=14,
    )
    scaled = node(
        scope,
        container,
        "Mul",
        [shifted, constant(scope, container, "mm_scale", FLOAT, [1, k], scale)],
        op_version=14,
    )
    general = node(
        scope,
        container,
        "Add",
        [scaled, constant(scope, container, "mm_low", FLOAT, [1], [low])],
        op_version=14,
    )
    constant_feature = constant(scope, container, "mm_constant", BOOL, [1, k], [r == 0 for r in ranges])
    use_midpoint = node(
        scope,
        container,
        "And",
        [
            constant_feature,
            node(
                scope, container, "Not", [node(scope, container, "IsNaN", [x], op_version=13)], op_version=1
            ),
        ],
        op_version=7,
    )
    midpoint = constant(scope, container, "mm_midpoint", FLOAT, [1], [(low + high) / 2])
    node(
        scope,
        container,
        "Where",
        [use_midpoint, midpoint, general],
        op_version=9,
        output=operator.outputs[0].full_name,
    )


def _shift_and_scale(
    scope: Any, container: Any, operator: Any, shift: list[float] | None, scale: list[float] | None
) -> None:
    """``(x - shift) * scale``, each part only when given (Spark's ``getTransformFunc``)."""
    result = as_float_matrix(scope, container, operator.inputs[0])
    if shift is not None:
        k = len(shift)
        result = node(
            scope,
            container,
            "Sub",
            [result, constant(scope, container, "shift", FLOAT, [1, k], shift)],
            op_version=14,
        )
    if scale is not None:
        k = len(scale)
        result = node(
            scope,
            container,
            "Mul",
            [result, constant(scope, container, "scale", FLOAT, [1, k], scale)],
            op_version=14,
        )
    node(scope, container, "Identity", [result], op_version=14, output=operator.outputs[0].full_name)


def _inverse_or_zero(values: Any) -> list[float]:
    return [1.0 / v if v != 0 else 0.0 for v in values]


def convert_standard_scaler(scope: Any, operator: Any, container: Any) -> None:
    """``(x - mean) * (1/std or 0)``, each part only when asked for."""
    stage = operator.raw_operator
    shift = list(stage.mean.toArray()) if stage.getWithMean() else None
    scale = _inverse_or_zero(stage.std.toArray()) if stage.getWithStd() else None
    _shift_and_scale(scope, container, operator, shift, scale)


def convert_robust_scaler(scope: Any, operator: Any, container: Any) -> None:
    """``(x - median) * (1/range or 0)``, each part only when asked for."""
    stage = operator.raw_operator
    shift = list(stage.median.toArray()) if stage.getWithCentering() else None
    scale = _inverse_or_zero(stage.range.toArray()) if stage.getWithScaling() else None
    _shift_and_scale(scope, container, operator, shift, scale)


def convert_normalizer(scope: Any, operator: Any, container: Any) -> None:
    """``x / ||x||_p`` row-wise, unchanged rows where the norm is 0."""
    p = float(operator.raw_operator.getP())
    x = as_float_matrix(scope, container, operator.inputs[0])
    magnitude = node(scope, container, "Abs", [x], op_version=13)
    largest = row_max(scope, container, magnitude)
    zero = constant(scope, container, "norm_zero", FLOAT, [1], [0.0])
    one = constant(scope, container, "norm_one", FLOAT, [1], [1.0])
    is_zero = node(scope, container, "Equal", [largest, zero], op_version=13)
    safe_largest = node(scope, container, "Where", [is_zero, one, largest], op_version=9)
    if math.isinf(p):
        norm = safe_largest
    else:
        unit = node(scope, container, "Div", [magnitude, safe_largest], op_version=14)
        if p == 1.0:
            inner = row_sum(scope, container, unit)
        elif p == 2.0:
            squares = node(scope, container, "Mul", [unit, unit], op_version=14)
            inner = node(scope, container, "Sqrt", [row_sum(scope, container, squares)], op_version=13)
        else:
            exponent = constant(scope, container, "norm_p", FLOAT, [1], [p])
            powered = node(scope, container, "Pow", [unit, exponent], op_version=15)
            root = constant(scope, container, "norm_inverse_p", FLOAT, [1], [1.0 / p])
            inner = node(scope, container, "Pow", [row_sum(scope, container, powered), root], op_version=15)
        scaled_back = node(scope, container, "Mul", [inner, safe_largest], op_version=14)
        finite_norm = node(scope, container, "Where", [is_zero, one, scaled_back], op_version=9)
        # An infinite element makes the norm infinite (Spark: inf / inf = NaN there, 0 elsewhere);
        # scaled by the largest element, the sum would be NaN and so would every element.
        is_infinite = node(scope, container, "IsInf", [largest], op_version=10)
        norm = node(scope, container, "Where", [is_infinite, largest, finite_norm], op_version=9)
    node(scope, container, "Div", [x, norm], op_version=14, output=operator.outputs[0].full_name)


def calculate_same_shape(operator: Any) -> None:
    """Float output with the input's shape."""
    from onnxmltools.convert.common.data_types import FloatTensorType

    operator.outputs[0].type = FloatTensorType(list(operator.inputs[0].type.shape))


SPECS = [
    ConverterSpec(
        stage_class,
        converter,
        calculate_same_shape,
        input_columns=input_columns,
        output_columns=output_columns,
        replaces_onnxmltools=True,
    )
    for stage_class, converter in (
        (MinMaxScalerModel, convert_min_max_scaler),
        (StandardScalerModel, convert_standard_scaler),
        (Normalizer, convert_normalizer),
    )
] + [
    ConverterSpec(
        RobustScalerModel,
        convert_robust_scaler,
        calculate_same_shape,
        input_columns=input_columns,
        output_columns=output_columns,
    )
]
