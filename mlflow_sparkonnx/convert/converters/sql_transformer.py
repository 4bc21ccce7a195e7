"""SQLTransformer: ``SELECT [*,] <expr> AS name, ... FROM __THIS__`` translated to ONNX nodes.

The statement is parsed by sqlglot (:mod:`._sql`); every aliased expression becomes one double
``[N, 1]`` output (a constant is broadcast to every row), null as NaN (what both runtimes return
for a null number). Each sub-expression is carried as its Spark type, a double tensor and a null
mask, and follows Spark 4's ANSI rules (measured, pyspark 4.3, ``spark.sql.ansi.enabled=true``):

- ``+ - *`` and unary ``-`` keep the integral type of integer operands (``int * int`` is int,
  ``bigint`` with a bigint); integer overflow raises ARITHMETIC_OVERFLOW. ``/`` is always double;
  a zero divisor raises DIVIDE_BY_ZERO (doubles too), a null operand gives null.
- Comparisons (``= <> != < <= > >= <=>``) order NaN above every number and equal to itself
  (``NaN = NaN`` is true); ``AND``/``OR``/``NOT``/``IS [NOT] NULL`` are three-valued.
- ``CASE`` (searched and simple), ``IF``, ``COALESCE``/``NVL``/``IFNULL``: lazily evaluated (an
  error in a branch not taken does not raise); no ELSE gives null.
- ``GREATEST``/``LEAST`` skip nulls (null when all are), NaN is the greatest value.
- ``CAST``/``TRY_CAST`` to tinyint, smallint, int, bigint, double, boolean: double → integer
  truncates and raises CAST_OVERFLOW out of range or on NaN (TRY_CAST gives null).
- ``ABS`` (overflow on the minimum integer), ``EXP``, ``SQRT`` (negative → NaN), ``LN``/``LOG(x)``
  and ``LOG(base, x)`` (null when an argument is <= 0), ``POW``/``POWER`` (Java's ``pow``:
  NaN exponent → NaN, ``(±1) ^ ±inf`` → NaN).

- A string column compared with string literals: ``=``, ``<>``/``!=``, ``<=>``, ``IN (...)`` (a
  ``LabelEncoder`` lookup: bytewise equality, as Spark's default UTF8_BINARY collation), so
  ``CASE WHEN color = 'red' THEN 1 ELSE 0 END`` converts; and ``LIKE 'pattern'`` (one anchored
  RE2 match of the whole string, see ``like_pattern_to_re2``). String columns are never null here
  (the input rules refuse a null string). ``TRIM``/``LTRIM``/``RTRIM``, ``LENGTH`` and ``CONCAT``
  (see ``_sql_strings``) give strings that compare the same way, or become string outputs.
  Ordering, other string functions and casts from or to strings are refused by name.

Where Spark raises, the graph flags the row (a row check, see :mod:`._row_checks`): the ONNX
runtime refuses the first row that would have raised, naming the output column and Spark's error
class. Decimal results of arithmetic (``int_col * 2.5``), float (32-bit) columns and everything
else are refused with the construct named. A CASE/IF over decimal and integer literals (``THEN 1.0
ELSE 0.0``, a DECIMAL in Spark) converts: its values are the literals as doubles, which is what
Spark's cast gives; it may be an output or feed a VectorAssembler, and is refused anywhere else.
Integer columns may be null (NaN at the graph input); double columns hold NaN.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from pyspark.ml.feature import SQLTransformer

from mlflow_sparkonnx.convert.converters import (
    ConverterSpec,
    _sql_casts,  # noqa: F401 (registers the string casts)
)
from mlflow_sparkonnx.convert.converters._graph import (
    _INPUT_SPARK_TYPES,
    INT64,
    constant,
    node,
    spark_input_type,
)
from mlflow_sparkonnx.convert.converters._row_checks import refuse_rows, refuse_rows_onnx_only
from mlflow_sparkonnx.convert.converters._sql_expressions import (
    DECIMAL_CHOICE,
    DOUBLE,
    TYPES,
    Context,
    Value,
    translate,
)
from mlflow_sparkonnx.convert.converters._sql_strings import (
    STRING_CONCAT_OPSET,
    is_string_expression,
    needs_string_concat,
)
from mlflow_sparkonnx.exceptions import ConversionError
from mlflow_sparkonnx.sparkml.sql_statement import (
    UnsupportedSqlError,
    parse_statement,
)

# ---------------------------------------------------------------- the stage


def _spark_session(operator: Any) -> Any:
    spark = (getattr(operator, "raw_params", None) or {}).get("SparkSession")
    if spark is None:
        from pyspark.sql import SparkSession

        spark = SparkSession.getActiveSession()
    if spark is None:
        raise ConversionError("SQLTransformer needs a SparkSession during conversion (to type its columns)")
    return spark


def _input_types(scope: Any, operator: Any, spark: Any, names: tuple[str, ...]) -> dict[str, str]:
    """The Spark type of every column the statement reads: raw inputs as recorded, others as Spark
    computes them (the upstream stages applied to an empty frame: no Spark job runs)."""
    from pyspark.sql.types import StructField, StructType, _parse_datatype_string

    from mlflow_sparkonnx.convert.converters._metadata import _ancestors, _spark_field, producer_of

    types: dict[str, str] = {}
    upstream: dict[int, Any] = {}
    roots: dict[str, Any] = {}
    read = [v for v in operator.inputs if v.raw_name in names]
    for variable in read:
        if producer_of(scope, variable) is None:
            recorded = spark_input_type(variable.raw_name)
            if recorded is None:
                raise UnsupportedSqlError(
                    f"the column '{variable.raw_name}', which is neither a pipeline input nor written by "
                    "an earlier stage (names are matched exactly, case included)"
                )
            types[variable.raw_name] = recorded
            continue
        stages, starts = _ancestors(scope, operator, variable)
        upstream.update({id(s): s for s in stages})
        roots.update({v.raw_name: v for v in starts})
    if upstream:
        order = {id(op): i for i, op in enumerate(scope.operators.values())}
        fields = []
        for name, variable in roots.items():
            recorded = spark_input_type(name)
            if recorded and recorded != "vector" and not recorded.startswith("array"):
                fields.append(StructField(name, _parse_datatype_string(recorded)))
            else:
                fields.append(_spark_field(variable))
        frame = spark.createDataFrame([], StructType(fields))
        for stage_operator in sorted(upstream.values(), key=lambda op: order[id(op)]):
            frame = stage_operator.raw_operator.transform(frame)
        for variable in read:
            if variable.raw_name not in types:
                types[variable.raw_name] = frame.schema[variable.raw_name].dataType.simpleString()
    return types


def _column_value(ctx: Context, variable: Any, spark_type: str) -> Value:
    """A column as a double ``[N, 1]``; integer and boolean columns are null where NaN arrives."""
    from onnxmltools.convert.common.data_types import DoubleTensorType, StringTensorType

    name = variable.raw_name
    if spark_type == "string" and isinstance(variable.type, StringTensorType):
        # never null: the input rules refuse a null string
        return Value("string", _as_column(ctx, variable.full_name, variable.type.shape))
    if spark_type == "float":
        raise UnsupportedSqlError(f"the float (32-bit) column '{name}' (Spark computes in float32)")
    if spark_type not in TYPES or isinstance(variable.type, StringTensorType):
        raise UnsupportedSqlError(
            f"the {spark_type} column '{name}' (numeric, boolean and string columns only)"
        )
    shape = variable.type.shape
    if len(shape) > 1 and shape[1] != 1:
        raise UnsupportedSqlError(f"the column '{name}' of shape {shape} (scalar columns only)")
    tensor = variable.full_name
    if not isinstance(variable.type, DoubleTensorType):
        tensor = ctx.op("Cast", tensor, to=DOUBLE)
    tensor = _as_column(ctx, tensor, shape)
    if spark_type == "double":
        return Value("double", tensor)
    null = ctx.op("IsNaN", tensor)
    return Value(spark_type, ctx.where(null, ctx.const(0.0), tensor), null)


def _as_column(ctx: Context, tensor: str, shape: list[Any]) -> str:
    """A 1-D input as ``[N, 1]`` (a 2-D one is that already)."""
    if len(shape) != 1:
        return tensor
    column_shape = constant(ctx.scope, ctx.container, "sql_column_shape", INT64, [2], [-1, 1])
    return ctx.op("Reshape", tensor, column_shape, version=14)


def _rows_by_one(ctx: Context, reference: str) -> str:
    """The shape ``[N, 1]``, N the rows of the input tensor ``reference``."""
    first = ctx.op(
        "Slice",
        ctx.op("Shape", reference),
        constant(ctx.scope, ctx.container, "sql_zero", INT64, [1], [0]),
        constant(ctx.scope, ctx.container, "sql_one", INT64, [1], [1]),
    )
    return ctx.op("Concat", first, constant(ctx.scope, ctx.container, "sql_one", INT64, [1], [1]), axis=0)


def _consumers(scope: Any, variable: Any) -> list[Any]:
    return [
        op for op in scope.operators.values() if any(inp.onnx_name == variable.onnx_name for inp in op.inputs)
    ]


def _consumer_refusals(alias: str, consumers: list[Any], value: Value) -> None:
    """Refuse the translation where a downstream stage treats this column's null or NaN unlike the graph."""
    from pyspark.ml.feature import VectorAssembler

    for consumer in consumers:
        stage = consumer.raw_operator
        if value.spark_type == DECIMAL_CHOICE and not isinstance(stage, VectorAssembler):
            raise UnsupportedSqlError(
                f"the DECIMAL column '{alias}' feeding {type(stage).__name__} (only a VectorAssembler, which "
                "reads it as a double, or the model's output; write its literals as doubles, e.g. 1.0D)"
            )
        if isinstance(stage, VectorAssembler):
            mode = stage.getOrDefault("handleInvalid")
            if mode == "skip":
                raise UnsupportedSqlError(
                    f"the column '{alias}' feeding a VectorAssembler with handleInvalid='skip' (Spark drops "
                    "rows where the SQL gives null or NaN)"
                )
            # "error": the VectorAssembler's own row check refuses a null or NaN, as Spark does
        elif value.null is not None:
            raise UnsupportedSqlError(
                f"the column '{alias}', which can be null, feeding {type(stage).__name__} (null would "
                "arrive there as NaN)"
            )


