"""The Python-worker side of ``transform(runtime="onnx")``: each Arrow batch scored by onnxruntime.

``spark_scoring`` plans the job on the driver; the ``pandas_udf`` it builds calls
:func:`score_batches` here, in every Python worker, with a :class:`WorkerSpec` (the graph's file
name in the job's files, the model contract, the outputs asked for, which vector outputs cross
split into one double per element, which outputs keep NaN). Each worker loads the graph once and
reuses it for every batch and task.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlflow_sparkonnx.contract import Column, ModelContract
from mlflow_sparkonnx.exceptions import InvalidInputError
from mlflow_sparkonnx.scoring.runtimes.base import DROPPED_ROWS

_logger = logging.getLogger(__name__)

# Per Python worker: the ONNX runtimes loaded here, and how often each was loaded and used.
_WORKER_RUNTIMES: dict[tuple[str, str], Any] = {}
_WORKER_LOADS: dict[str, int] = {}
_WORKER_BATCHES: dict[str, int] = {}


def worker_counters(model_sha256: str) -> dict[str, int]:
    """In this process: how often the graph with this sha256 was loaded, and batches it scored."""
    return {"loads": _WORKER_LOADS.get(model_sha256, 0), "batches": _WORKER_BATCHES.get(model_sha256, 0)}


@dataclass(frozen=True)
class WorkerSpec:
    """What the driver sends each Python worker (pickled with the UDF)."""

    file_name: str  # the graph, in the job's files (``SparkFiles.get``)
    contract: ModelContract
    selected: tuple[str, ...]  # the outputs asked for
    split: dict[str, int] = field(default_factory=dict)  # vector outputs crossing as one double per element
    keep_nan: tuple[str, ...] = ()  # double outputs whose NaN must stay NaN


def score_arrow_batches(batches: Any, spec: WorkerSpec, fields: list[tuple[str, str]]) -> Any:
    """:func:`score_batches` for an ``arrow_udf`` (pyspark 4.1+): Arrow arrays in, a struct array out.

    The same scoring, without pyspark's pandas conversions on either side. ``fields`` are the result
    struct's (name, Spark type); a double output keeps NaN as NaN where pyspark's conversion of a
    ``pandas_udf`` result would (those in ``keep_nan``), and reads NaN as null elsewhere, as it does.
    """
    import pyarrow as pa

    def as_series(batch: Any) -> tuple[pd.Series, ...]:
        arrays = batch if isinstance(batch, tuple) else (batch,)
        return tuple(array.to_pandas() for array in arrays)

    types = {"double": pa.float64(), "boolean": pa.bool_(), "string": pa.string()}
    types["array<double>"] = pa.list_(pa.float64())
    types["array<string>"] = pa.list_(pa.string())
    types["array<array<double>>"] = pa.list_(pa.list_(pa.float64()))
    for frame in score_batches(map(as_series, batches), spec):
        arrays = []
        for name, spark_type in fields:
            values = frame[name]
            if isinstance(values.array, pd.arrays.FloatingArray):  # NaN kept, the mask is the nulls
                array = pa.array(values.array._data, mask=values.array._mask, type=pa.float64())
            else:
                array = pa.array(values.to_numpy(), type=types[spark_type], from_pandas=True)
            arrays.append(array)
        yield pa.StructArray.from_arrays(arrays, names=[name for name, _ in fields])


def score_batches(batches: Any, spec: WorkerSpec) -> Any:
    """The Python-worker side: score each Arrow batch (a tuple of input Series) with the cached graph."""
    from mlflow_sparkonnx.scoring.guards import InputGuards
    from mlflow_sparkonnx.scoring.schema import coerce_inputs

    contract = spec.contract
    inputs = list(contract.inputs)
    runtime = _worker_runtime(spec)
    names = [c.name for c in inputs]
    guards = InputGuards(contract.closed_categories, contract.numeric_guards)  # prepared once per task
    selected = [c for c in contract.outputs if c.name in spec.selected]
    split, keep_nan = spec.split, list(spec.keep_nan)
    sha256 = contract.onnx_model_sha256 or ""
    for batch in batches:
        series = batch if isinstance(batch, tuple) else (batch,)
        frame = pd.DataFrame(dict(zip(names, series, strict=True)))
        try:
            frame = coerce_inputs(frame, inputs)
            skip = guards.rows_to_skip(frame)
        except InvalidInputError as exc:
            raise InvalidInputError(
                f"{exc.message} (the row counts from the start of an Arrow batch)"
            ) from None
        skip = np.asarray(skip, dtype=bool)
        if skip.any():
            kept = _score_split(runtime, frame[~skip].reset_index(drop=True), selected, split, keep_nan)
            null = skip.copy()
            null[~skip] = kept.pop(DROPPED_ROWS)
            scored = _spread(kept, skip, selected, split)
        else:
            scored = _score_split(runtime, frame, selected, split, keep_nan)
            null = scored.pop(DROPPED_ROWS)
        _WORKER_BATCHES[sha256] = _WORKER_BATCHES.get(sha256, 0) + 1
        yield _result_frame(scored, null, selected, split, keep_nan)


def _score_split(
    runtime: Any, frame: pd.DataFrame, selected: list[Column], split: dict[str, int], keep_nan: list[str]
) -> dict[str, np.ndarray]:
    """Score ``frame``; the ``split`` vectors come back as one column per element plus a null flag,
    the other vectors in ``keep_nan`` with a flag telling the rows that hold a NaN. Rows a stage drops
    in Spark have null outputs; ``DROPPED_ROWS`` tells them."""
    n_rows = len(frame)
    chunks = runtime.run_in_batches(frame, n_rows) if n_rows else []
    dropped = np.zeros(n_rows, dtype=bool)
    offset = 0
    for rows, raw in chunks:
        if DROPPED_ROWS in raw:
            dropped[offset : offset + rows] = raw[DROPPED_ROWS]
        offset += rows
    data = _score_chunks(chunks, n_rows, selected, split, keep_nan)
    if dropped.any():  # as rows skipped before scoring: null outputs
        data = _spread({k: v[~dropped] for k, v in data.items()}, dropped, selected, split)
    data[DROPPED_ROWS] = dropped
    return data


def _score_chunks(
    chunks: list[tuple[int, dict[str, Any]]],
    n_rows: int,
    selected: list[Column],
    split: dict[str, int],
    keep_nan: list[str],
) -> dict[str, np.ndarray]:
    from mlflow_sparkonnx.scoring.runtimes.base import format_outputs

    data = {}
    for col in selected:
        if col.name in split:
            width = split[col.name]
            parts = [raw[col.name] for _, raw in chunks]
            values = np.concatenate(parts) if parts else np.empty((0, width))
            values = values.astype("float64", copy=False).reshape(n_rows, width)
            for i in range(width):
                data[f"{col.name}#{i}"] = values[:, i]
            data[f"{col.name}#null"] = np.zeros(n_rows, dtype=bool)
            continue
        # formatted per run: padded widths may differ between runs
        formatted = [format_outputs({col.name: raw[col.name]}, [col], rows)[col.name] for rows, raw in chunks]
        if not formatted:
            formatted = [format_outputs({col.name: []}, [col], 0)[col.name]]
        data[col.name] = np.concatenate([f.to_numpy() for f in formatted])
        if crosses_as_list(col) and col.name in keep_nan:
            flags = [_rows_with_nan(raw[col.name], rows) for rows, raw in chunks]
            data[f"{col.name}#nan"] = np.concatenate(flags) if flags else np.zeros(0, dtype=bool)
    return data


def _rows_with_nan(values: Any, n_rows: int) -> np.ndarray:
    """Per row of a raw vector output: whether it holds a NaN element."""
    if isinstance(values, np.ndarray) and values.ndim >= 2:  # [N, k], or [N, tables, 1] (LSH hashes)
        return np.isnan(values.astype("float64", copy=False)).reshape(len(values), -1).any(axis=1)
    flags = np.zeros(n_rows, dtype=bool)
    for i, row in enumerate(values):
        if row is not None:
            flags[i] = bool(np.isnan(np.asarray(row, dtype="float64")).any())
    return flags


def _spread(
    kept: dict[str, np.ndarray], skip: Any, selected: list[Column], split: dict[str, int]
) -> dict[str, np.ndarray]:
    """``kept`` (one row per False in ``skip``) spread over every row; skipped rows are null."""
    from mlflow_sparkonnx.scoring.runtimes.base import null_rows_where

    whole = [c for c in selected if c.name not in split]
    if whole:
        spread = null_rows_where(pd.DataFrame({c.name: kept[c.name] for c in whole}), skip, whole)
    skip = np.asarray(skip, dtype=bool)
    positions = np.flatnonzero(~skip)
    data = {}
    for col in selected:
        if col.name not in split:
            data[col.name] = spread[col.name].to_numpy()
            if f"{col.name}#nan" in kept:
                flags = np.zeros(len(skip), dtype=bool)
                flags[positions] = kept[f"{col.name}#nan"]
                data[f"{col.name}#nan"] = flags
            continue
        for i in range(split[col.name]):
            values = np.full(len(skip), np.nan)
            values[positions] = kept[f"{col.name}#{i}"]
            data[f"{col.name}#{i}"] = values
        nulls = skip.copy()
        nulls[positions] = kept[f"{col.name}#null"]  # a kept row the graph dropped stays null
        data[f"{col.name}#null"] = nulls
    return data


def _result_frame(
    data: dict[str, np.ndarray],
    skip: np.ndarray,
    selected: list[Column],
    split: dict[str, int],
    keep_nan: list[str],
) -> pd.DataFrame:
    """The UDF's batch; the ``keep_nan`` doubles as ``FloatingArray``, so that Arrow keeps NaN as NaN.

    pyspark converts a float64 column with its ``isnull()`` mask, which reads NaN as null; an
    extension array converts through its own mask instead (the rows ``skip`` drops stay null).
    """
    no_mask = np.zeros(len(skip), dtype=bool)
    for col in selected:
        if col.name not in keep_nan:
            continue
        if col.name in split:  # a null row is flagged by #null: the elements need no mask
            for i in range(split[col.name]):
                name = f"{col.name}#{i}"
                values = np.ascontiguousarray(data[name], dtype="float64")  # a column of a 2-D block
                data[name] = pd.arrays.FloatingArray(values, no_mask)
        elif col.is_numeric:
            data[col.name] = pd.arrays.FloatingArray(np.asarray(data[col.name], dtype="float64"), skip)
    return pd.DataFrame(data)


def _worker_runtime(spec: WorkerSpec) -> Any:
    """The ``OnnxRuntime`` for this graph, loaded once per Python worker and then reused."""
    from pyspark import SparkFiles

    from mlflow_sparkonnx.scoring.runtimes.onnx_runtime import OnnxRuntime

    path = SparkFiles.get(spec.file_name)
    sha256 = spec.contract.onnx_model_sha256 or ""
    key = (path, sha256)
    cached = _WORKER_RUNTIMES.get(key)
    if cached is not None:
        return cached
    # One thread: Spark already runs one worker per core; more threads oversubscribe them.
    runtime = OnnxRuntime.load(path, spec.contract, intra_op_threads=1)
    _WORKER_RUNTIMES[key] = runtime
    _WORKER_LOADS[sha256] = _WORKER_LOADS.get(sha256, 0) + 1
    _logger.info("Loaded the ONNX graph %s in Python worker %d.", spec.file_name, os.getpid())
    return runtime


def is_double_output(col: Column) -> bool:
    """Whether the output crosses as doubles (a number, or a vector of them)."""
    return col.spark_type not in ("string", "array<string>")


def crosses_as_list(col: Column) -> bool:
    """A vector output sent as a list per row (one not split into element columns)."""
    return not col.is_numeric and is_double_output(col)
