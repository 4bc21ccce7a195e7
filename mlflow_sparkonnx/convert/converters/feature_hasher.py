"""FeatureHasher: Spark's hashing trick over several columns, as a dense ``[N, numFeatures]`` tensor.

Per column and row, Spark adds one value at one index ``nonNegativeMod(murmur3(term), n)``
(MurmurHash3 x86_32 of the term's UTF-8 bytes, seed 42, as for HashingTF):

- numeric column (not in ``categoricalCols``): the value itself, at the hash of the column name;
- string and boolean columns, and numeric columns in ``categoricalCols``: 1.0 at the hash of
  ``"<column>=<value>"`` (``true``/``false`` for booleans, decimal digits for integers, Java's
  ``Double.toString`` for doubles);
- a null adds nothing; a NaN in a double column adds NaN (Spark sees NaN, not null).

Every numeric input enters the graph as a double, and an integer column cannot be told from a
double one there, so the converter needs the raw columns' Spark types (boolean vs integer vs
double) from :func:`~._graph.spark_input_types`; without them a numeric column does not convert.
A double in ``categoricalCols`` is written as Java writes it where the graph can (whole numbers
below 10^7: ``3.0``, ``-0.0``; ``NaN``, ``Infinity``); a row holding any other value (``0.5``,
``1.0E7``) is refused by the ONNX runtime and scored by the Spark runtime. Categories are read
as doubles, so an integer category is exact up to 2^53 (the graph's input holds no more).
Intermediate numeric columns (outputs of earlier stages, never null) are Spark doubles.
"""

from __future__ import annotations

import logging
from typing import Any

from pyspark.ml.feature import FeatureHasher

from mlflow_sparkonnx.convert.converters import ConverterSpec
from mlflow_sparkonnx.convert.converters._graph import (
    DOUBLE,
    FLOAT,
    INT64,
    constant,
    output_columns,
    spark_input_type,
    spark_input_types_known,
)
from mlflow_sparkonnx.convert.converters._row_checks import refuse_rows_onnx_only
from mlflow_sparkonnx.convert.converters._text import (
    STRING,
    TEXT_OPSET,
    calculate_num_features_shapes,
    hash_buckets,
    ints,
    java_double_text,
    op,
    scatter_into_buckets,
)

_logger = logging.getLogger(__name__)

_INTEGRAL = frozenset({"tinyint", "smallint", "int", "bigint"})
_FLOATING = frozenset({"float", "double"})


def input_columns(stage: Any) -> list[str]:
    """``inputCols``."""
    return list(stage.getInputCols())


def _column_kind(name: str, variable: Any, categorical: set[str]) -> str:
    """``string``, ``boolean``, ``real`` (value as weight, null-free), ``real_nullable``, ``integer``
    or ``double`` (the last two categorical)."""
    from onnxmltools.convert.common.data_types import StringTensorType

    if isinstance(variable.type, StringTensorType):
        return "string"
    spark_type = spark_input_type(name)
    if spark_type is None and not spark_input_types_known():
        raise NotImplementedError(
            f"FeatureHasher column '{name}': its Spark type (boolean, integer or floating) is not known "
            "to the converter, and every numeric input enters the graph as float"
        )
    if spark_type == "boolean":
        return "boolean"
    if name in categorical:
        if spark_type in _INTEGRAL:
            return "integer"
        if spark_type is None or spark_type == "double":
            return "double"
        raise NotImplementedError(f"FeatureHasher categorical column '{name}' of type {spark_type}")
    if spark_type in _INTEGRAL:
        return "real_nullable"
    if spark_type is None or spark_type in _FLOATING:
        return "real"
    raise NotImplementedError(f"FeatureHasher column '{name}' has unsupported type {spark_type}")


def _prefixed(scope: Any, container: Any, name: str, values: str) -> str:
    """``"<name>=" + value`` per row (``values`` a string tensor)."""
    prefix = constant(scope, container, "fh_prefix", STRING, [], [f"{name}=".encode()])
    return op(scope, container, "StringConcat", [prefix, values], 20)


