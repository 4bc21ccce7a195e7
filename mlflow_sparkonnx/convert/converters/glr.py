"""GeneralizedLinearRegressionModel: every family and link, offset and link prediction.

Spark: ``eta = x·w + b (+ offset)``, ``prediction = project(unlink(eta))``, ``linkPrediction = eta``.
- Links: identity, log (``exp``), logit (``1 / (1 + exp(-eta))``), probit (normal CDF), cloglog
  (``1 - exp(-exp(eta))``), inverse (``1 / eta``), sqrt (``eta²``); tweedie uses ``linkPower``
  (0 log, 1 identity, -1 inverse, 0.5 sqrt, else ``eta^(1/p)``), by default ``1 - variancePower``.
  For a non-tweedie family an unset ``link`` means the family's default; tweedie ignores ``link``.
- ``project``: gaussian maps ±inf to ±Double.MaxValue; binomial clamps to ``[1e-16, 1 - 1e-16]``;
  poisson, gamma and tweedie raise values below 1e-16 to 1e-16 and +inf to Double.MaxValue.
  NaN passes through. Tweedie with ``variancePower`` 0, 1, 2 is gaussian, poisson, gamma.
Computed in doubles (ONNX's ``Erf`` exists only in float32: probit is float32-accurate).
onnxmltools' converter applies no link at all.
"""

from __future__ import annotations

import logging
import math
import sys
from typing import Any

from pyspark.ml.regression import GeneralizedLinearRegressionModel

from mlflow_sparkonnx.convert.converters import ConverterSpec
from mlflow_sparkonnx.convert.converters._graph import FLOAT, NodeMaker, as_double_matrix, node
from mlflow_sparkonnx.convert.converters._probabilistic import (
    DOUBLE,
    double_constant,
    flatten,
)

_logger = logging.getLogger(__name__)

_ROLES = ("predictionCol", "linkPredictionCol")
_EPSILON = 1e-16
_DEFAULT_LINKS = {"gaussian": "identity", "binomial": "logit", "poisson": "log", "gamma": "inverse"}
_POWER_LINKS = {0.0: "log", 1.0: "identity", -1.0: "inverse", 0.5: "sqrt"}
_TWEEDIE_FAMILIES = {0.0: "gaussian", 1.0: "poisson", 2.0: "gamma"}


def family_and_link(stage: Any) -> tuple[str, str, float | None]:
    """Spark's ``FamilyAndLink``: (family used by ``project``, link name, power for a power link)."""
    family = stage.getFamily().lower()
    if family == "tweedie":
        variance_power = float(stage.getVariancePower())
        if stage.isSet(stage.linkPower):
            power = float(stage.getLinkPower())
        else:
            power = 1.0 - variance_power
        return _TWEEDIE_FAMILIES.get(variance_power, "tweedie"), _POWER_LINKS.get(power, "power"), power
    link = stage.getLink().lower() if stage.isSet(stage.link) else _DEFAULT_LINKS[family]
    return family, link, None


def output_columns(stage: Any) -> list[str]:
    """prediction and, when set and non-empty, linkPrediction."""
    return [stage.getOrDefault(role) for role in _roles(stage)]


def input_columns(stage: Any) -> list[str]:
    """features, and the offset column when ``offsetCol`` is set."""
    columns = [stage.getFeaturesCol()]
    if stage.isSet(stage.offsetCol) and stage.getOffsetCol():
        columns.append(stage.getOffsetCol())
    return columns


