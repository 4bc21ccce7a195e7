"""ALSModel: the user's and the item's latent factors looked up and multiplied, as Spark does.

Spark (``ALSModel.transform``) casts both id columns to int, refusing a value that is not a whole
number within int's range (null, NaN and infinity included; a null int too), joins the factor
tables on the ids, and computes the prediction as a float32 dot product accumulated one factor at
a time. An unknown user or item gives NaN (``coldStartStrategy="nan"``).

The graph keeps the fitted factor tables (one extra row of NaN for an unknown id), maps each id to
its row, gathers both rows and adds their float32 products in Spark's order, so the prediction is
bit for bit Spark's. ``coldStartStrategy="drop"`` removes the unknown ids' rows in Spark: the graph
flags them (a ``drop`` row check) and both runtimes return them with null outputs.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from pyspark.ml.recommendation import ALSModel

from mlflow_sparkonnx.convert.converters import ConverterSpec
from mlflow_sparkonnx.convert.converters._graph import (
    DOUBLE,
    FLOAT,
    INT64,
    constant,
    lookup_numbers,
    node,
)
from mlflow_sparkonnx.convert.converters._row_checks import drop_rows, refuse_rows

_logger = logging.getLogger(__name__)

_INT_MIN, _INT_MAX = -(2.0**31), 2.0**31 - 1


def _factor_table(factors: Any, rank: int) -> tuple[list[float], np.ndarray]:
    """The ids and the ``[ids + 1, rank]`` float32 factors, the last row NaN (an unknown id)."""
    rows = sorted((int(r["id"]), r["features"]) for r in factors.collect())
    table = np.full((len(rows) + 1, rank), np.nan, dtype=np.float32)
    for position, (_, features) in enumerate(rows):
        table[position] = np.asarray(features, dtype=np.float32)
    return [float(i) for i, _ in rows], table


def _row_of(scope: Any, container: Any, stage: Any, variable: Any, ids: list[float]) -> str:
    """``[N]`` int64: the factor row of each id (the NaN row when unknown); refuses what Spark refuses."""
    column = constant(scope, container, "als_column", INT64, [2], [-1, 1])
    value = node(scope, container, "Cast", [variable.full_name], op_version=13, to=DOUBLE)
    value = node(scope, container, "Reshape", [value, column], op_version=14)
    low = constant(scope, container, "als_int_min", DOUBLE, [1], [_INT_MIN])
    high = constant(scope, container, "als_int_max", DOUBLE, [1], [_INT_MAX])
    floor = node(scope, container, "Floor", [value], op_version=13)
    whole = node(scope, container, "Equal", [floor, value], op_version=13)
    above = node(scope, container, "GreaterOrEqual", [value, low], op_version=12)
    below = node(scope, container, "LessOrEqual", [value, high], op_version=12)
    inside = node(scope, container, "And", [above, below], op_version=7)
    invalid = node(
        scope, container, "Not", [node(scope, container, "And", [whole, inside], op_version=7)], op_version=1
    )
    why = "an id that is not a whole number within int's range (null, NaN and infinity included)"
    refuse_rows(scope, container, invalid, stage, variable.raw_name, why)
    rows = lookup_numbers(
        scope, container, value, x_is_double=True, keys=ids, values=list(range(len(ids))), default=len(ids)
    )
    flat = constant(scope, container, "als_flat", INT64, [1], [-1])
    return node(scope, container, "Reshape", [rows, flat], op_version=14)


def convert_als(scope: Any, operator: Any, container: Any) -> None:
    """Gather both factor rows, multiply in float32, add the products left to right from 0."""
    stage = operator.raw_operator
    rank = int(stage.rank)
    gathered = []
    for variable, factors, hint in zip(
        operator.inputs, (stage.userFactors, stage.itemFactors), ("als_users", "als_items"), strict=True
    ):
        ids, table = _factor_table(factors, rank)
        table_name = constant(scope, container, hint, FLOAT, list(table.shape), table.ravel().tolist())
        rows = _row_of(scope, container, stage, variable, ids)
        gathered.append(node(scope, container, "Gather", [table_name, rows], op_version=13, axis=0))
    products = node(scope, container, "Mul", gathered, op_version=14)
    total = constant(scope, container, "als_zero", FLOAT, [1], [0.0])
    for i in range(rank):
        index = constant(scope, container, "als_factor", INT64, [], [i])
        term = node(scope, container, "Gather", [products, index], op_version=13, axis=1)
        total = node(scope, container, "Add", [total, term], op_version=14)
    node(scope, container, "Identity", [total], op_version=14, output=operator.outputs[0].full_name)
    if stage.getColdStartStrategy() == "drop":  # Spark filters out the rows of unknown ids
        column = constant(scope, container, "als_drop_column", INT64, [2], [-1, 1])
        unknown = node(
            scope,
            container,
            "Reshape",
            [node(scope, container, "IsNaN", [total], op_version=13), column],
            op_version=14,
        )
        drop_rows(scope, container, unknown, stage, stage.getUserCol(), "an unknown user or item")


def calculate_als_shape(operator: Any) -> None:
    """Float ``[N]``: Spark's prediction column is a float."""
    from onnxmltools.convert.common.data_types import FloatTensorType

    operator.outputs[0].type = FloatTensorType([operator.inputs[0].type.shape[0]])


SPECS = [
    ConverterSpec(
        ALSModel,
        convert_als,
        calculate_als_shape,
        input_columns=lambda stage: [stage.getUserCol(), stage.getItemCol()],
        output_columns=lambda stage: [stage.getPredictionCol()],
    )
]
