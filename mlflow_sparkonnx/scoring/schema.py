"""Input and output columns: their recorded types, and turning caller frames into them.

A column's ``spark_type`` is Spark's ``simpleString`` (``double``, ``int``, ``string``,
``array<string>``) or ``vector`` for ``pyspark.ml.linalg`` vectors. The same record drives
the ONNX input types at save time and input validation in both runtimes at predict time.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from mlflow_sparkonnx.contract import INTEGRAL_LIMITS, INTEGRAL_TYPES, Column
from mlflow_sparkonnx.exceptions import InvalidInputError

#: Scoring input: a pandas DataFrame, or column name → 1-D array of one length (the fast path).
Columns = pd.DataFrame | Mapping[str, np.ndarray]


def columns_from_spark_schema(schema: Any, first_row: Any = None) -> list[Column]:
    """Columns for a Spark ``StructType``; vector sizes are read from ``first_row`` when given."""
    from pyspark.ml.linalg import VectorUDT

    columns = []
    for field in schema.fields:
        if isinstance(field.dataType, VectorUDT):
            vector = first_row[field.name] if first_row is not None else None
            size = int(vector.size) if vector is not None else None
            columns.append(Column(field.name, "vector", size))
        else:
            columns.append(Column(field.name, field.dataType.simpleString()))
    return columns


def to_spark_frame(frame: pd.DataFrame, columns: list[Column], spark: Any) -> Any:
    """A Spark DataFrame holding ``frame``'s rows with exactly the recorded column types."""
    from pyspark.ml.linalg import DenseVector

    converters = [
        (lambda v: None if v is None else DenseVector(v))
        if col.spark_type == "vector"
        else _python_scalar_converter(col)
        for col in columns
    ]
    names = [c.name for c in columns]
    rows = [
        tuple(convert(value) for convert, value in zip(converters, row, strict=True))
        for row in frame[names].itertuples(index=False, name=None)
    ]
    return spark.createDataFrame(rows, schema=spark_schema(tuple(columns)))


@functools.lru_cache(maxsize=64)
def spark_schema(columns: tuple[Column, ...]) -> Any:
    """The Spark ``StructType`` for ``columns`` (cached: parsing type strings goes through the JVM)."""
    from pyspark.ml.linalg import VectorUDT
    from pyspark.sql.types import StructField, StructType, _parse_datatype_string

    fields = [
        StructField(
            col.name, VectorUDT() if col.spark_type == "vector" else _parse_datatype_string(col.spark_type)
        )
        for col in columns
    ]
    return StructType(fields)


def _python_scalar_converter(col: Column) -> Any:
    def is_missing(v: Any) -> bool:
        return v is None or (isinstance(v, float) and np.isnan(v))

    if col.spark_type in INTEGRAL_TYPES:
        return lambda v: None if is_missing(v) else int(v)
    if col.spark_type == "boolean":
        return lambda v: None if is_missing(v) else bool(v)
    if col.is_numeric:
        return lambda v: None if v is None else float(v)
    if col.is_sequence:
        return lambda v: None if v is None else list(v)
    return lambda v: v


def coerce_inputs(frame: pd.DataFrame, columns: list[Column]) -> pd.DataFrame:
    """Select and cast the caller's columns to the recorded types; extra columns are ignored.

    Numbers (int, bool, float; numeric strings are refused) become float64; string columns
    must hold strings; sequence columns hold lists or arrays. Raises ``InvalidInputError``
    naming the column and the problem.
    """
    arrays = coerce_columns(frame, columns)
    return pd.DataFrame(arrays, index=pd.RangeIndex(len(frame)))


def coerce_columns(frame: pd.DataFrame, columns: list[Column]) -> dict[str, np.ndarray]:
    """:func:`coerce_inputs` as one numpy array per column (float64 or object): the scoring fast path."""
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInputError(
            f"Expected a pandas DataFrame with columns {[c.name for c in columns]}, "
            f"got {type(frame).__name__}."
        )
    # Label -> position, built once: the missing check (Index.__contains__ costs ~1.5 us per column)
    # and the small-frame path both read it.
    position = {label: j for j, label in enumerate(frame.columns)}
    missing = [c for c in columns if c.name not in position]
    if missing:
        described = ", ".join(f"'{c.name}' ({c.spark_type})" for c in missing)
        raise InvalidInputError(f"Missing input column(s): {described}.")
    coerced = {}
    for col, values in zip(columns, _column_values(frame, [c.name for c in columns], position), strict=True):
        if col.is_numeric:
            coerced[col.name] = _as_float(values, col)
        elif col.spark_type == "string":
            coerced[col.name] = _as_strings(values, col)
        else:
            coerced[col.name] = _as_sequences(values, col)
    return coerced


#: Up to this many rows, reading columns from pandas' blocks costs less than one pandas Series per
#: column (a single-row request: ~7 us instead of ~100 us for the ten columns of the Adult pipeline).
SMALL_FRAME_ROWS = 64


