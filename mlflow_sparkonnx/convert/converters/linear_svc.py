"""LinearSVCModel with rawPrediction and Spark's ``threshold`` (onnxmltools ignores both).

Spark: margin ``m = x·w + b``; rawPrediction ``[-m, m]``; prediction 1 when ``m > threshold``.
Computed in doubles. There is no probability column.
"""

from __future__ import annotations

import logging
from typing import Any

from pyspark.ml.classification import LinearSVCModel

from mlflow_sparkonnx.convert.converters import ConverterSpec
from mlflow_sparkonnx.convert.converters._graph import as_double_matrix, node
from mlflow_sparkonnx.convert.converters._probabilistic import (
    DOUBLE,
    double_constant,
    flatten,
    identity,
    role_columns,
)

_logger = logging.getLogger(__name__)

_ROLES = ("predictionCol", "rawPredictionCol")


def convert_linear_svc(scope: Any, operator: Any, container: Any) -> None:
    """MatMul for the margin; the label by comparing it with ``threshold``."""
    stage = operator.raw_operator
    present = [r for r in _ROLES if stage.getOrDefault(r)]
    out = {role: v.full_name for role, v in zip(present, operator.outputs, strict=True)}
    x = as_double_matrix(scope, container, operator.inputs[0])
    coefficients = stage.coefficients.toArray()
    w = double_constant(scope, container, "svc_coefficients", coefficients, [len(coefficients), 1])
    b = double_constant(scope, container, "svc_intercept", [stage.intercept])
    margin = node(
        scope, container, "Add", [node(scope, container, "MatMul", [x, w], op_version=13), b], op_version=14
    )
    threshold = double_constant(scope, container, "svc_threshold", [stage.getThreshold()])
    above = node(scope, container, "Greater", [margin, threshold], op_version=13)
    label = node(scope, container, "Cast", [above], op_version=13, to=DOUBLE)
    flatten(scope, container, label, out.get("predictionCol"))
    signs = double_constant(scope, container, "svc_signs", [[-1.0, 1.0]])
    raw = node(scope, container, "Mul", [margin, signs], op_version=14)
    identity(scope, container, raw, out.get("rawPredictionCol"))


def calculate_linear_svc_shapes(operator: Any) -> None:
    """prediction double ``[N]``; rawPrediction double ``[N, 2]``."""
    from onnxmltools.convert.common.data_types import DoubleTensorType

    stage = operator.raw_operator
    n = operator.inputs[0].type.shape[0]
    present = [r for r in _ROLES if stage.getOrDefault(r)]
    for role, variable in zip(present, operator.outputs, strict=True):
        variable.type = DoubleTensorType([n] if role == "predictionCol" else [n, 2])


SPECS = [
    ConverterSpec(
        LinearSVCModel,
        convert_linear_svc,
        calculate_linear_svc_shapes,
        input_columns=lambda stage: [stage.getFeaturesCol()],
        output_columns=lambda stage: role_columns(stage, _ROLES),
        replaces_onnxmltools=True,
    )
]