def _column_terms(
    scope: Any, container: Any, name: str, variable: Any, kind: str, num_features: int, stage: Any
) -> tuple[str, str]:
    """One column's ``[N, 1]`` bucket index (int64) and ``[N, 1]`` value (float)."""
    column = op(scope, container, "Reshape", [variable.full_name, ints(scope, container, "col", [-1, 1])], 14)
    one = constant(scope, container, "fh_one", FLOAT, [], [1.0])
    zero = constant(scope, container, "fh_zero", FLOAT, [], [0.0])
    if kind == "string":
        index = hash_buckets(scope, container, _prefixed(scope, container, name, column), num_features)
        return index, op(scope, container, "Expand", [one, op(scope, container, "Shape", [column], 15)])
    if kind == "double":  # a category (NaN too): Java's Double.toString where the graph can write it
        text, unwritten = java_double_text(
            scope, container, op(scope, container, "Cast", [column], to=DOUBLE)
        )
        why = (
            f"a value Java writes in its shortest or E form (categories of '{name}' convert for whole "
            "numbers below 10^7, NaN and the infinities)"
        )
        refuse_rows_onnx_only(scope, container, unwritten, stage, name, why)
        index = hash_buckets(scope, container, _prefixed(scope, container, name, text), num_features)
        return index, op(scope, container, "Expand", [one, op(scope, container, "Shape", [column], 15)])
    x = op(scope, container, "Cast", [column], to=FLOAT)
    missing = op(scope, container, "IsNaN", [x])  # a null in an integer or boolean column
    if kind in ("real", "real_nullable"):
        term = constant(scope, container, "fh_column", STRING, [1, 1], [name.encode()])
        shape = op(scope, container, "Shape", [x], 15)
        index = op(scope, container, "Expand", [hash_buckets(scope, container, term, num_features), shape])
        value = op(scope, container, "Where", [missing, zero, x], 16) if kind == "real_nullable" else x
        return index, value
    if kind == "boolean":
        true = constant(scope, container, "fh_true", STRING, [], [b"true"])
        false = constant(scope, container, "fh_false", STRING, [], [b"false"])
        text = op(scope, container, "Where", [op(scope, container, "Equal", [x, zero]), false, true], 16)
    elif kind == "integer":  # its decimal digits, from the double (float32 rounds above 2^24)
        exact = op(scope, container, "Cast", [column], to=DOUBLE)
        nan = op(scope, container, "IsNaN", [exact])
        safe = op(
            scope,
            container,
            "Where",
            [nan, constant(scope, container, "fh_zero_d", DOUBLE, [], [0.0]), exact],
            16,
        )
        text = op(scope, container, "Cast", [op(scope, container, "Cast", [safe], to=INT64)], to=STRING)
    index = hash_buckets(scope, container, _prefixed(scope, container, name, text), num_features)
    return index, op(scope, container, "Where", [missing, zero, one], 16)


def convert_feature_hasher(scope: Any, operator: Any, container: Any) -> None:
    """Bucket and value per column, then one ``ScatterElements(add)`` into ``[N, numFeatures]`` zeros."""
    stage = operator.raw_operator
    num_features = int(stage.getNumFeatures())
    categorical = set(stage.getCategoricalCols()) if stage.isSet(stage.categoricalCols) else set()
    indices, values = [], []
    for name, variable in zip(input_columns(stage), operator.inputs, strict=True):
        kind = _column_kind(name, variable, categorical)
        index, value = _column_terms(scope, container, name, variable, kind, num_features, stage)
        indices.append(index)
        values.append(value)
    index = op(scope, container, "Concat", indices, axis=1)
    value = op(scope, container, "Concat", values, axis=1)
    scatter_into_buckets(scope, container, index, value, num_features, "add", operator.outputs[0].full_name)


SPECS = [
    ConverterSpec(
        FeatureHasher,
        convert_feature_hasher,
        calculate_num_features_shapes,
        input_columns=input_columns,
        output_columns=output_columns,
        min_opset=TEXT_OPSET,
    ),
]
