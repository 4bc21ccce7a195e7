"""TargetEncoderModel (Spark 4): each category index replaced by its fitted encoding.

Spark 4.3 keeps, per input column, the fitted categories with their counts and target statistics,
plus two entries of its own: ``-1`` (the rows whose value was null) and ``2147483647`` (all rows,
for unseen values). Measured (Spark 4.3): a fitted category gives its encoding; a null gives the
null entry's encoding when the training data had nulls there; any other value (NaN, ``-1``,
``2147483647``, a fraction, an unseen index) gives the overall encoding under
``handleInvalid="keep"`` and raises "Unseen value" under ``"error"``.

The categories are read from the model's saved data (written to the staging folder, ``MLFLOW_DFS_TMP``,
which every Spark process must see, as for the native model); the encodings are asked of Spark itself (one
job over the categories and one unseen value, with ``handleInvalid="keep"``), so the graph's lookup
holds Spark's exact doubles whatever its formula. In the graph a null is NaN: a float column's NaN
gets the unseen encoding (or is refused) in both runtimes, and a null in an integral column is
refused by the ONNX runtime (``null_sensitive_inputs``). Spark versions whose model keeps another
layout (4.0-4.2 keep the encodings only) are refused with that reason and served by Spark.
"""

from __future__ import annotations

import logging
from typing import Any

from mlflow_sparkonnx.convert.converters import ConverterSpec
from mlflow_sparkonnx.convert.converters._graph import (
    DOUBLE,
    INT64,
    constant,
    input_columns,
    lookup_numbers,
    node,
    output_columns,
)
from mlflow_sparkonnx.convert.converters._row_checks import refuse_rows
from mlflow_sparkonnx.convert.converters._saved_data import conversion_spark, saved_data_rows
from mlflow_sparkonnx.exceptions import UnsupportedStageError

_logger = logging.getLogger(__name__)

#: Spark's own entries in a column's statistics: the null rows and all rows (the unseen encoding).
_NULL_ENTRY, _ALL_ROWS_ENTRY = -1.0, 2147483647.0


def _fitted_categories(stage: Any, spark: Any) -> list[list[float]]:
    """Per input column, its fitted categories (Spark's own entries left out), from the saved data."""
    rows = saved_data_rows(stage, spark)
    if not rows or "categories" not in rows[0].asDict():
        raise UnsupportedStageError(
            f"TargetEncoderModel {stage.uid}: this Spark version saves its encodings without the fitted "
            "categories' statistics (Spark 4.3's layout), so the graph cannot be built; served by Spark"
        )
    by_index = {int(r["index"]): r["categories"] for r in rows}
    return [
        sorted(float(c) for c in by_index[i] if c not in (_NULL_ENTRY, _ALL_ROWS_ENTRY))
        for i in range(len(by_index))
    ]


def _spark_encodings(stage: Any, spark: Any, categories: list[list[float]]) -> list[list[float]]:
    """Per input column, Spark's encoding of each category, then of an unseen value (NaN)."""
    from pyspark.sql.types import DoubleType, IntegerType, StructField, StructType

    inputs, outputs = input_columns(stage), output_columns(stage)
    length = max(len(c) for c in categories) + 1
    rows = [
        tuple(float(c[i]) if i < len(c) else float("nan") for c in categories) + (i,) for i in range(length)
    ]
    schema = StructType(
        [StructField(name, DoubleType()) for name in inputs] + [StructField("_row", IntegerType())]
    )
    keep = stage.copy({stage.getParam("handleInvalid"): "keep"})
    frame = spark.createDataFrame(rows, schema)
    result = keep.transform(frame).orderBy("_row").select(*outputs).collect()
    encodings = []
    for column, cats in enumerate(categories):
        values = [float(row[column]) for row in result]
        encodings.append(values[: len(cats)] + [values[-1]])  # the last row is NaN in every column
    return encodings


def convert_target_encoder(scope: Any, operator: Any, container: Any) -> None:
    """Per column: the category's position (``lookup_numbers``), then a Gather of the encodings."""
    stage = operator.raw_operator
    spark = conversion_spark(operator)
    categories = _fitted_categories(stage, spark)
    encodings = _spark_encodings(stage, spark, categories)
    refuse_unseen = stage.getHandleInvalid() != "keep"
    flat = constant(scope, container, "target_encoder_flat", INT64, [1], [-1])
    column_shape = constant(scope, container, "target_encoder_column", INT64, [2], [-1, 1])
    for variable, output, cats, table in zip(
        operator.inputs, operator.outputs, categories, encodings, strict=True
    ):
        value = node(scope, container, "Cast", [variable.full_name], op_version=13, to=DOUBLE)
        value = node(scope, container, "Reshape", [value, column_shape], op_version=14)
        position = lookup_numbers(
            scope,
            container,
            value,
            x_is_double=True,
            keys=cats,
            values=list(range(len(cats))),
            default=len(cats),
        )
        if refuse_unseen:
            unseen_position = constant(scope, container, "target_encoder_unseen", INT64, [1], [len(cats)])
            unseen = node(scope, container, "Equal", [position, unseen_position], op_version=13)
            why = f"a value outside its {len(cats)} fitted categories (NaN and null included)"
            refuse_rows(scope, container, unseen, stage, variable.raw_name, why)
        values = constant(scope, container, "target_encodings", DOUBLE, [len(table)], table)
        flat_position = node(scope, container, "Reshape", [position, flat], op_version=14)
        encoded = node(scope, container, "Gather", [values, flat_position], op_version=13, axis=0)
        node(scope, container, "Reshape", [encoded, column_shape], op_version=14, output=output.full_name)


def calculate_target_encoder_shapes(operator: Any) -> None:
    """Double ``[N, 1]`` per output."""
    from onnxmltools.convert.common.data_types import DoubleTensorType

    for output in operator.outputs:
        output.type = DoubleTensorType([operator.inputs[0].type.shape[0], 1])


try:  # Spark 4 and later
    from pyspark.ml.feature import TargetEncoderModel
except ImportError:  # pragma: no cover - pyspark 3.5
    SPECS: list[ConverterSpec] = []
else:
    SPECS = [
        ConverterSpec(
            TargetEncoderModel,
            convert_target_encoder,
            calculate_target_encoder_shapes,
            input_columns=input_columns,
            output_columns=output_columns,
        )
    ]
