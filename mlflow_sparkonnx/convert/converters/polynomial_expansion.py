"""PolynomialExpansion, exact to Spark's multiplication order and its zero rule.

Spark (``PolynomialExpansion.expandDense``/``expandSparse``) builds every term of degree 1 to
``degree`` by multiplying its factors one at a time, the highest feature index first, and stops a
term as soon as the running product equals 0: the term is left at 0. So ``0 × inf`` gives 0 where
plain arithmetic (onnxmltools' graph) gives NaN, and ``-0.0`` terms come out as ``0.0``.

The two vector layouts differ at non-finite values:

- a dense vector multiplies every factor, so ``inf`` (higher index) ``× 0`` (lower index) is NaN;
- a sparse vector skips its zeros, so any term with a zero factor is 0.

A vector VectorAssembler writes is dense or sparse row by row (``Vector.compressed``: sparse when
``1.5 · (nonzeros + 1) < size``), and an input column is dense (the pyfunc builds ``DenseVector``).
Both layouts are computed and the row's own rule picks one. A vector another stage writes may keep
either layout, so that input is refused with the reason.
"""

from __future__ import annotations

import logging
from typing import Any

from pyspark.ml.feature import PolynomialExpansion, VectorAssembler

from mlflow_sparkonnx.convert.converters import ConverterSpec
from mlflow_sparkonnx.convert.converters._graph import (
    DOUBLE,
    INT64,
    as_double_matrix,
    constant,
    input_columns,
    node,
    output_columns,
    row_sum,
    width,
)
from mlflow_sparkonnx.convert.converters._metadata import producer_of
from mlflow_sparkonnx.exceptions import UnsupportedStageError

_logger = logging.getLogger(__name__)


def spark_terms(size: int, degree: int) -> list[list[int]]:
    """Each output term's factors (feature indices) in the order Spark multiplies them.

    A replay of ``expandDense``'s recursion without values: the output index of a term is where
    Spark writes it, so ``terms[k]`` is the k-th element of the expanded vector.
    """
    count = _poly_size(size, degree) - 1
    terms: list[list[int] | None] = [None] * count

    def expand(last: int, remaining: int, factors: list[int], position: int) -> int:
        if remaining == 0 or last < 0:
            if position >= 0:
                terms[position] = factors
        else:
            start = position
            for power in range(remaining + 1):
                start = expand(last - 1, remaining - power, factors + [last] * power, start)
        return position + _poly_size(last + 1, remaining)

    expand(size - 1, degree, [], -1)
    missing = [k for k, term in enumerate(terms) if term is None]
    if missing:  # pragma: no cover - the replay writes every position by construction
        raise AssertionError(f"PolynomialExpansion replay left positions {missing[:5]} unset")
    return [term for term in terms if term is not None]


def _poly_size(features: int, degree: int) -> int:
    from math import comb

    return comb(features + degree, degree)


def _layout(scope: Any, operator: Any) -> str:
    """ "dense", or "compressed" for VectorAssembler's per-row layout; refuse any other producer."""
    producer = producer_of(scope, operator.inputs[0])
    if producer is None:
        return "dense"
    stage = getattr(producer, "raw_operator", None)
    if isinstance(stage, VectorAssembler):
        return "compressed"
    name = type(stage).__name__ if stage is not None else producer.type
    raise UnsupportedStageError(
        f"PolynomialExpansion reads a vector written by {name}: Spark's result at inf and NaN depends on "
        "whether that vector is stored dense or sparse, which only VectorAssembler's output and input "
        "columns make known; put the PolynomialExpansion right after a VectorAssembler to convert it"
    )


