"""LogisticRegressionModel with Spark's thresholds and softmax (onnxmltools ignores the former).

- Binomial: margin ``m = x·w + b``; rawPrediction ``[-m, m]``; probability ``[1 - σ(m), σ(m)]``;
  prediction 1 when ``m > logit(threshold)`` (``thresholds`` of length 2 give
  ``threshold = 1 / (1 + t0/t1)``). Spark decides on rawPrediction when that column is set,
  else on probability, else on σ(m); they differ only at ``threshold = 0`` through double
  rounding, which ``_binary_margin_cut`` reproduces.
- Multinomial (any model with one coefficient row per class, including two-class models fitted
  with ``family="multinomial"``, which ignore ``threshold``): rawPrediction = margins,
  probability = softmax(margins), prediction = argmax, or argmax of ``p_i / t_i`` when
  ``thresholds`` is set; a class with ``t_i = 0`` wins unless its double probability is 0.
  Infinite features follow Spark too: a row whose margins hold +inf gets probability 1 at the
  first +inf and NaN at every other non-finite margin (0 at finite ones); the argmax is Spark's
  ``DenseVector.argmax`` (NaN never wins; a NaN first element answers 0) over rawPrediction, or
  over probability when only that column is set.

Outputs: prediction (int64 ``[N]``), probability and rawPrediction (float ``[N, classes]``),
each only when its column name is not empty.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from pyspark.ml.classification import LogisticRegressionModel

from mlflow_sparkonnx.convert.converters import ConverterSpec
from mlflow_sparkonnx.convert.converters._graph import (
    BOOL,
    FLOAT,
    INT64,
    NodeMaker,
    as_float_matrix,
    constant,
    node,
    row_max,
    row_sum,
    spark_vector_argmax,
)

_logger = logging.getLogger(__name__)

_ROLES = ("predictionCol", "probabilityCol", "rawPredictionCol")


def output_columns(stage: Any) -> list[str]:
    """prediction, probability, rawPrediction: those whose column name is set (non-empty)."""
    return [stage.getOrDefault(role) for role in _ROLES if stage.getOrDefault(role)]


def _is_multinomial(stage: Any) -> bool:
    return stage.coefficientMatrix.numRows > 1


#: exp(x) is 0 in doubles below this (softmax then gives a probability of exactly 0).
_DOUBLE_EXP_UNDERFLOW = -745.1332191019412
#: exp(x) overflows doubles above this.
_DOUBLE_EXP_OVERFLOW = 709.782712893384


def _binary_margin_cut(stage: Any) -> float:
    """The margin above which Spark predicts 1 (see the module docstring)."""
    threshold = stage.getThreshold()
    if threshold >= 1.0:
        return math.inf
    if threshold > 0.0:
        return math.log(threshold / (1.0 - threshold))
    if stage.getOrDefault("rawPredictionCol"):
        return -math.inf  # m > logit(0)
    if stage.getOrDefault("probabilityCol"):
        return -53 * math.log(2.0)  # 1 - 1/(1 + e^m) > 0 needs e^m > 2**-53
    return -_DOUBLE_EXP_OVERFLOW  # 1/(1 + e^-m) > 0 needs e^-m finite


def convert_logistic_regression(scope: Any, operator: Any, container: Any) -> None:
    """Gemm for the margins, then the binomial or multinomial head."""
    stage = operator.raw_operator
    names = {role: stage.getOrDefault(role) for role in _ROLES}
    out = {role: v.full_name for v in operator.outputs for role in _ROLES if names[role] == v.raw_name}
    x = as_float_matrix(scope, container, operator.inputs[0])
    weights = stage.coefficientMatrix.toArray()
    rows, features = weights.shape
    w = constant(scope, container, "lr_weights", FLOAT, [rows, features], weights.ravel().tolist())
    b = constant(scope, container, "lr_intercepts", FLOAT, [rows], stage.interceptVector.toArray().tolist())
    margins = node(scope, container, "Gemm", [x, w, b], op_version=13, transB=1)

    if _is_multinomial(stage):
        raw = margins
        probability = _spark_softmax(scope, container, margins, rows)
        if stage.isDefined(stage.thresholds):
            scores = _scale_by_thresholds(scope, container, probability, margins, list(stage.getThresholds()))
            lowest = constant(scope, container, "lr_nan_rank", FLOAT, [1], [-math.inf])
            nan = node(scope, container, "IsNaN", [scores], op_version=13)
            ranked = node(scope, container, "Where", [nan, lowest, scores], op_version=9)
            label = node(scope, container, "ArgMax", [ranked], op_version=13, axis=1, keepdims=1)
        else:  # Spark decides on rawPrediction unless only the probability column is set
            only_probability = names["probabilityCol"] and not names["rawPredictionCol"]
            scores = probability if only_probability else margins
            label = spark_vector_argmax(scope, container, scores, FLOAT)
        flat = constant(scope, container, "lr_flat", INT64, [1], [-1])
        node(scope, container, "Reshape", [label, flat], op_version=14, output=out.get("predictionCol"))
    else:
        signs = constant(scope, container, "lr_signs", FLOAT, [1, 2], [-1.0, 1.0])
        raw = node(scope, container, "Mul", [margins, signs], op_version=14)
        probability = node(scope, container, "Sigmoid", [raw], op_version=13)
        cut = constant(scope, container, "lr_raw_threshold", FLOAT, [1], [_binary_margin_cut(stage)])
        above = node(scope, container, "Greater", [margins, cut], op_version=13)
        flat = constant(scope, container, "lr_flat", INT64, [1], [-1])
        label = node(scope, container, "Cast", [above], op_version=13, to=INT64)
        node(scope, container, "Reshape", [label, flat], op_version=14, output=out.get("predictionCol"))
    for role, tensor in (("probabilityCol", probability), ("rawPredictionCol", raw)):
        if role in out:
            node(scope, container, "Identity", [tensor], op_version=14, output=out[role])


def _spark_softmax(scope: Any, container: Any, margins: str, classes: int) -> str:
    """Spark's softmax: the usual one, except in rows holding +inf (see the module docstring)."""
    op = NodeMaker(scope, container)
    positive_inf = op("IsInf", margins, version=10, detect_negative=0)
    as_float = op("Cast", positive_inf, to=FLOAT)
    first = op("ArgMax", as_float, axis=1, keepdims=1)
    positions = constant(scope, container, "lr_class_positions", INT64, [1, classes], list(range(classes)))
    is_first = op("Equal", positions, first)
    finite = op("Not", op("Or", op("IsInf", margins, version=10), op("IsNaN", margins)))
    zero = constant(scope, container, "lr_zero", FLOAT, [1], [0.0])
    one = constant(scope, container, "lr_one", FLOAT, [1], [1.0])
    nan = constant(scope, container, "lr_nan", FLOAT, [1], [math.nan])
    infinite_row = op("Where", is_first, one, op("Where", finite, zero, nan, version=9), version=9)
    has_positive_inf = op("Greater", row_sum(scope, container, as_float), zero)
    usual = op("Softmax", margins, axis=1)
    return op("Where", has_positive_inf, infinite_row, usual, version=9)


