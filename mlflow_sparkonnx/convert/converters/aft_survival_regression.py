"""AFTSurvivalRegressionModel: prediction and, when ``quantilesCol`` is set, the quantiles.

Spark: ``λ = exp(x·w + b)`` is the prediction; quantile ``q`` is
``λ · exp(log(-log(1 - q)) · scale)`` (a Weibull with shape ``1 / scale``). Computed in doubles,
so ``exp`` overflows to +inf exactly where Spark's does. onnxmltools' converter drops the quantiles.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from pyspark.ml.regression import AFTSurvivalRegressionModel

from mlflow_sparkonnx.convert.converters import ConverterSpec
from mlflow_sparkonnx.convert.converters._graph import as_double_matrix, node
from mlflow_sparkonnx.convert.converters._probabilistic import (
    double_constant,
    flatten,
    identity,
)

_logger = logging.getLogger(__name__)

_ROLES = ("predictionCol", "quantilesCol")


def _roles(stage: Any) -> list[str]:
    return [r for r in _ROLES if stage.isDefined(stage.getParam(r)) and stage.getOrDefault(r)]


def convert_aft(scope: Any, operator: Any, container: Any) -> None:
    """``exp(x·w + b)``, times one constant per quantile probability."""
    stage = operator.raw_operator
    out = {role: v.full_name for role, v in zip(_roles(stage), operator.outputs, strict=True)}
    x = as_double_matrix(scope, container, operator.inputs[0])
    coefficients = stage.coefficients.toArray()
    w = double_constant(scope, container, "aft_coefficients", coefficients, [len(coefficients), 1])
    b = double_constant(scope, container, "aft_intercept", [stage.intercept])
    margin = node(
        scope, container, "Add", [node(scope, container, "MatMul", [x, w], op_version=13), b], op_version=14
    )
    prediction = node(scope, container, "Exp", [margin], op_version=13)
    flatten(scope, container, prediction, out.get("predictionCol"))
    if "quantilesCol" in out:
        probabilities = list(stage.getQuantileProbabilities())
        shape = 1.0 / stage.scale
        factors = [math.exp(math.log(-math.log1p(-q)) / shape) for q in probabilities]
        scale = double_constant(scope, container, "aft_quantile_factors", factors, [1, len(factors)])
        quantiles = node(scope, container, "Mul", [prediction, scale], op_version=14)
        identity(scope, container, quantiles, out["quantilesCol"])


def calculate_aft_shapes(operator: Any) -> None:
    """prediction double ``[N]``; quantiles double ``[N, len(quantileProbabilities)]``."""
    from onnxmltools.convert.common.data_types import DoubleTensorType

    stage = operator.raw_operator
    n = operator.inputs[0].type.shape[0]
    for role, variable in zip(_roles(stage), operator.outputs, strict=True):
        shape = [n] if role == "predictionCol" else [n, len(stage.getQuantileProbabilities())]
        variable.type = DoubleTensorType(shape)


SPECS = [
    ConverterSpec(
        AFTSurvivalRegressionModel,
        convert_aft,
        calculate_aft_shapes,
        input_columns=lambda stage: [stage.getFeaturesCol()],
        output_columns=lambda stage: [stage.getOrDefault(r) for r in _roles(stage)],
        replaces_onnxmltools=True,
    )
]
