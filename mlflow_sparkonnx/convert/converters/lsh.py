"""MinHashLSHModel and BucketedRandomProjectionLSHModel: each hash table's value, as Spark computes it.

Both write an ``array<vector>`` column: one single-element vector per hash table. The graph output is
``[N, tables, 1]``, which both runtimes return as a list of one-element lists per row.

MinHash (Spark's ``hashFunction``): for each table's coefficients ``(a, b)``, the least
``((1 + i) * a + b) mod 2038074743`` over the indices ``i`` of the vector's non-zero elements (NaN
is non-zero), as a double; a vector without a non-zero element makes Spark raise, so such rows are
refused in both runtimes. The hash of each index is exact integer arithmetic, done here once per
index; the graph takes the least over each row's non-zero indices.

Bucketed random projection: ``floor((1 / bucketLength) * sum_i x_i * u_i)`` for each table's unit
vector ``u``, the products added in index order from 0 (Spark's BLAS ``dgemv``; a sparse vector
skips its zeros, which changes nothing but the sign of a zero). The graph multiplies in double and
adds with ``CumSum``, which adds in the same order, so the sum before ``floor`` is Spark's bit for bit
(measured: a bucket length of 1e-15, where one rounding step moves the bucket, agrees on every row).
That order is Spark's own Java BLAS (the default); a cluster configured with a native or vectorised
BLAS sums in another order, and its hashes may differ by one bucket where a sum lands on a boundary.

The fitted coefficients and unit vectors exist only in the JVM; they are read from the stage's saved
data (see ``_saved_data``). A float32 input vector is accepted only from stages whose values float32
holds exactly for the rule that reads them (counts; for MinHash, also IDF weights, whose zeros are
exact); anything else is refused with the reason, since one rounding step can change a bucket.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pyspark.ml.feature import BucketedRandomProjectionLSHModel, MinHashLSHModel

from mlflow_sparkonnx.convert.converters import ConverterSpec
from mlflow_sparkonnx.convert.converters._graph import (
    DOUBLE,
    FLOAT,
    INT64,
    NodeMaker,
    constant,
    input_columns,
    is_double,
    output_columns,
    row_min,
    row_sum,
    width,
)
from mlflow_sparkonnx.convert.converters._metadata import producer_of
from mlflow_sparkonnx.convert.converters._row_checks import refuse_rows
from mlflow_sparkonnx.convert.converters._saved_data import conversion_spark, saved_data_rows
from mlflow_sparkonnx.exceptions import UnsupportedStageError

#: ``MinHashLSH.HASH_PRIME`` in Spark.
_HASH_PRIME = 2038074743
#: Stages whose float32 output vectors are whole numbers (exact in float32 below 2^24).
_COUNT_STAGES = ("HashingTF", "CountVectorizerModel")


def _input_matrix(scope: Any, operator: Any, exact_producers: tuple[str, ...]) -> tuple[str, int]:
    """The input vector ``[N, d]`` as it is (double, or float32 from an ``exact_producers`` stage)."""
    stage, variable = operator.raw_operator, operator.inputs[0]
    size = width(variable)
    if size is None or size == 0:
        raise UnsupportedStageError(
            f"{type(stage).__name__} {stage.uid} reads '{stage.getInputCol()}', whose width the graph does "
            "not know (or is 0); served by Spark"
        )
    if not is_double(variable):
        producer = producer_of(scope, variable)
        name = type(producer.raw_operator).__name__ if producer is not None else "an input"
        if name == "IDFModel" and name in exact_producers:  # exact only when it weighs counts
            counted = producer_of(scope, producer.inputs[0])
            source = type(counted.raw_operator).__name__ if counted is not None else "an input"
            name = name if source in _COUNT_STAGES else f"IDFModel over {source}"
        if name not in exact_producers:
            raise UnsupportedStageError(
                f"{type(stage).__name__} {stage.uid} reads '{stage.getInputCol()}', which {name} computes "
                "in float32 in the graph; its hashes could differ from Spark's by one bucket, so it is "
                "served by Spark"
            )
    return variable.full_name, size


def _as_hashes(op: NodeMaker, scope: Any, container: Any, values: str, output: str) -> None:
    """``[N, tables]`` → the ``[N, tables, 1]`` output (a one-element vector per table)."""
    last = constant(scope, container, "lsh_last_axis", INT64, [1], [2])
    op("Unsqueeze", values, last, output=output)


def min_hash_table(coefficients: list[int], size: int) -> np.ndarray:
    """``[size, tables]`` doubles: ``((1 + i) * a + b) mod prime`` for each index and table."""
    pairs = np.asarray(coefficients, dtype=np.int64).reshape(-1, 2)
    index = np.arange(1, size + 1, dtype=np.int64)[:, None]
    return (((index * pairs[:, 0]) + pairs[:, 1]) % _HASH_PRIME).astype(np.float64)


def convert_min_hash(scope: Any, operator: Any, container: Any) -> None:
    """The least index hash over each row's non-zero elements, per table; all-zero rows refused."""
    stage = operator.raw_operator
    op = NodeMaker(scope, container, default=13)
    x, size = _input_matrix(scope, operator, (*_COUNT_STAGES, "IDFModel"))
    coefficients = list(saved_data_rows(stage, conversion_spark(operator))[0]["randCoefficients"])
    table = min_hash_table(coefficients, size)
    zero = constant(
        scope, container, "min_hash_zero", DOUBLE if is_double(operator.inputs[0]) else FLOAT, [1], [0.0]
    )
    nonzero = op("Not", op("Equal", x, zero), version=1)
    count = row_sum(scope, container, op("Cast", nonzero, to=FLOAT))
    empty = op("Equal", count, constant(scope, container, "min_hash_none", FLOAT, [1], [0.0]))
    refuse_rows(scope, container, empty, stage, stage.getInputCol(), "a vector without a non-zero element")
    never = constant(scope, container, "min_hash_never", DOUBLE, [1], [float("inf")])
    per_table = []
    for t in range(table.shape[1]):
        hashes = constant(scope, container, "min_hash_index_hashes", DOUBLE, [size], table[:, t].tolist())
        candidates = op("Where", nonzero, hashes, never, version=9)
        per_table.append(row_min(scope, container, candidates))
    values = op("Concat", *per_table, axis=1) if len(per_table) > 1 else per_table[0]
    _as_hashes(op, scope, container, values, operator.outputs[0].full_name)