def _refuse_error_rows(ctx: Context, stage: Any, errors: list[tuple[str, str]], alias: str) -> None:
    """Rows where any error flag holds are refused (Spark raises computing ``alias`` there)."""
    flags = errors[0][1]
    for _, flag in errors[1:]:
        flags = ctx.op("Or", flags, flag, version=7)
    classes = ", ".join(sorted({name for name, _ in errors}))
    refuse_rows(ctx.scope, ctx.container, flags, stage, alias, f"Spark raises {classes} computing it")


def _refuse_onnx_only(ctx: Context, stage: Any, alias: str) -> None:
    """Rows the graph cannot compute as Spark does (LOWER/UPPER of some characters): refused."""
    for why, flags in ctx.refusals:
        refuse_rows_onnx_only(ctx.scope, ctx.container, flags, stage, alias, why)
    ctx.refusals.clear()


def _check_types_with_spark(stage: Any, spark: Any, types: dict[str, str], produced: dict[str, str]) -> None:
    """Spark's own output types for the statement must be the ones the translation assumed."""
    from pyspark.sql.types import StructField, StructType, _parse_datatype_string

    schema = StructType([StructField(n, _parse_datatype_string(t)) for n, t in types.items()])
    result = stage.transform(spark.createDataFrame([], schema)).schema
    for alias, spark_type in produced.items():
        actual = result[alias].dataType.simpleString()
        if spark_type == "decimal" and actual.startswith("decimal("):
            continue  # its precision is Spark's to choose; the values are the literals either way
        if actual != spark_type:
            raise UnsupportedSqlError(
                f"the column '{alias}': Spark types it {actual}, the translation {spark_type}"
            )