def convert_polynomial_expansion(scope: Any, operator: Any, container: Any) -> None:
    """Products of gathered columns step by step, masked to 0 where a running product hit 0."""
    stage = operator.raw_operator
    variable = operator.inputs[0]
    size = width(variable)
    if size is None:
        raise UnsupportedStageError("PolynomialExpansion needs a vector input of known width")
    layout = _layout(scope, operator)
    terms = spark_terms(size, int(stage.getDegree()))
    steps = max(len(term) for term in terms)
    x = as_double_matrix(scope, container, variable)
    zero = constant(scope, container, "poly_zero", DOUBLE, [1], [0.0])
    one = constant(scope, container, "poly_one", DOUBLE, [1], [1.0])
    # Column `size` is all ones: a term with fewer factors than `steps` multiplies by 1 after its end.
    padded = node(scope, container, "Concat", [x, _ones_column(scope, container, x)], op_version=13, axis=1)
    columns = [[term[i] if i < len(term) else size for term in terms] for i in range(steps)]
    dense = _masked_product(scope, container, padded, columns, zero, skip_zero_factors=False)
    if layout == "dense":
        node(scope, container, "Identity", [dense], op_version=14, output=operator.outputs[0].full_name)
        return
    sparse = _masked_product(scope, container, padded, columns, zero, skip_zero_factors=True)
    nonzero = node(
        scope,
        container,
        "Cast",
        [
            node(
                scope,
                container,
                "Not",
                [node(scope, container, "Equal", [x, zero], op_version=13)],
                op_version=1,
            )
        ],
        op_version=13,
        to=DOUBLE,
    )
    count = row_sum(scope, container, nonzero)
    factor = constant(scope, container, "poly_one_and_half", DOUBLE, [1], [1.5])
    cost = node(
        scope,
        container,
        "Mul",
        [node(scope, container, "Add", [count, one], op_version=14), factor],
        op_version=14,
    )
    limit = constant(scope, container, "poly_size", DOUBLE, [1], [float(size)])
    is_sparse = node(scope, container, "Less", [cost, limit], op_version=13)
    node(
        scope,
        container,
        "Where",
        [is_sparse, sparse, dense],
        op_version=9,
        output=operator.outputs[0].full_name,
    )


def _ones_column(scope: Any, container: Any, matrix: str) -> str:
    """``[N, 1]`` of 1.0 (not ``x * 0 + 1``, which is NaN where x is inf)."""
    shape = node(scope, container, "Shape", [matrix], op_version=13)
    first = constant(scope, container, "poly_first", INT64, [1], [0])
    rows = node(scope, container, "Gather", [shape, first], op_version=13, axis=0)
    one_column = constant(scope, container, "poly_one_column", INT64, [1], [1])
    target = node(scope, container, "Concat", [rows, one_column], op_version=13, axis=0)
    one = constant(scope, container, "poly_one_cell", DOUBLE, [1, 1], [1.0])
    return node(scope, container, "Expand", [one, target], op_version=13)


def _masked_product(
    scope: Any, container: Any, padded: str, columns: list[list[int]], zero: str, *, skip_zero_factors: bool
) -> str:
    """``[N, terms]``: the running products, 0 where one of them (or, sparse, a factor) was 0."""
    product = None
    stopped = None
    one = constant(scope, container, "poly_one", DOUBLE, [1], [1.0])
    for step in columns:
        index = constant(scope, container, "poly_factor_index", INT64, [len(step)], step)
        factor = node(scope, container, "Gather", [padded, index], op_version=13, axis=1)
        if skip_zero_factors:
            is_zero = node(scope, container, "Equal", [factor, zero], op_version=13)
            stopped = (
                is_zero if stopped is None else node(scope, container, "Or", [stopped, is_zero], op_version=7)
            )
            factor = node(scope, container, "Where", [is_zero, one, factor], op_version=9)
        product = (
            factor if product is None else node(scope, container, "Mul", [product, factor], op_version=14)
        )
        hit = node(scope, container, "Equal", [product, zero], op_version=13)
        stopped = hit if stopped is None else node(scope, container, "Or", [stopped, hit], op_version=7)
    assert product is not None and stopped is not None
    return node(scope, container, "Where", [stopped, zero, product], op_version=9)


def calculate_polynomial_expansion_shape(operator: Any) -> None:
    """Double ``[N, C(size + degree, degree) - 1]``."""
    from onnxmltools.convert.common.data_types import DoubleTensorType

    size = width(operator.inputs[0])
    rows = operator.inputs[0].type.shape[0]
    columns = None if size is None else _poly_size(size, int(operator.raw_operator.getDegree())) - 1
    operator.outputs[0].type = DoubleTensorType([rows, columns])


SPECS = [
    ConverterSpec(
        PolynomialExpansion,
        convert_polynomial_expansion,
        calculate_polynomial_expansion_shape,
        input_columns=input_columns,
        output_columns=output_columns,
        replaces_onnxmltools=True,
    )
]