def _column_values(frame: pd.DataFrame, names: list[str], position: dict[Any, int]) -> list[np.ndarray]:
    """``frame[name].to_numpy()`` for each name: the same arrays, with the same dtypes and values.

    A small frame's numpy-typed columns (bool, numbers, object) are read as rows of pandas' own
    2-D blocks, without building a Series per column; any other column (datetime, categorical,
    nullable extension types), every column of a larger frame or of a frame with duplicate
    labels is read through pandas as before. The arrays are views: nothing here writes to them.
    ``position`` maps each label to its column position; every name is one of them.
    """
    if len(frame) > SMALL_FRAME_ROWS or not frame.columns.is_unique:
        return [frame[name].to_numpy() for name in names]
    by_position = _numpy_block_columns(frame)
    values = []
    for name in names:
        array = by_position.get(position[name])
        values.append(array if array is not None else frame[name].to_numpy())
    return values


def _numpy_block_columns(frame: pd.DataFrame) -> dict[int, np.ndarray]:
    """Column position → that column's values, for the columns pandas holds in 2-D numpy blocks.

    Uses pandas' block manager (``DataFrame._mgr``, stable through pandas 2.x, which this package
    pins); if it is not there, every column is read the public way.
    """
    columns: dict[int, np.ndarray] = {}
    try:
        blocks = frame._mgr.blocks
        for block in blocks:
            values = block.values
            if isinstance(values, np.ndarray) and values.ndim == 2 and values.dtype.kind in "biufO":
                for row, j in enumerate(block.mgr_locs.as_array):
                    columns[int(j)] = values[row]
    except AttributeError:
        return {}
    return columns


def _as_float(values: np.ndarray, col: Column) -> np.ndarray:
    if values.dtype.kind in "biu":
        return values.astype("float64")
    if values.dtype.kind == "f":
        result = values.astype("float64")
    else:
        result = _objects_as_float(values, col)
    if col.spark_type in INTEGRAL_TYPES:
        _refuse_non_integral(result, col)
    return result


#: Spark's integral types hold whole numbers in [-limit, limit).


def _refuse_non_integral(values: np.ndarray, col: Column) -> None:
    """Spark cannot hold a fraction, an infinity or an out-of-range number in an integral column."""
    limit = INTEGRAL_LIMITS[col.spark_type]
    with np.errstate(invalid="ignore"):
        bad = (values >= limit) | (values < -limit) | (values != np.trunc(values))
    bad &= ~np.isnan(values)  # NaN means null: the stages' null rules apply
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(
            f"Column '{col.name}' ({col.spark_type}) row {row} holds {values[row].item()!r}, "
            f"{not_whole_number(col.spark_type)}."
        )


def not_whole_number(spark_type: str) -> str:
    """Why a value is refused for an integral column (both runtimes)."""
    return f"which is not a whole number within range; the model was saved with a {spark_type} column"


def _objects_as_float(values: np.ndarray, col: Column) -> np.ndarray:
    result = np.empty(len(values), dtype="float64")
    for position, value in enumerate(values):
        if value is None or value is pd.NA:
            result[position] = np.nan
        elif isinstance(value, (bool, int, float, np.number)):
            result[position] = float(value)
        else:
            raise InvalidInputError(
                f"Column '{col.name}' must be numeric ({col.spark_type}) but row {position} "
                f"holds {type(value).__name__} {value!r}."
            )
    return result


def _as_strings(values: np.ndarray, col: Column) -> np.ndarray:
    if values.dtype != object:
        values = values.astype(object)
    # Every cell a str, checked in one C loop (for a few rows the Python loop below is quicker).
    if len(values) > SMALL_FRAME_ROWS and pd.api.types.infer_dtype(values, skipna=False) == "string":
        return values
    for position, value in enumerate(values):
        if not isinstance(value, str):
            problem = "a null" if value is None or value is pd.NA else (f"{type(value).__name__} {value!r}")
            if isinstance(value, float) and np.isnan(value):
                problem = "a null (NaN)"
            raise InvalidInputError(
                f"Column '{col.name}' must hold strings but row {position} holds {problem}."
            )
    return values


def _as_sequences(values: np.ndarray, col: Column) -> np.ndarray:
    result = np.empty(len(values), dtype=object)
    for position, value in enumerate(values):
        if hasattr(value, "toArray"):
            value = value.toArray()
        if not isinstance(value, (list, tuple, np.ndarray)):
            raise InvalidInputError(
                f"Column '{col.name}' must hold a list per row ({col.spark_type}) but row "
                f"{position} holds {type(value).__name__}."
            )
        if col.size is not None and len(value) != col.size:
            raise InvalidInputError(
                f"Column '{col.name}' must hold vectors of length {col.size} but row "
                f"{position} has length {len(value)}."
            )
        result[position] = list(value)
    return result


def spark_frame_to_pandas(spark_frame: Any) -> pd.DataFrame:
    """Collect a Spark DataFrame; vectors become lists of floats."""
    rows = spark_frame.collect()
    names = spark_frame.columns
    data = {name: [_plain(row[name]) for row in rows] for name in names}
    return pd.DataFrame(data, columns=names)


def _plain(value: Any) -> Any:
    if hasattr(value, "toArray"):
        return value.toArray().tolist()
    return value
