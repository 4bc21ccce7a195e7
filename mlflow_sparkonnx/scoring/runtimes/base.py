"""What every runtime shares: the interface and the output format."""

from __future__ import annotations

import functools
from typing import Any, Protocol

import numpy as np
import pandas as pd

from mlflow_sparkonnx.contract import Column
from mlflow_sparkonnx.scoring.schema import Columns

#: The key, among a graph run's raw outputs, of the rows a stage drops in Spark (a bool per row).
DROPPED_ROWS = "__sparkonnx_dropped_rows"


class Runtime(Protocol):
    """Scores a frame already coerced to the model's input columns."""

    name: str

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """One row out per row in, columns as recorded at save time."""
        ...

    def predict_columns(self, columns: Columns, n_rows: int) -> pd.DataFrame:
        """``predict`` for coerced column arrays (``schema.coerce_columns``): the scoring fast path."""
        ...


def format_outputs(raw: dict[str, Any], outputs: list[Column], n_rows: int) -> pd.DataFrame:
    """Turn per-column raw values into the frame both runtimes return.

    Numbers become float64; strings stay Python strings; vectors and arrays become lists
    (of floats, or of strings) per row.
    """
    data = {}
    for col in outputs:
        values = raw[col.name]
        if col.is_numeric:
            data[col.name] = np.asarray(values, dtype="float64").reshape(n_rows)
        elif col.spark_type == "string":
            flat = np.asarray(values, dtype=object).reshape(n_rows)
            data[col.name] = _object_array([None if _missing(v) else str(v) for v in flat])
        elif col.spark_type == "array<string>":
            data[col.name] = _object_array(
                [None if _missing(row) else [str(x) for x in row] for row in values]
            )
        elif isinstance(values, np.ndarray) and values.ndim == 2:  # ONNX: one dense row per input row
            data[col.name] = _object_array(values.astype("float64", copy=False).tolist())
        else:
            data[col.name] = _object_array(
                [None if _missing(row) else np.asarray(row, dtype="float64").tolist() for row in values]
            )
    if not data:
        return pd.DataFrame(index=pd.RangeIndex(n_rows))
    # Every array above is 1-D, n_rows long, float64 or object: pandas' checks can be skipped
    # (a third of the public constructor's ~100 us, most of a single-row request's output cost).
    return pd.DataFrame._from_arrays(
        list(data.values()),
        columns=_column_index(tuple(data)).copy(),  # a shallow copy (~1 us): its own name, attrs
        index=pd.RangeIndex(n_rows),
        verify_integrity=False,
    )


@functools.lru_cache(maxsize=256)
def _column_index(names: tuple[str, ...]) -> pd.Index:
    """The output frame's column labels, built once per model (each frame gets a shallow copy, as
    a caller may set ``frame.columns.name``)."""
    return pd.Index(names, dtype=object)


def _object_array(items: list[Any]) -> np.ndarray:
    """A 1-D object array holding ``items`` as they are (lists stay lists, never a 2-D array)."""
    return np.fromiter(items, dtype=object, count=len(items))


def _missing(value: Any) -> bool:
    """A null cell: ``None``, or the NaN pandas puts in rows Spark dropped."""
    return value is None or (isinstance(value, float) and np.isnan(value))


def null_rows(scored: pd.DataFrame, mask: np.ndarray, outputs: list[Column]) -> pd.DataFrame:
    """``scored`` with every output null (NaN for numbers) in the ``mask`` rows: rows Spark drops."""
    if not mask.any():
        return scored
    scored = scored.copy()
    for col in outputs:
        values = scored[col.name].to_numpy(copy=True)
        values[mask] = np.nan if col.is_numeric else None
        scored[col.name] = values
    return scored


def null_rows_where(scored: pd.DataFrame, mask: np.ndarray, outputs: list[Column]) -> pd.DataFrame:
    """Spread ``scored`` (one row per False in ``mask``) over ``len(mask)`` rows; True rows are null."""
    positions = np.flatnonzero(~mask)
    data = {}
    for col in outputs:
        if col.is_numeric:
            values = np.full(len(mask), np.nan)
            values[positions] = scored[col.name].to_numpy()
            data[col.name] = values
        else:
            values = np.full(len(mask), None, dtype=object)
            values[positions] = scored[col.name].to_numpy()
            data[col.name] = pd.Series(values, dtype=object)
    return pd.DataFrame(data, columns=[c.name for c in outputs])
