"""Binarizer with ``inputCol``/``threshold`` or ``inputCols``/``thresholds``, scalar and vector inputs.

Spark's rules (measured, pyspark 4.3):

- a scalar column gives ``1.0 if x > t else 0.0``, so NaN gives 0;
- a vector column with ``t >= 0`` gives ``1.0`` where ``v > t`` (NaN gives 0);
- a vector column with ``t < 0`` starts from all ones and zeroes the entries with ``v <= t``,
  so NaN gives **1** there.

With ``inputCols`` and no ``thresholds`` every column uses ``threshold``. onnxmltools converts
``inputCol`` only, and through ai.onnx.ml ``Binarizer`` (``x > t``, NaN → 0 for vectors too).
A column is a vector when it is wider than 1 or its Spark metadata is an attribute group.
"""

from __future__ import annotations

import logging
from typing import Any

from pyspark.ml.feature import Binarizer

from mlflow_sparkonnx.convert.converters import ConverterSpec
from mlflow_sparkonnx.convert.converters._graph import (
    DOUBLE,
    FLOAT,
    as_double_matrix,
    constant,
    input_columns,
    node,
    output_columns,
    width,
)
from mlflow_sparkonnx.convert.converters._metadata import column_metadata

_logger = logging.getLogger(__name__)


def _thresholds(stage: Any, count: int) -> list[float]:
    if stage.isSet(stage.getParam("inputCols")) and stage.isSet(stage.getParam("thresholds")):
        return [float(t) for t in stage.getThresholds()]
    return [float(stage.getThreshold())] * count


def _is_vector(scope: Any, operator: Any, variable: Any) -> bool:
    columns = width(variable)
    if columns != 1:
        return True
    attr = column_metadata(scope, operator, variable).get("ml_attr") or {}
    return "num_attrs" in attr or "attrs" in attr


def convert_binarizer(scope: Any, operator: Any, container: Any) -> None:
    """Per column: ``Cast(x > t)``, or ``Cast(Not(x <= t))`` for a vector with a negative threshold."""
    thresholds = _thresholds(operator.raw_operator, len(operator.inputs))
    for variable, output, threshold in zip(operator.inputs, operator.outputs, thresholds, strict=True):
        x = as_double_matrix(scope, container, variable)  # the threshold compares in double
        t = constant(scope, container, "binarizer_threshold", DOUBLE, [1], [threshold])
        if threshold < 0 and _is_vector(scope, operator, variable):
            at_most = node(scope, container, "LessOrEqual", [x, t], op_version=12)
            flags = node(scope, container, "Not", [at_most], op_version=1)
        else:
            flags = node(scope, container, "Greater", [x, t], op_version=13)
        node(scope, container, "Cast", [flags], op_version=13, to=FLOAT, output=output.full_name)


def calculate_binarizer_shapes(operator: Any) -> None:
    """Float, each input's shape."""
    from onnxmltools.convert.common.data_types import FloatTensorType

    for variable, output in zip(operator.inputs, operator.outputs, strict=True):
        shape = list(variable.type.shape)
        output.type = FloatTensorType(shape if len(shape) == 2 else [shape[0], 1])


SPECS = [
    ConverterSpec(
        Binarizer,
        convert_binarizer,
        calculate_binarizer_shapes,
        input_columns=input_columns,
        output_columns=output_columns,
        replaces_onnxmltools=True,
    )
]
