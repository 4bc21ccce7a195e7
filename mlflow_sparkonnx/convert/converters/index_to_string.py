"""IndexToString: an index column back to its string label.

The labels are the stage's ``labels`` when set, else the nominal values in the input
column's Spark metadata, as Spark reads them (a StringIndexer's labels, plus ``"__unknown"``
under ``handleInvalid="keep"``; a Bucketizer's ranges). That metadata exists only on Spark's
schema, so it is asked of Spark during conversion (:mod:`._metadata`).

Spark casts the index to int (truncation toward zero; under ANSI mode NaN, infinity and values
beyond int's range raise CAST_OVERFLOW) and raises on an index outside the labels ("Unseen
index"). When the index's producer bounds it within the labels (a StringIndexer, a Bucketizer, a
classifier's ``numClasses``) the graph is a cast and a lookup; otherwise (a raw input column, say)
a row check refuses those rows in both runtimes, as the input rules refuse an unseen category.
onnxmltools needs explicit labels and an int64 input, so it cannot follow a classifier's double
``prediction`` (the usual ``labelConverter``).
"""

from __future__ import annotations

import logging
from typing import Any

from pyspark.ml.feature import Bucketizer, IndexToString, StringIndexerModel

from mlflow_sparkonnx.convert.converters import ConverterSpec
from mlflow_sparkonnx.convert.converters._graph import INT64, constant, input_columns, node, output_columns
from mlflow_sparkonnx.convert.converters._metadata import column_metadata, producer_of, scalar_attribute
from mlflow_sparkonnx.convert.converters._row_checks import refuse_rows
from mlflow_sparkonnx.exceptions import ConversionError

_DOUBLE = 11  # TensorProto.DOUBLE

_logger = logging.getLogger(__name__)

#: Never produced for a bounded index; a visible marker should it ever be.
_OUT_OF_RANGE = "__sparkonnx_index_out_of_range__"


def _labels(scope: Any, operator: Any) -> list[str]:
    stage = operator.raw_operator
    if stage.isDefined(stage.getParam("labels")) and stage.getLabels():
        return [str(label) for label in stage.getLabels()]
    variable = operator.inputs[0]
    values = scalar_attribute(column_metadata(scope, operator, variable)).values
    if not values:
        raise ConversionError(
            f"IndexToString {stage.uid}: column '{variable.raw_name}' has no nominal values in its Spark "
            "metadata and the stage has no labels"
        )
    return list(values)


def _index_bound(scope: Any, variable: Any) -> int | None:
    """How many distinct indices the producer of ``variable`` can emit (None when unknown)."""
    producer = producer_of(scope, variable)
    stage = producer.raw_operator if producer is not None else None
    if isinstance(stage, StringIndexerModel):
        position = [out.onnx_name for out in producer.outputs].index(variable.onnx_name)
        extra = 1 if stage.getHandleInvalid() == "keep" else 0
        return len(stage.labelsArray[position]) + extra
    if isinstance(stage, Bucketizer):
        position = [out.onnx_name for out in producer.outputs].index(variable.onnx_name)
        splits = (
            stage.getSplitsArray()[position]
            if stage.isSet(stage.getParam("splitsArray"))
            else stage.getSplits()
        )
        extra = 1 if stage.getHandleInvalid() == "keep" else 0
        return len(splits) - 1 + extra
    if stage is not None and hasattr(stage, "numClasses"):
        return int(stage.numClasses)
    return None


def convert_index_to_string(scope: Any, operator: Any, container: Any) -> None:
    """Spark's ``toInt`` of the index, then a string ``LabelEncoder`` (ai.onnx.ml opset 2)."""
    from onnxmltools.convert.common.data_types import Int64TensorType

    variable = operator.inputs[0]
    labels = _labels(scope, operator)
    bound = _index_bound(scope, variable)
    column = constant(scope, container, "its_shape", INT64, [2], [-1, 1])
    if bound is not None and bound <= len(labels):
        index = variable.full_name
        if not isinstance(variable.type, Int64TensorType):
            index = node(scope, container, "Cast", [index], op_version=13, to=INT64)
        index = node(scope, container, "Reshape", [index, column], op_version=14)
    else:
        index = _checked_index(scope, container, operator, len(labels), column)
    node(
        scope,
        container,
        "LabelEncoder",
        [index],
        op_domain="ai.onnx.ml",
        op_version=2,
        output=operator.outputs[0].full_name,
        keys_int64s=list(range(len(labels))),
        values_strings=labels,
        default_string=_OUT_OF_RANGE,
    )


def _checked_index(scope: Any, container: Any, operator: Any, n_labels: int, column: str) -> str:
    """An index of unknown range as Spark's cast to int (int64 ``[N, 1]``: ``Cast`` truncates toward zero).

    Rows where Spark raises are refused by a row check: NaN, infinity and values beyond int's range
    (CAST_OVERFLOW, ANSI mode) and an int outside the labels ("Unseen index"): after truncation that is
    NaN, ``x <= -1`` or ``x >= n_labels``.
    """
    variable = operator.inputs[0]
    value = node(scope, container, "Cast", [variable.full_name], op_version=13, to=_DOUBLE)
    value = node(scope, container, "Reshape", [value, column], op_version=14)
    zero = constant(scope, container, "zero", _DOUBLE, [1], [0.0])
    minus_one = constant(scope, container, "minus_one", _DOUBLE, [1], [-1.0])
    count = constant(scope, container, "label_count", _DOUBLE, [1], [float(n_labels)])
    below = node(scope, container, "LessOrEqual", [value, minus_one], op_version=12)
    above = node(scope, container, "GreaterOrEqual", [value, count], op_version=12)
    nan = node(scope, container, "IsNaN", [value], op_version=13)
    outside = node(
        scope,
        container,
        "Or",
        [node(scope, container, "Or", [below, above], op_version=7), nan],
        op_version=7,
    )
    why = f"an index outside its {n_labels} labels (NaN and values beyond int's range included)"
    refuse_rows(scope, container, outside, operator.raw_operator, variable.raw_name, why)
    safe = node(scope, container, "Where", [outside, zero, value], op_version=9)
    return node(scope, container, "Cast", [safe], op_version=13, to=INT64)


def calculate_index_to_string_shape(operator: Any) -> None:
    """String ``[N, 1]``."""
    from onnxmltools.convert.common.data_types import StringTensorType

    operator.outputs[0].type = StringTensorType([operator.inputs[0].type.shape[0], 1])


SPECS = [
    ConverterSpec(
        IndexToString,
        convert_index_to_string,
        calculate_index_to_string_shape,
        input_columns=input_columns,
        output_columns=output_columns,
        replaces_onnxmltools=True,
    )
]
