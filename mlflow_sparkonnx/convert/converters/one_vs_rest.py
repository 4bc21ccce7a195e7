"""OneVsRestModel over any binary classifier that has a converter with a rawPrediction output.

Spark (``OneVsRestModel._transform``) runs every sub-model, takes ``rawPrediction[1]`` of each as
that class's confidence, returns those as rawPrediction and their argmax (first on ties) as
prediction; a NaN confidence never wins, and a row where none wins (all NaN, as a NaN feature
makes every linear sub-model's) gets prediction ``-1.0``. Each sub-model is converted here by the
converter registered for its class (ours, a user's, or onnxmltools'), as onnxmltools' own
OneVsRest converter composes sub-converters; its ``rawPrediction[1]`` is picked out, widened to
double and concatenated. onnxmltools' version runs only the linear classifier and argmaxes
probabilities.
"""

from __future__ import annotations

import logging
from typing import Any

from pyspark.ml.classification import OneVsRestModel

from mlflow_sparkonnx.convert.converters import ConverterSpec
from mlflow_sparkonnx.convert.converters._graph import INT64, constant, node, row_max
from mlflow_sparkonnx.convert.converters._probabilistic import DOUBLE, flatten, identity
from mlflow_sparkonnx.exceptions import UnsupportedStageError

_logger = logging.getLogger(__name__)

_ROLES = ("predictionCol", "rawPredictionCol")


def _roles(stage: Any) -> list[str]:
    return [r for r in _ROLES if stage.getOrDefault(r)]


def _sub_model_confidence(scope: Any, operator: Any, container: Any, index: int, sub_model: Any) -> str:
    """Convert one sub-model with its registered converter; return its ``[N, 1]`` double raw[1]."""
    from mlflow_sparkonnx.convert.registration import stage_converter

    name = type(sub_model).__name__
    try:
        registered = stage_converter(sub_model)
    except KeyError:
        raise UnsupportedStageError(f"OneVsRest sub-model {index} ({name}) has no ONNX converter") from None
    raw_column = sub_model.getOrDefault("rawPredictionCol") if sub_model.hasParam("rawPredictionCol") else ""
    columns = registered.output_columns(sub_model)
    if not raw_column or raw_column not in columns:
        raise UnsupportedStageError(
            f"OneVsRest sub-model {index} ({name}): its converter has no rawPrediction output, which "
            "OneVsRest scores with"
        )
    sub_operator = scope.declare_local_operator(registered.operator_name, sub_model)
    sub_operator.inputs = list(operator.inputs)
    for column in columns:
        sub_operator.outputs.append(scope.declare_local_variable(column))
    registered.shape_calculator(sub_operator)
    registered.converter(scope, sub_operator, container)
    sub_operator.is_evaluated = True
    raw = sub_operator.outputs[columns.index(raw_column)].full_name
    second = constant(scope, container, "ovr_positive_class", INT64, [1], [1])
    positive = node(scope, container, "Gather", [raw, second], op_version=13, axis=1)
    return node(scope, container, "Cast", [positive], op_version=13, to=DOUBLE)


def convert_one_vs_rest(scope: Any, operator: Any, container: Any) -> None:
    """Every sub-model's raw[1], concatenated; prediction their argmax."""
    stage = operator.raw_operator
    out = {role: v.full_name for role, v in zip(_roles(stage), operator.outputs, strict=True)}
    confidences = [
        _sub_model_confidence(scope, operator, container, i, m) for i, m in enumerate(stage.models)
    ]
    raw = node(scope, container, "Concat", confidences, op_version=13, axis=1)
    lowest = constant(scope, container, "ovr_minus_inf", DOUBLE, [1], [float("-inf")])
    ranked = node(
        scope,
        container,
        "Where",
        [node(scope, container, "IsNaN", [raw], op_version=13), lowest, raw],
        op_version=9,
    )
    label = node(
        scope,
        container,
        "Cast",
        [node(scope, container, "ArgMax", [ranked], op_version=13, axis=1, keepdims=1)],
        op_version=13,
        to=DOUBLE,
    )
    some_wins = node(scope, container, "Greater", [row_max(scope, container, ranked), lowest], op_version=13)
    none = constant(scope, container, "ovr_no_winner", DOUBLE, [1], [-1.0])
    flatten(
        scope,
        container,
        node(scope, container, "Where", [some_wins, label, none], op_version=9),
        out.get("predictionCol"),
    )
    identity(scope, container, raw, out.get("rawPredictionCol"))


def calculate_one_vs_rest_shapes(operator: Any) -> None:
    """prediction double ``[N]``; rawPrediction double ``[N, number of classes]``."""
    from onnxmltools.convert.common.data_types import DoubleTensorType

    stage = operator.raw_operator
    n = operator.inputs[0].type.shape[0]
    for role, variable in zip(_roles(stage), operator.outputs, strict=True):
        variable.type = DoubleTensorType([n] if role == "predictionCol" else [n, len(stage.models)])


SPECS = [
    ConverterSpec(
        OneVsRestModel,
        convert_one_vs_rest,
        calculate_one_vs_rest_shapes,
        input_columns=lambda stage: [stage.getFeaturesCol()],
        output_columns=lambda stage: [stage.getOrDefault(r) for r in _roles(stage)],
        replaces_onnxmltools=True,
    )
]
