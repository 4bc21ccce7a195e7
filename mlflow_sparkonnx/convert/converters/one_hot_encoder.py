"""OneHotEncoderModel for every ``handleInvalid`` × ``dropLast`` combination (onnxmltools accepts two).

Spark maps an index ``x`` of a column with ``n`` categories to ``x`` when ``0 <= x < n`` and
to the extra category ``n`` otherwise (``keep``; under ``error`` Spark raises "Negative value" or
"Unseen value", which the graph flags as a row check, see ``_row_checks``), then sets bit ``x``
of a vector of ``n + (keep) - (dropLast)`` bits: an index past the end (the dropped last
category) gives all zeros. The graph does exactly that with ``Equal`` against
``0..size-1``, so it accepts float or int64 indices.
"""

from __future__ import annotations

import logging
from typing import Any

from pyspark.ml.feature import OneHotEncoderModel

from mlflow_sparkonnx.convert.converters import ConverterSpec
from mlflow_sparkonnx.convert.converters._graph import (
    DOUBLE,
    FLOAT,
    as_double_matrix,
    constant,
    input_columns,
    node,
    output_columns,
)
from mlflow_sparkonnx.convert.converters._row_checks import refuse_rows

_logger = logging.getLogger(__name__)


def _sizes(stage: Any) -> list[tuple[int, int]]:
    """Per column: (categories seen at fit time, output vector size)."""
    keep = stage.getHandleInvalid() == "keep"
    drop = 1 if stage.getDropLast() else 0
    return [(n, n + (1 if keep else 0) - drop) for n in stage.categorySizes]


def convert_one_hot_encoder(scope: Any, operator: Any, container: Any) -> None:
    """One Where/Equal/Cast chain per input column."""
    stage = operator.raw_operator
    refuse = stage.getHandleInvalid() == "error"
    for column, variable, output, (n, size) in zip(
        input_columns(stage), operator.inputs, operator.outputs, _sizes(stage), strict=True
    ):
        x = as_double_matrix(scope, container, variable)  # Spark reads the index as a double
        zero = constant(scope, container, "ohe_zero", DOUBLE, [1], [0.0])
        count = constant(scope, container, "ohe_count", DOUBLE, [1], [float(n)])
        valid = node(
            scope,
            container,
            "And",
            [
                node(scope, container, "GreaterOrEqual", [x, zero], op_version=12),
                node(scope, container, "Less", [x, count], op_version=13),
            ],
            op_version=7,
        )
        if refuse:  # NaN fails both comparisons, as in Spark ("Unseen value: NaN")
            refuse_rows(
                scope,
                container,
                node(scope, container, "Not", [valid], op_version=1),
                stage,
                column,
                f"not one of the {n} category indices 0..{n - 1} it was fitted on (handleInvalid='error'; "
                "Spark: 'Negative value' or 'Unseen value')",
            )
        index = node(
            scope,
            container,
            "Where",
            [valid, node(scope, container, "Floor", [x], op_version=13), count],
            op_version=9,
        )
        positions = constant(scope, container, "ohe_positions", DOUBLE, [1, size], range(size))
        hot = node(scope, container, "Equal", [index, positions], op_version=13)
        node(scope, container, "Cast", [hot], op_version=13, output=output.full_name, to=FLOAT)


def calculate_one_hot_encoder_shapes(operator: Any) -> None:
    """Float ``[N, size]`` per column."""
    from onnxmltools.convert.common.data_types import FloatTensorType

    for variable, output, (_, size) in zip(
        operator.inputs, operator.outputs, _sizes(operator.raw_operator), strict=True
    ):
        output.type = FloatTensorType([variable.type.shape[0], size])


SPECS = [
    ConverterSpec(
        OneHotEncoderModel,
        convert_one_hot_encoder,
        calculate_one_hot_encoder_shapes,
        input_columns=input_columns,
        output_columns=output_columns,
        replaces_onnxmltools=True,
    )
]
