"""Rows a stage refuses: a converter flags them in the graph, the ONNX runtime raises on them.

Spark raises mid-job on some values a graph would score without complaint (a KMeans on a NaN, a
OneHotEncoder with ``handleInvalid="error"`` on an index it never saw). A converter computes a
boolean per row for such a rule and hands it to :func:`refuse_rows`; the conversion makes each a
graph output (``sparkonnx_row_check*``) and records it as a :class:`RowCheck` in the model
contract, and the ONNX runtime raises ``InvalidInputError`` for the first flagged row. The flag
is computed on the stage's own input, so it holds whether that column is raw or computed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from mlflow_sparkonnx.contract import RowCheck
from mlflow_sparkonnx.convert.converters._graph import FLOAT, INT64, constant, node, row_sum

#: The checks recorded while a conversion runs (None outside ``convert_pipeline``).
_ROW_CHECKS: ContextVar[list[RowCheck] | None] = ContextVar("sparkonnx_row_checks", default=None)


@contextmanager
def collecting_row_checks() -> Iterator[list[RowCheck]]:
    """Collect the checks converters add during one conversion."""
    checks: list[RowCheck] = []
    token = _ROW_CHECKS.set(checks)
    try:
        yield checks
    finally:
        _ROW_CHECKS.reset(token)


def drop_rows(scope: Any, container: Any, flags: str, stage: Any, column: str, why: str) -> None:
    """Rows where ``flags`` holds any true are dropped by Spark: both runtimes return null outputs."""
    _flag_rows(scope, container, flags, stage, column, why, "drop")


def refuse_rows(scope: Any, container: Any, flags: str, stage: Any, column: str, why: str) -> None:
    """Rows where boolean ``flags`` (``[N, k]``) holds any true are refused: Spark raises on them.

    ``column`` is the stage's input column the rule reads; ``why`` ends the runtime's message
    "Column 'c' row r holds <value>, which <stage> refuses: <why>."
    Outside a ``convert_pipeline`` conversion (onnxmltools called directly) nothing can enforce
    the check, so nothing is added.
    """
    _flag_rows(scope, container, flags, stage, column, why, "refuse")


def refuse_rows_onnx_only(scope: Any, container: Any, flags: str, stage: Any, column: str, why: str) -> None:
    """Rows where ``flags`` holds any true are ones Spark scores but the graph cannot compute as Spark
    does (``why`` says what differs): the ONNX runtime refuses them, the Spark runtime scores them."""
    _flag_rows(scope, container, flags, stage, column, why, "onnx_only")


def _flag_rows(
    scope: Any, container: Any, flags: str, stage: Any, column: str, why: str, action: str
) -> None:
    checks = _ROW_CHECKS.get()
    if checks is None:
        return
    count = row_sum(scope, container, node(scope, container, "Cast", [flags], op_version=13, to=FLOAT))
    zero = constant(scope, container, "row_check_zero", FLOAT, [1], [0.0])
    flat = constant(scope, container, "row_check_shape", INT64, [1], [-1])
    any_true = node(scope, container, "Greater", [count, zero], op_version=13)
    name = scope.get_unique_variable_name("sparkonnx_row_check")
    node(scope, container, "Reshape", [any_true, flat], op_version=14, output=name)
    checks.append(
        RowCheck(
            output=name,
            stage=f"{type(stage).__name__} (uid {stage.uid})",
            column=column,
            why=why,
            action=action,
        )
    )
