"""Unseen categories: what Spark's StringIndexer does with them, applied before either runtime runs.

An ONNX graph cannot raise, and it cannot drop a row. So the categories of every StringIndexer
with ``handleInvalid="error"`` or ``"skip"`` that reads a raw string input are recorded at save
time, and checked on every call, the same way for both runtimes:
- ``error``: the call fails with ``InvalidInputError`` naming the column, the row and the value;
- ``skip``: Spark would drop the row; here its outputs are null (the row is kept, never lost).
``keep`` needs nothing: the graph maps unseen values to the extra index as Spark does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlflow_sparkonnx.exceptions import InvalidInputError
from mlflow_sparkonnx.schema import Column


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


def rows_to_skip(frame: pd.DataFrame, closed: dict[str, dict[str, Any]]) -> np.ndarray:
    """A boolean mask of rows whose outputs are null; raises for an unseen value under ``error``."""
    skip = np.zeros(len(frame), dtype=bool)
    for column, entry in closed.items():
        unseen = ~frame[column].isin(entry["labels"]).to_numpy()
        if not unseen.any():
            continue
        if entry["handle_invalid"] == "error":
            row = int(np.flatnonzero(unseen)[0])
            raise InvalidInputError(
                f"Column '{column}' row {row} holds {frame[column].iloc[row]!r}, a category not seen when "
                "the pipeline was fitted; its StringIndexer has handleInvalid='error' (refit with "
                "handleInvalid='keep' to score such rows)."
            )
        skip |= unseen
    return skip