def _unlink(scope: Any, container: Any, eta: str, link: str, power: float | None) -> str:
    def c(value: float) -> str:
        return double_constant(scope, container, f"glr_{link}", [value])

    op = NodeMaker(scope, container, default=14)

    if link == "identity":
        return eta
    if link == "log":
        return op("Exp", eta, version=13)
    if link == "logit":  # 1 / (1 + exp(-eta))
        return op("Div", c(1.0), op("Add", c(1.0), op("Exp", op("Neg", eta, version=13), version=13)))
    if link == "cloglog":  # 1 - exp(-exp(eta))
        return op("Sub", c(1.0), op("Exp", op("Neg", op("Exp", eta, version=13), version=13), version=13))
    if link == "inverse":
        return op("Div", c(1.0), eta)
    if link == "sqrt":
        return op("Mul", eta, eta)
    if link == "power":
        return op("Pow", eta, c(1.0 / power), version=15)
    if link == "probit":  # 0.5 * (1 + erf(eta / sqrt 2)); Erf has no double kernel
        scaled = op("Cast", op("Div", eta, c(math.sqrt(2.0))), version=13, to=FLOAT)
        erf = op("Cast", op("Erf", scaled, version=13), version=13, to=DOUBLE)
        return op("Mul", c(0.5), op("Add", c(1.0), erf))
    from mlflow_sparkonnx.exceptions import UnsupportedStageError

    raise UnsupportedStageError(f"GeneralizedLinearRegressionModel link '{link}' has no ONNX converter")


def _project(scope: Any, container: Any, mu: str, family: str) -> str:
    def c(value: float) -> str:
        return double_constant(scope, container, f"glr_{family}_bound", [value])

    def where(condition: str, value: float, x: str) -> str:
        return node(scope, container, "Where", [condition, c(value), x], op_version=9)

    def compare(op_type: str, x: str, value: float) -> str:
        return node(scope, container, op_type, [x, c(value)], op_version=13)

    if family == "gaussian":
        mu = where(compare("Equal", mu, -math.inf), -sys.float_info.max, mu)
        return where(compare("Equal", mu, math.inf), sys.float_info.max, mu)
    if family == "binomial":
        mu = where(compare("Less", mu, _EPSILON), _EPSILON, mu)
        return where(compare("Greater", mu, 1.0 - _EPSILON), 1.0 - _EPSILON, mu)
    mu = where(compare("Less", mu, _EPSILON), _EPSILON, mu)
    return where(compare("Equal", mu, math.inf), sys.float_info.max, mu)


def convert_glr(scope: Any, operator: Any, container: Any) -> None:
    """``eta`` by MatMul (+ intercept, + offset), then unlink and project."""
    stage = operator.raw_operator
    family, link, power = family_and_link(stage)
    x = as_double_matrix(scope, container, operator.inputs[0])
    coefficients = stage.coefficients.toArray()
    w = double_constant(scope, container, "glr_coefficients", coefficients, [len(coefficients), 1])
    b = double_constant(scope, container, "glr_intercept", [stage.intercept])
    eta = node(
        scope,
        container,
        "Add",
        [node(scope, container, "MatMul", [x, w], op_version=13), b],
        op_version=14,
    )
    if len(operator.inputs) > 1:
        offset = as_double_matrix(scope, container, operator.inputs[1])
        eta = node(scope, container, "Add", [eta, offset], op_version=14)
    out = {role: v.full_name for role, v in zip(_roles(stage), operator.outputs, strict=True)}
    prediction = _project(scope, container, _unlink(scope, container, eta, link, power), family)
    flatten(scope, container, prediction, out.get("predictionCol"))
    if "linkPredictionCol" in out:
        flatten(scope, container, eta, out["linkPredictionCol"])


def _roles(stage: Any) -> list[str]:
    return [r for r in _ROLES if stage.isDefined(stage.getParam(r)) and stage.getOrDefault(stage.getParam(r))]


def calculate_glr_shapes(operator: Any) -> None:
    """prediction and linkPrediction: double ``[N]``."""
    from onnxmltools.convert.common.data_types import DoubleTensorType

    n = operator.inputs[0].type.shape[0]
    for variable in operator.outputs:
        variable.type = DoubleTensorType([n])


SPECS = [
    ConverterSpec(
        GeneralizedLinearRegressionModel,
        convert_glr,
        calculate_glr_shapes,
        input_columns=input_columns,
        output_columns=output_columns,
        replaces_onnxmltools=True,
    )
]