def convert_sql_transformer(scope: Any, operator: Any, container: Any) -> None:
    """Translate every aliased expression; outputs are double ``[N, 1]`` (null as NaN), or strings."""
    from onnxmltools.convert.common.data_types import StringTensorType

    stage = operator.raw_operator
    plan = parse_statement(stage.getStatement())
    spark = _spark_session(operator)
    if str(spark.conf.get("spark.sql.ansi.enabled", "true")).lower() != "true":
        raise UnsupportedSqlError("spark.sql.ansi.enabled=false (the translation follows ANSI mode)")
    types = _input_types(scope, operator, spark, plan.inputs)
    ctx = Context(scope, container, {})
    ctx.columns = {
        v.raw_name: functools.partial(_column_value, ctx, v, types[v.raw_name])
        for v in operator.inputs
        if v.raw_name in types
    }
    outputs = {v.raw_name: v for v in operator.outputs}
    rows = _rows_by_one(ctx, operator.inputs[0].full_name) if operator.inputs else None
    produced: dict[str, str] = {}
    for alias, expression in plan.outputs:
        first_error = len(ctx.errors)
        value = translate(ctx, expression, None)
        declared_string = isinstance(outputs[alias].type, StringTensorType)
        if value.spark_type == "string" and declared_string and value.literal is None:
            produced[alias] = "string"  # never null: string columns and these functions give no null
            if len(ctx.errors) > first_error:  # no string function raises today; keep it that way
                raise UnsupportedSqlError(f"a string result for '{alias}' that Spark may refuse")
            _refuse_onnx_only(ctx, stage, alias)
            tensor = value.tensor if rows is None else ctx.op("Expand", value.tensor, rows, version=13)
            node(scope, container, "Identity", [tensor], op_version=14, output=outputs[alias].full_name)
            continue
        if value.spark_type == "string" or declared_string:
            what = "a constant string" if value.literal is not None else "a string from a computed column"
            raise UnsupportedSqlError(f"{what} for '{alias}' (string results from input columns only)")
        if value.spark_type not in TYPES | {DECIMAL_CHOICE}:
            what = "an all-NULL column" if value.spark_type == "void" else f"a {value.spark_type} result"
            raise UnsupportedSqlError(f"{what} for '{alias}'")
        produced[alias] = "decimal" if value.spark_type == DECIMAL_CHOICE else value.spark_type
        tensor = value.tensor
        if value.null is not None:
            tensor = ctx.where(value.null, ctx.const(math.nan), tensor)
        if rows is not None:
            # A value that reads no column per row (a literal, x IS NULL on a never-null double)
            # is a [1, 1] constant: broadcast it to one row per input row.
            tensor = ctx.op("Expand", tensor, rows, version=13)
        _consumer_refusals(alias, _consumers(scope, outputs[alias]), value)
        # Rows the graph cannot compute first: an error flag there may come from a placeholder value.
        _refuse_onnx_only(ctx, stage, alias)
        errors = ctx.errors[first_error:]
        if errors:
            _refuse_error_rows(ctx, stage, errors, alias)
        node(scope, container, "Identity", [tensor], op_version=14, output=outputs[alias].full_name)
    _check_types_with_spark(stage, spark, types, produced)