def _scale_by_thresholds(
    scope: Any, container: Any, probability: str, margins: str, thresholds: list[float]
) -> str:
    """``p_i / t_i``; where ``t_i == 0``: +inf, or -inf when Spark's double ``p_i`` is 0 or NaN.

    The double ``p_i`` is positive when its margin is within exp's range of the row's largest (float32
    underflows sooner), or, in a row with +inf margins (no finite gap), when the probability is.
    """
    inverse = [0.0 if t == 0.0 else 1.0 / t for t in thresholds]
    k = len(thresholds)
    scale = constant(scope, container, "lr_inverse_thresholds", FLOAT, [1, k], inverse)
    scaled = node(scope, container, "Mul", [probability, scale], op_version=14)
    if 0.0 not in thresholds:
        return scaled
    top = row_max(scope, container, margins)
    gap = node(scope, container, "Sub", [margins, top], op_version=14)
    underflow = constant(scope, container, "lr_exp_underflow", FLOAT, [1], [_DOUBLE_EXP_UNDERFLOW])
    positive_in_doubles = node(scope, container, "Greater", [gap, underflow], op_version=13)
    zero = constant(scope, container, "lr_zero_probability", FLOAT, [1], [0.0])
    positive_here = node(scope, container, "Greater", [probability, zero], op_version=13)  # rows with +inf
    positive = node(scope, container, "Or", [positive_in_doubles, positive_here], op_version=7)
    plus = constant(scope, container, "lr_plus_inf", FLOAT, [1], [math.inf])
    minus = constant(scope, container, "lr_minus_inf", FLOAT, [1], [-math.inf])
    zero_threshold_score = node(scope, container, "Where", [positive, plus, minus], op_version=9)
    zero_mask = constant(scope, container, "lr_zero_thresholds", BOOL, [1, k], [t == 0.0 for t in thresholds])
    return node(scope, container, "Where", [zero_mask, zero_threshold_score, scaled], op_version=9)


def calculate_logistic_regression_shapes(operator: Any) -> None:
    """prediction int64 ``[N]``; probability/rawPrediction float ``[N, classes]``."""
    from onnxmltools.convert.common.data_types import FloatTensorType, Int64TensorType

    stage = operator.raw_operator
    n = operator.inputs[0].type.shape[0]
    for variable in operator.outputs:
        if variable.raw_name == stage.getOrDefault("predictionCol"):
            variable.type = Int64TensorType([n])
        else:
            variable.type = FloatTensorType([n, stage.numClasses])


SPECS = [
    ConverterSpec(
        LogisticRegressionModel,
        convert_logistic_regression,
        calculate_logistic_regression_shapes,
        input_columns=lambda stage: [stage.getOrDefault("featuresCol")],
        output_columns=output_columns,
        replaces_onnxmltools=True,
    )
]
