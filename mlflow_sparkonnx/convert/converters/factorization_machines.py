"""FMClassificationModel and FMRegressionModel (onnxmltools has no converter for either).

Spark's factorization-machine score, with ``V`` the ``[features, factors]`` factor matrix:
``m = intercept + x·linear + Σ_f ((x·V_f)² - (x²)·(V_f²)) / 2``.
- FMRegressionModel: prediction ``m``.
- FMClassificationModel: rawPrediction ``[-m, m]``; probability ``[1 - σ(m), σ(m)]``;
  prediction the argmax of rawPrediction (0 on ties), or of ``probability / thresholds``.
Computed in doubles.
"""

from __future__ import annotations

import logging
from typing import Any

from pyspark.ml.classification import FMClassificationModel
from pyspark.ml.regression import FMRegressionModel

from mlflow_sparkonnx.convert.converters import ConverterSpec
from mlflow_sparkonnx.convert.converters._graph import (
    NodeMaker,
    as_double_matrix,
    calculate_double_prediction_shape,
    node,
    row_sum,
)
from mlflow_sparkonnx.convert.converters._probabilistic import (
    CLASSIFIER_ROLES,
    calculate_classifier_shapes,
    double_constant,
    flatten,
    identity,
    outputs_by_role,
    probabilistic_prediction,
    role_columns,
)

_logger = logging.getLogger(__name__)


def fm_margin(scope: Any, container: Any, features: Any, stage: Any) -> str:
    """The ``[N, 1]`` double factorization-machine score of the features variable."""
    x = as_double_matrix(scope, container, features)
    factors = stage.factors.toArray()
    linear = stage.linear.toArray()
    n_features = len(linear)

    op = NodeMaker(scope, container, default=14, versions={"MatMul": 13})

    linear_part = op("MatMul", x, double_constant(scope, container, "fm_linear", linear, [n_features, 1]))
    xv = op("MatMul", x, double_constant(scope, container, "fm_factors", factors))
    squares = op("MatMul", op("Mul", x, x), double_constant(scope, container, "fm_factors_sq", factors**2))
    pairwise = row_sum(scope, container, op("Sub", op("Mul", xv, xv), squares))
    half = double_constant(scope, container, "fm_half", [0.5])
    intercept = double_constant(scope, container, "fm_intercept", [stage.intercept])
    return op("Add", op("Add", intercept, linear_part), op("Mul", half, pairwise))


def convert_fm_regressor(scope: Any, operator: Any, container: Any) -> None:
    """prediction = the FM score."""
    margin = fm_margin(scope, container, operator.inputs[0], operator.raw_operator)
    flatten(scope, container, margin, operator.outputs[0].full_name)


def convert_fm_classifier(scope: Any, operator: Any, container: Any) -> None:
    """rawPrediction ``[-m, m]``, probability by sigmoid, prediction as Spark decides it."""
    stage = operator.raw_operator
    out = outputs_by_role(operator, CLASSIFIER_ROLES)
    margin = fm_margin(scope, container, operator.inputs[0], stage)
    signs = double_constant(scope, container, "fm_signs", [[-1.0, 1.0]])
    raw = node(scope, container, "Mul", [margin, signs], op_version=14)
    positive = node(scope, container, "Sigmoid", [margin], op_version=13)
    one = double_constant(scope, container, "fm_one", [1.0])
    negative = node(scope, container, "Sub", [one, positive], op_version=14)
    probability = node(scope, container, "Concat", [negative, positive], op_version=13, axis=1)
    label = probabilistic_prediction(scope, container, stage, raw, probability)
    flatten(scope, container, label, out.get("predictionCol"))
    identity(scope, container, probability, out.get("probabilityCol"))
    identity(scope, container, raw, out.get("rawPredictionCol"))


SPECS = [
    ConverterSpec(
        FMRegressionModel,
        convert_fm_regressor,
        calculate_double_prediction_shape,
        input_columns=lambda stage: [stage.getFeaturesCol()],
        output_columns=lambda stage: [stage.getPredictionCol()],
        replaces_onnxmltools=True,
    ),
    ConverterSpec(
        FMClassificationModel,
        convert_fm_classifier,
        calculate_classifier_shapes,
        input_columns=lambda stage: [stage.getFeaturesCol()],
        output_columns=lambda stage: role_columns(stage, CLASSIFIER_ROLES),
        replaces_onnxmltools=True,
    ),
]
