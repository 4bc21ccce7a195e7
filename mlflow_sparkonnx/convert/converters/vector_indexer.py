"""VectorIndexerModel: categorical features of a vector replaced by their category index.

onnxmltools numbers the categories by the order of its dictionary keys, not by Spark's index,
and compares values as formatted strings: its graphs disagree with Spark (caught by parity).
Here each categorical feature is mapped value → index by an exact key lookup (``lookup_numbers``).
``handleInvalid="keep"`` gives unseen values the extra index ``numCategories``, as Spark does.
With ``"error"`` (Spark's default) Spark raises on an unseen value (NaN included): the graph flags
those rows (a row check) and the ONNX runtime refuses them, naming the column and the row.
``"skip"`` (Spark drops the row) does not convert.
"""

from __future__ import annotations

from typing import Any

from pyspark.ml.feature import VectorIndexerModel

from mlflow_sparkonnx.convert.converters import ConverterSpec
from mlflow_sparkonnx.convert.converters._graph import (
    DOUBLE,
    FLOAT,
    INT64,
    as_number_matrix,
    constant,
    input_columns,
    is_double,
    lookup_numbers,
    node,
    output_columns,
    same_float_type,
)
from mlflow_sparkonnx.convert.converters._row_checks import refuse_rows
from mlflow_sparkonnx.exceptions import UnsupportedStageError


def convert_vector_indexer(scope: Any, operator: Any, container: Any) -> None:
    """Slice each feature, re-index the categorical ones, concatenate back in order."""
    stage = operator.raw_operator
    handle_invalid = stage.getHandleInvalid()
    if handle_invalid not in ("keep", "error"):
        raise UnsupportedStageError(
            f"VectorIndexerModel {stage.uid} has handleInvalid='{handle_invalid}': Spark drops the rows "
            "holding an unseen category; refit with handleInvalid='keep' or 'error' to convert it"
        )
    double = is_double(operator.inputs[0])  # continuous features pass through in their precision
    x = as_number_matrix(scope, container, operator.inputs[0])
    category_maps = stage.categoryMaps
    pieces, unseen = [], []
    for feature in range(stage.numFeatures):
        starts = constant(scope, container, "vi_start", INT64, [1], [feature])
        ends = constant(scope, container, "vi_end", INT64, [1], [feature + 1])
        axes = constant(scope, container, "vi_axis", INT64, [1], [1])
        column = node(scope, container, "Slice", [x, starts, ends, axes], op_version=10)
        if feature in category_maps:
            mapping = category_maps[feature]
            keys = sorted(mapping)
            index = lookup_numbers(
                scope,
                container,
                column,
                x_is_double=double,
                keys=[float(k) for k in keys],
                values=[int(mapping[k]) for k in keys],
                default=len(mapping),
            )
            if handle_invalid == "error":
                extra = constant(scope, container, "vi_unseen", INT64, [1], [len(mapping)])
                unseen.append(node(scope, container, "Equal", [index, extra], op_version=13))
            column = node(scope, container, "Cast", [index], op_version=13, to=DOUBLE if double else FLOAT)
        pieces.append(column)
    node(scope, container, "Concat", pieces, op_version=4, axis=1, output=operator.outputs[0].full_name)
    if unseen:
        flags = node(scope, container, "Concat", unseen, op_version=4, axis=1)
        why = "a categorical feature holds a value it was not fitted on (handleInvalid='error')"
        refuse_rows(scope, container, flags, stage, stage.getInputCol(), why)


def calculate_vector_indexer_shape(operator: Any) -> None:
    """``[N, numFeatures]`` in the input's precision."""
    n = operator.inputs[0].type.shape[0]
    operator.outputs[0].type = same_float_type(operator.inputs[0], [n, operator.raw_operator.numFeatures])


SPECS = [
    ConverterSpec(
        stage_class=VectorIndexerModel,
        converter=convert_vector_indexer,
        shape_calculator=calculate_vector_indexer_shape,
        input_columns=input_columns,
        output_columns=output_columns,
        replaces_onnxmltools=True,
    )
]
