"""NaiveBayesModel, every ``modelType``, as Spark scores it (onnxmltools treats all as multinomial).

With ``pi`` the log priors, ``theta`` the per-class parameters and ``x`` the features:
- multinomial: rawPrediction ``theta·x + pi``;
- complement: ``c = theta·x``, rawPrediction ``c - logsumexp(c)`` (no prior);
- bernoulli: ``(theta - log(1 - e^theta))·x + pi + Σ log(1 - e^theta)``;
- gaussian (``theta`` means, ``sigma`` variances): ``pi - (Σ (x - theta)² / sigma + Σ log sigma) / 2``.
probability is ``exp(raw - max) / Σ``; prediction the argmax of rawPrediction, or of
``probability / thresholds`` when ``thresholds`` is set. All in doubles.

Spark refuses a row with a negative (or NaN) feature for multinomial and complement, and one
with a feature other than 0 or 1 for bernoulli: it raises and scores nothing. The graph flags
such rows as a row check (the ONNX runtime refuses them, naming the features column and the row,
whether the features are raw or computed, e.g. behind a scaler) and gives them NaN in every
output (prediction included), never a label, where nothing enforces row checks.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from pyspark.ml.classification import NaiveBayesModel

from mlflow_sparkonnx.convert.converters import ConverterSpec
from mlflow_sparkonnx.convert.converters._graph import (
    INT64,
    as_double_matrix,
    constant,
    node,
    row_max,
    row_sum,
)
from mlflow_sparkonnx.convert.converters._probabilistic import (
    CLASSIFIER_ROLES,
    any_in_row,
    calculate_classifier_shapes,
    double_constant,
    flatten,
    identity,
    outputs_by_role,
    probabilistic_prediction,
    role_columns,
    softmax,
    where_rows,
)
from mlflow_sparkonnx.convert.converters._row_checks import refuse_rows

_logger = logging.getLogger(__name__)


def _linear(scope: Any, container: Any, x: str, weights: np.ndarray, bias: np.ndarray | None) -> str:
    """``x · weightsᵀ (+ bias)`` in doubles."""
    w = double_constant(scope, container, "nb_weights_t", weights.T)
    product = node(scope, container, "MatMul", [x, w], op_version=13)
    if bias is None:
        return product
    b = double_constant(scope, container, "nb_bias", bias, [1, len(bias)])
    return node(scope, container, "Add", [product, b], op_version=14)


def _complement_raw(scope: Any, container: Any, x: str, theta: np.ndarray) -> str:
    scores = _linear(scope, container, x, theta, None)
    top = row_max(scope, container, scores)
    shifted = node(scope, container, "Sub", [scores, top], op_version=14)
    total = row_sum(scope, container, node(scope, container, "Exp", [shifted], op_version=13))
    log_sum_exp = node(
        scope, container, "Add", [node(scope, container, "Log", [total], op_version=13), top], op_version=14
    )
    return node(scope, container, "Sub", [scores, log_sum_exp], op_version=14)


def _gaussian_raw(scope: Any, container: Any, x: str, stage: Any) -> str:
    pi = stage.pi.toArray()
    means = stage.theta.toArray()
    variances = stage.sigma.toArray()
    k, f = means.shape
    shape = constant(scope, container, "nb_row_shape", INT64, [3], [-1, 1, f])
    rows = node(scope, container, "Reshape", [x, shape], op_version=14)
    diff = node(
        scope,
        container,
        "Sub",
        [rows, double_constant(scope, container, "nb_means", means, [1, k, f])],
        op_version=14,
    )
    squared = node(scope, container, "Mul", [diff, diff], op_version=14)
    scaled = node(
        scope,
        container,
        "Div",
        [squared, double_constant(scope, container, "nb_vars", variances, [1, k, f])],
        op_version=14,
    )
    axes = constant(scope, container, "nb_feature_axis", INT64, [1], [2])
    total = node(scope, container, "ReduceSum", [scaled, axes], op_version=13, keepdims=0)
    log_var_sum = double_constant(scope, container, "nb_log_var_sum", np.log(variances).sum(axis=1), [1, k])
    half = double_constant(scope, container, "nb_half", [2.0])
    penalty = node(
        scope,
        container,
        "Div",
        [node(scope, container, "Add", [total, log_var_sum], op_version=14), half],
        op_version=14,
    )
    return node(
        scope,
        container,
        "Sub",
        [double_constant(scope, container, "nb_pi", pi, [1, k]), penalty],
        op_version=14,
    )


#: What Spark says of a row it refuses, per model type.
_NONNEGATIVE = "a negative feature value or NaN (Spark: 'Naive Bayes requires nonnegative feature values')"
_REFUSAL = {
    "multinomial": _NONNEGATIVE,
    "complement": _NONNEGATIVE,
    "bernoulli": "a feature value other than 0 or 1 (Spark: 'Bernoulli naive Bayes requires 0 or 1 "
    "feature values')",
}


def _refused_rows(scope: Any, container: Any, x: str, model_type: str) -> str | None:
    """``[N, 1]`` bool: rows Spark refuses (see the module docstring); None when none can be."""
    if model_type in ("multinomial", "complement"):
        zero = double_constant(scope, container, "zero", [0.0])
        allowed = node(scope, container, "GreaterOrEqual", [x, zero], op_version=12)
    elif model_type == "bernoulli":
        zero = double_constant(scope, container, "zero", [0.0])
        one = double_constant(scope, container, "one", [1.0])
        allowed = node(
            scope,
            container,
            "Or",
            [
                node(scope, container, "Equal", [x, zero], op_version=13),
                node(scope, container, "Equal", [x, one], op_version=13),
            ],
            op_version=7,
        )
    else:
        return None
    return any_in_row(scope, container, node(scope, container, "Not", [allowed], op_version=1))


def convert_naive_bayes(scope: Any, operator: Any, container: Any) -> None:
    """rawPrediction per model type, softmax probability, argmax (or thresholds) prediction."""
    stage = operator.raw_operator
    out = outputs_by_role(operator, CLASSIFIER_ROLES)
    model_type = stage.getModelType()
    x = as_double_matrix(scope, container, operator.inputs[0])
    pi = stage.pi.toArray()
    theta = stage.theta.toArray()
    if model_type == "multinomial":
        raw = _linear(scope, container, x, theta, pi)
    elif model_type == "complement":
        raw = _complement_raw(scope, container, x, theta)
    elif model_type == "bernoulli":
        neg_theta = np.log1p(-np.exp(theta))
        raw = _linear(scope, container, x, theta - neg_theta, pi + neg_theta.sum(axis=1))
    elif model_type == "gaussian":
        raw = _gaussian_raw(scope, container, x, stage)
    else:
        from mlflow_sparkonnx.exceptions import UnsupportedStageError

        raise UnsupportedStageError(f"NaiveBayesModel with modelType '{model_type}' has no ONNX converter")
    probability = softmax(scope, container, raw)
    label = probabilistic_prediction(scope, container, stage, raw, probability)
    refused = _refused_rows(scope, container, x, model_type)
    if refused is not None:
        refuse_rows(scope, container, refused, stage, stage.getFeaturesCol(), _REFUSAL[model_type])
        raw, probability, label = (
            where_rows(scope, container, refused, np.nan, t) for t in (raw, probability, label)
        )
    flatten(scope, container, label, out.get("predictionCol"))
    identity(scope, container, probability, out.get("probabilityCol"))
    identity(scope, container, raw, out.get("rawPredictionCol"))


SPECS = [
    ConverterSpec(
        NaiveBayesModel,
        convert_naive_bayes,
        calculate_classifier_shapes,
        input_columns=lambda stage: [stage.getFeaturesCol()],
        output_columns=lambda stage: role_columns(stage, CLASSIFIER_ROLES),
        replaces_onnxmltools=True,
    )
]