def convert_bucketed_random_projection(scope: Any, operator: Any, container: Any) -> None:
    """``floor((1 / bucketLength) * x·u)`` per table, the products added in index order."""
    stage = operator.raw_operator
    op = NodeMaker(scope, container, default=13)
    x, size = _input_matrix(scope, operator, _COUNT_STAGES)
    matrix = saved_data_rows(stage, conversion_spark(operator))[0]["randUnitVectors"].toArray()  # [tables, d]
    if matrix.shape[1] != size:
        raise UnsupportedStageError(
            f"BucketedRandomProjectionLSHModel {stage.uid} was fitted on vectors of size {matrix.shape[1]} "
            f"but '{stage.getInputCol()}' holds {size}: Spark fails on every row"
        )
    if not is_double(operator.inputs[0]):
        x = op("Cast", x, to=DOUBLE)
    index_axis = constant(scope, container, "projection_index_axis", INT64, [], [1])
    last = constant(scope, container, "projection_last", INT64, [1], [size - 1])
    totals = []
    for unit in matrix:  # one [N, d] at a time: memory as the input's, whatever the tables
        products = op(
            "Mul", x, constant(scope, container, "projection_unit", DOUBLE, [1, size], unit.tolist())
        )
        running = op("CumSum", products, index_axis, version=14)
        totals.append(op("Gather", running, last, axis=1))  # [N, 1]: the sum in index order
    total = op("Concat", *totals, axis=1) if len(totals) > 1 else totals[0]
    scale = constant(scope, container, "projection_scale", DOUBLE, [1], [1.0 / stage.getBucketLength()])
    _as_hashes(op, scope, container, op("Floor", op("Mul", total, scale)), operator.outputs[0].full_name)


def calculate_hashes_shape(operator: Any) -> None:
    """Double ``[N, tables, 1]``."""
    from onnxmltools.convert.common.data_types import DoubleTensorType

    tables = int(operator.raw_operator.getNumHashTables())
    operator.outputs[0].type = DoubleTensorType([operator.inputs[0].type.shape[0], tables, 1])


SPECS = [
    ConverterSpec(
        stage_class,
        converter,
        calculate_hashes_shape,
        input_columns=input_columns,
        output_columns=output_columns,
        replaces_onnxmltools=True,
    )
    for stage_class, converter in (
        (MinHashLSHModel, convert_min_hash),
        (BucketedRandomProjectionLSHModel, convert_bucketed_random_projection),
    )
]