def calculate_sql_transformer_shapes(operator: Any) -> None:
    """``[N, 1]`` per new column: a string for a string expression (see ``is_string_expression``),
    else double."""
    from onnxmltools.convert.common.data_types import DoubleTensorType, StringTensorType

    rows = operator.inputs[0].type.shape[0] if operator.inputs else None
    expressions = dict(parse_statement(operator.raw_operator.getStatement()).outputs)
    for output in operator.outputs:
        is_string = is_string_expression(expressions[output.raw_name], spark_input_type)
        output.type = (StringTensorType if is_string else DoubleTensorType)([rows, 1])


def sql_input_columns(stage: Any) -> list[str]:
    """The columns a SQLTransformer's statement reads, for onnxmltools' topology.

    With ``SELECT *`` every raw input of the conversion is passed through, so it is listed too
    (after the referenced ones): onnxmltools refuses graph inputs that no operator reads, and
    the pipeline's inputs are every example column while ``stages.stage_columns`` cannot read a
    SQLTransformer's columns.
    """
    plan = parse_statement(stage.getStatement())
    columns = list(plan.inputs)
    if plan.star:
        columns.extend(name for name in (_INPUT_SPARK_TYPES.get() or {}) if name not in columns)
    return columns


def sql_output_columns(stage: Any) -> list[str]:
    """The new columns a SQLTransformer's statement writes (its aliased expressions)."""
    return [name for name, _ in parse_statement(stage.getStatement()).outputs]


def sql_min_opset(stage: Any) -> int | None:
    """Opset 20 when the statement works on strings with opset-20 operators (see
    ``needs_string_concat``), else none asked. Called while the conversion's input types are known."""
    expressions = [expression for _, expression in parse_statement(stage.getStatement()).outputs]
    return STRING_CONCAT_OPSET if needs_string_concat(expressions, spark_input_type) else None


SPECS = [
    ConverterSpec(
        SQLTransformer,
        convert_sql_transformer,
        calculate_sql_transformer_shapes,
        input_columns=sql_input_columns,
        output_columns=sql_output_columns,
        min_opset=sql_min_opset,
    )
]
