"""Inputs Spark refuses or drops, checked before either runtime runs, the same way for both.

An ONNX graph cannot raise, and it cannot drop a row. So what a stage would refuse is recorded
at save time for the raw input columns it reads, and checked on every call:
- unseen categories of a StringIndexer with ``handleInvalid="error"`` or ``"skip"``;
- values outside a Bucketizer's finite outer splits (Spark always raises), and NaN (or null) in
  a column a Bucketizer or VectorAssembler reads when its ``handleInvalid`` is ``error`` (Spark's
  default) or ``skip``.
``error`` (and out-of-range values): the call fails with ``InvalidInputError`` naming the column,
the row and the value. ``skip``: Spark would drop the row; here its outputs are null (the row is
kept, never lost). ``keep`` needs nothing: the graph does what Spark does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlflow_sparkonnx.exceptions import InvalidInputError
from mlflow_sparkonnx.schema import Column, Columns


def closed_categories(stages: list[Any], inputs: list[Column]) -> dict[str, dict[str, Any]]:
    """``{column: {"handle_invalid": "error"|"skip", "labels": [...]}}`` for raw string inputs."""
    from pyspark.ml.feature import StringIndexerModel

    string_inputs = {c.name for c in inputs if c.spark_type == "string"}
    closed: dict[str, dict[str, Any]] = {}
    for stage in stages:
        if not isinstance(stage, StringIndexerModel) or stage.getHandleInvalid() == "keep":
            continue
        if stage.isSet(stage.inputCols):
            columns = stage.getInputCols()
        else:
            columns = [stage.getInputCol()]
        for column, labels in zip(columns, stage.labelsArray, strict=True):
            if column not in string_inputs:
                continue
            entry = closed.setdefault(column, {"handle_invalid": "skip", "labels": list(labels)})
            entry["labels"] = [label for label in entry["labels"] if label in set(labels)]
            if stage.getHandleInvalid() == "error":
                entry["handle_invalid"] = "error"
    return closed


#: How strict a NaN rule is; the strictest stage reading a column wins.
_NAN_STRICTNESS = {"keep": 0, "skip": 1, "error": 2}


def numeric_guards(stages: list[Any], inputs: list[Column]) -> dict[str, dict[str, Any]]:
    """``{column: {"low", "high", "nan"}}`` for raw numeric inputs a Bucketizer or VectorAssembler reads.

    Bucketizer: its outer splits bound the column and its ``handleInvalid`` rules NaN.
    VectorAssembler: its ``handleInvalid`` rules NaN (Spark's default, ``error``, refuses it).
    """
    from pyspark.ml.feature import Bucketizer, VectorAssembler

    numeric_inputs = {c.name for c in inputs if c.is_numeric}
    guards: dict[str, dict[str, Any]] = {}

    def guard(column: str, stage: Any, low: float = -np.inf, high: float = np.inf) -> None:
        if column not in numeric_inputs:
            return
        entry = guards.setdefault(column, {"low": -np.inf, "high": np.inf, "nan": "keep"})
        entry["low"], entry["high"] = max(entry["low"], low), min(entry["high"], high)
        rule = stage.getHandleInvalid()
        if _NAN_STRICTNESS[rule] > _NAN_STRICTNESS[entry["nan"]]:
            entry["nan"] = rule

    for stage in stages:
        if isinstance(stage, Bucketizer):
            if stage.isSet(stage.inputCols):
                pairs = zip(stage.getInputCols(), stage.getSplitsArray(), strict=True)
            else:
                pairs = [(stage.getInputCol(), stage.getSplits())]
            for column, splits in pairs:
                guard(column, stage, float(splits[0]), float(splits[-1]))
        elif isinstance(stage, VectorAssembler):
            for column in stage.getInputCols():
                guard(column, stage)
    return {
        c: {k: float(v) if k != "nan" else v for k, v in e.items()}
        for c, e in guards.items()
        if np.isfinite(e["low"]) or np.isfinite(e["high"]) or e["nan"] != "keep"
    }


def find_violations(
    frame: Columns, closed: dict[str, dict[str, Any]], ranges: dict[str, dict[str, Any]]
) -> tuple[list[tuple[str, np.ndarray, str]], np.ndarray]:
    """``(refused, skip)``: per refused column its row mask and the reason; the rows to null.

    ``frame`` is a pandas DataFrame or a mapping of column name to a 1-D array (all of one length).
    """
    refused: list[tuple[str, np.ndarray, str]] = []
    skip = np.zeros(_row_count(frame), dtype=bool)
    for column, entry in ranges.items():
        values = np.asarray(frame[column], dtype="float64")
        with np.errstate(invalid="ignore"):
            outside = (values < entry["low"]) | (values > entry["high"])
        bounds = f"[{entry['low']}, {entry['high']}]"
        refused.append((column, outside, f"outside its Bucketizer's splits {bounds}, which Spark refuses"))
        missing = np.isnan(values)
        if entry["nan"] == "error":
            refused.append(
                (
                    column,
                    missing,
                    (
                        "a null/NaN, which a stage reading it refuses (handleInvalid='error', Spark's "
                        "default for VectorAssembler and Bucketizer); impute it, or refit that stage with "
                        "handleInvalid='keep'"
                    ),
                )
            )
        elif entry["nan"] == "skip":
            skip |= missing
    for column, entry in closed.items():
        labels = set(entry["labels"])
        values = np.asarray(frame[column], dtype=object)
        unseen = np.fromiter((value not in labels for value in values), dtype=bool, count=len(values))
        if entry["handle_invalid"] == "error":
            refused.append(
                (
                    column,
                    unseen,
                    (
                        "a category not seen when the pipeline was fitted; its StringIndexer has "
                        "handleInvalid='error' (refit with handleInvalid='keep' to score such rows)"
                    ),
                )
            )
        else:
            skip |= unseen
    return [r for r in refused if r[1].any()], skip


def rows_to_skip(
    frame: Columns, closed: dict[str, dict[str, Any]], ranges: dict[str, dict[str, Any]] | None = None
) -> np.ndarray:
    """A boolean mask of rows whose outputs are null; raises ``InvalidInputError`` for refused rows."""
    refused, skip = find_violations(frame, closed, ranges or {})
    if refused:
        column, mask, why = refused[0]
        row = int(np.flatnonzero(mask)[0])
        value = np.asarray(frame[column])[row]
        value = value.item() if hasattr(value, "item") else value  # 120.0, not np.float64(120.0)
        raise InvalidInputError(f"Column '{column}' row {row} holds {value!r}, {why}.")
    return skip


def _row_count(frame: Columns) -> int:
    if isinstance(frame, pd.DataFrame):
        return len(frame)
    return len(next(iter(frame.values()), ()))
