"""Double-precision helpers shared by the model converters (not a converter module).

Spark scores in doubles. These converters widen the (float32) features once and compute in
doubles from there, so log-likelihoods of huge inputs keep their differences, ``exp`` does not
overflow at 88 and Spark's own clamps (``Double.MaxValue``, ``1e-16``) can be reproduced.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from onnx import TensorProto

from mlflow_sparkonnx.convert.converters._graph import (
    BOOL,
    INT64,
    constant,
    node,
    row_max,
    row_sum,
)

DOUBLE = TensorProto.DOUBLE
CLASSIFIER_ROLES = ("predictionCol", "probabilityCol", "rawPredictionCol")


def double_constant(
    scope: Any, container: Any, hint: str, values: Any, shape: Sequence[int] | None = None
) -> str:
    """A double initializer from an array-like (its own shape unless ``shape`` is given)."""
    array = np.asarray(values, dtype=np.float64)
    return constant(scope, container, hint, DOUBLE, list(shape or array.shape), array.ravel().tolist())


def role_columns(stage: Any, roles: Sequence[str]) -> list[str]:
    """The column names of ``roles`` the stage has and sets to a non-empty name, in order."""
    return [stage.getOrDefault(r) for r in roles if stage.hasParam(r) and stage.getOrDefault(r)]


def outputs_by_role(operator: Any, roles: Sequence[str]) -> dict[str, str]:
    """``{role: graph variable}`` for the operator's outputs (declared in ``role_columns`` order)."""
    stage = operator.raw_operator
    present = [r for r in roles if stage.hasParam(r) and stage.getOrDefault(r)]
    return {role: v.full_name for role, v in zip(present, operator.outputs, strict=True)}


def identity(scope: Any, container: Any, tensor: str, output: str | None) -> str:
    """Copy ``tensor`` into ``output`` (a graph output name) when one is wanted."""
    if output is None:
        return tensor
    return node(scope, container, "Identity", [tensor], op_version=14, output=output)


def softmax(scope: Any, container: Any, raw: str) -> str:
    """``exp(raw - max) / sum``, the order of Spark's ``raw2probability`` for log-scale scores."""
    shifted = node(scope, container, "Sub", [raw, row_max(scope, container, raw)], op_version=14)
    exps = node(scope, container, "Exp", [shifted], op_version=13)
    return node(scope, container, "Div", [exps, row_sum(scope, container, exps)], op_version=14)


def where_rows(scope: Any, container: Any, mask: str, value: float, x: str) -> str:
    """``value`` in the rows (``[N, 1]`` bool mask) where ``mask`` holds, ``x`` elsewhere."""
    fill = double_constant(scope, container, "row_fill", [value])
    return node(scope, container, "Where", [mask, fill, x], op_version=9)


def any_in_row(scope: Any, container: Any, mask: str) -> str:
    """``[N, 1]`` bool: does the row of a ``[N, k]`` bool mask hold any True?"""
    as_double = node(scope, container, "Cast", [mask], op_version=13, to=DOUBLE)
    total = row_sum(scope, container, as_double)
    zero = double_constant(scope, container, "zero", [0.0])
    return node(scope, container, "Greater", [total, zero], op_version=13)


def probabilistic_prediction(scope: Any, container: Any, stage: Any, raw: str, probability: str) -> str:
    """Spark's ``ProbabilisticClassificationModel`` label as a double ``[N]`` tensor.

    Without ``thresholds``: argmax of rawPrediction (first on ties). With ``thresholds``: argmax
    of ``probability / t``, where ``t = 0`` gives +inf (or NaN, treated as -inf, when p is 0).
    """
    scores = raw
    if stage.hasParam("thresholds") and stage.isDefined(stage.getParam("thresholds")):
        thresholds = list(stage.getThresholds())
        k = len(thresholds)
        divisor = double_constant(scope, container, "thresholds", [t or 1.0 for t in thresholds], [1, k])
        scores = node(scope, container, "Div", [probability, divisor], op_version=14)
        if 0.0 in thresholds:
            zero = double_constant(scope, container, "zero", [0.0])
            positive = node(scope, container, "Greater", [probability, zero], op_version=13)
            plus = double_constant(scope, container, "plus_inf", [math.inf])
            minus = double_constant(scope, container, "minus_inf", [-math.inf])
            zero_score = node(scope, container, "Where", [positive, plus, minus], op_version=9)
            mask = constant(scope, container, "zero_thresholds", BOOL, [1, k], [t == 0.0 for t in thresholds])
            scores = node(scope, container, "Where", [mask, zero_score, scores], op_version=9)
    label = node(scope, container, "ArgMax", [scores], op_version=13, axis=1, keepdims=1)
    return node(scope, container, "Cast", [label], op_version=13, to=DOUBLE)


def flatten(scope: Any, container: Any, x: str, output: str | None = None) -> str:
    """``[N, 1]`` → ``[N]``."""
    shape = constant(scope, container, "flat", INT64, [1], [-1])
    return node(scope, container, "Reshape", [x, shape], op_version=14, output=output)


def calculate_classifier_shapes(operator: Any) -> None:
    """prediction double ``[N]``; probability and rawPrediction double ``[N, numClasses]``."""
    from onnxmltools.convert.common.data_types import DoubleTensorType

    stage = operator.raw_operator
    n = operator.inputs[0].type.shape[0]
    for role, variable in zip(
        [r for r in CLASSIFIER_ROLES if stage.hasParam(r) and stage.getOrDefault(r)],
        operator.outputs,
        strict=True,
    ):
        shape = [n] if role == "predictionCol" else [n, stage.numClasses]
        variable.type = DoubleTensorType(shape)
