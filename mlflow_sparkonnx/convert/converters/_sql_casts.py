"""SQLTransformer casts between strings and numbers, as Spark 4 does them under ANSI rules.

Measured (pyspark 4.3, ``spark.sql.ansi.enabled=true``):

- **Number to string.** An integer prints its digits (``-12``); a boolean ``true``/``false``; a
  double Java's ``Double.toString``: ``3.0``, ``-0.0``, ``NaN``, ``Infinity``, but ``1.0E7`` from
  10^7 up and shortest-digit forms (``0.1``, ``4.9E-324``) elsewhere. The graph writes integers,
  booleans, NaN, the infinities and doubles holding a whole number below 10^7 in magnitude; a row
  holding any other double (or a null: the graph's strings cannot be null) is refused by the ONNX
  runtime and scored by the Spark runtime.
- **String to integer.** Spark strips the characters up to U+0020 at both ends (not U+00A0 or
  U+3000) and reads an optional sign and ASCII digits; anything else (``1.5``, ``1e3``, ``""``,
  ``٣``) and a value outside the type raise ``CAST_INVALID_INPUT`` (``TRY_CAST``: null). The graph
  matches that grammar with RE2; a number of more than 15 digits (beyond a double's exact integers)
  and a string holding a character past U+007E are refused by the ONNX runtime.
- **String to double.** Java's grammar after the same stripping: ``1.``, ``.5``, ``1e3``, a ``d``
  or ``f`` suffix, ``Infinity``/``inf``/``NaN`` in any case, ``1e400`` (infinity). The graph reads
  plain decimals (at most 40 digits either side of the point, an exponent of at most 2 digits)
  with onnxruntime's ``Cast``, correctly rounded as Java is; a string without letters that is not
  such a number raises ``CAST_INVALID_INPUT`` (``TRY_CAST``: null); any other form (words, long
  exponents, non-ASCII) is refused by the ONNX runtime.
"""

from __future__ import annotations

from typing import Any

from onnx import TensorProto

from mlflow_sparkonnx.contract import PARSED_NUMBER_OUTPUT
from mlflow_sparkonnx.convert.converters._graph import INT64, constant
from mlflow_sparkonnx.convert.converters._sql_expressions import (
    DECIMAL_CHOICE,
    DOUBLE,
    INTEGRAL_RANGES,
    Context,
    Value,
    cast_target,
    cast_target_type,
    cast_value,
    regex_matches,
    register_handlers,
    translate,
)
from mlflow_sparkonnx.convert.converters._sql_strings import column_of
from mlflow_sparkonnx.convert.converters._text import PLAIN_DOUBLE_LIMIT, ints, java_double_text, version
from mlflow_sparkonnx.sparkml.sql_statement import UnsupportedSqlError

STRING = TensorProto.STRING
BOOL = TensorProto.BOOL
#: Characters Spark strips around a number it casts from a string.
_STRIP = r"[\x00-\x20]*"
_INTEGER = rf"{_STRIP}[+-]?[0-9]{{1,15}}{_STRIP}"
_LONG_INTEGER = rf"{_STRIP}[+-]?[0-9]{{16,}}{_STRIP}"
_DECIMAL = (
    rf"{_STRIP}[+-]?([0-9]{{1,40}}(\.[0-9]{{0,40}})?|\.[0-9]{{1,40}})([eE][+-]?[0-9]{{1,2}})?[dDfF]?{_STRIP}"
)
#: Java's grammar without letters (no exponent, no suffix, no words), any length.
_LETTERLESS_NUMBER = rf"{_STRIP}[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+){_STRIP}"
_LETTERLESS_ASCII = r"[\x00-\x40\x5b-\x60\x7b-\x7e]*"
_PLAIN_ASCII = r"[\x00-\x7e]*"
_NUMBER_CORE = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?"
_EXACT_INTEGER_LIMIT = 2.0**53


def _cast(ctx: Context, expression: Any, active: str | None) -> Value:
    construct = f"'{expression.sql(dialect='spark')}'"
    safe = bool(expression.args.get("safe"))  # TRY_CAST: null instead of an error
    if cast_target(expression) == "STRING":
        if expression.to.expressions:
            raise UnsupportedSqlError(f"CAST to a sized string type in {construct}")
        return _to_string(ctx, translate(ctx, expression.this, active), construct, active)
    target = cast_target_type(expression)
    value = translate(ctx, expression.this, active)
    if value.spark_type != "string":
        return cast_value(ctx, value, target, safe, active)
    if value.literal is not None:
        raise UnsupportedSqlError(f"CAST of a string literal in {construct} (write the number)")
    if target == "double":
        return _string_to_double(ctx, value, safe, active)
    if target in INTEGRAL_RANGES:
        return _string_to_integer(ctx, value, target, safe, active)
    raise UnsupportedSqlError(f"CAST of a string to {target.upper()} in {construct}")


# ---------------------------------------------------------------- string to number


def _matches(ctx: Context, flat: str, pattern: str) -> str:
    """``[N, 1]`` bool: the whole string matches RE2 ``pattern``."""
    found = ctx.op("RegexFullMatch", flat, version=version(ctx.container, 20), pattern=pattern)
    return ctx.op("Unsqueeze", found, ints(ctx.scope, ctx.container, "sql_int", [1]))


def _parse(ctx: Context, value: Value, valid: str) -> str:
    """The number in each valid row (``Cast`` of its RE2 core), 0 in the others (never parsed)."""
    zero = constant(ctx.scope, ctx.container, "sql_zero_text", STRING, [1, 1], [b"0"])
    # Only valid rows are searched (one match each): a long text elsewhere adds no columns.
    core = column_of(ctx, regex_matches(ctx, ctx.where(valid, value.tensor, zero), _NUMBER_CORE), 0)
    return ctx.op("Cast", core, to=DOUBLE, output=ctx.scope.get_unique_variable_name(PARSED_NUMBER_OUTPUT))


def _string_to_integer(ctx: Context, value: Value, target: str, safe: bool, active: str | None) -> Value:
    flat = ctx.op("Reshape", value.tensor, ints(ctx.scope, ctx.container, "sql_int", [-1]), version=14)
    valid = _matches(ctx, flat, _INTEGER)
    number = ctx.op("Add", _parse(ctx, value, valid), ctx.const(0.0))  # "-0" is 0
    low, high = INTEGRAL_RANGES[target]
    outside = ctx.op(
        "Or", ctx.op("Greater", number, ctx.const(high)), ctx.op("Less", number, ctx.const(low)), version=7
    )
    unknown = ctx.or_(
        _matches(ctx, flat, _LONG_INTEGER), ctx.not_(_matches(ctx, flat, _PLAIN_ASCII))
    )  # more digits than a double holds exactly; a character Spark may strip or not (DEL, non-ASCII)
    invalid = ctx.op("Or", ctx.and_(ctx.not_(valid), ctx.not_(unknown)), ctx.and_(valid, outside), version=7)
    _refuse(ctx, ctx.and_(unknown, ctx.not_(valid)), "a string it cannot read as Spark does", active)
    return _invalid_rows(ctx, Value(target, ctx.where(valid, number, ctx.const(0.0))), invalid, safe, active)


def _string_to_double(ctx: Context, value: Value, safe: bool, active: str | None) -> Value:
    flat = ctx.op("Reshape", value.tensor, ints(ctx.scope, ctx.container, "sql_int", [-1]), version=14)
    valid = _matches(ctx, flat, _DECIMAL)
    invalid = ctx.and_(
        ctx.not_(_matches(ctx, flat, _LETTERLESS_NUMBER)), _matches(ctx, flat, _LETTERLESS_ASCII)
    )
    unknown = ctx.and_(ctx.not_(valid), ctx.not_(invalid))
    _refuse(
        ctx,
        unknown,
        "a string it cannot read as Spark does (a word such as Infinity, a long exponent)",
        active,
    )
    return _invalid_rows(ctx, Value("double", _parse(ctx, value, valid)), invalid, safe, active)


def _invalid_rows(ctx: Context, value: Value, invalid: str, safe: bool, active: str | None) -> Value:
    """``CAST``: Spark raises on the invalid rows; ``TRY_CAST``: null there."""
    if safe:
        return Value(value.spark_type, value.tensor, invalid)
    ctx.raise_where("CAST_INVALID_INPUT", invalid, active)
    return value


# ---------------------------------------------------------------- number to string


def _to_string(ctx: Context, value: Value, construct: str, active: str | None) -> Value:
    kind = value.spark_type
    if kind == "string":
        return value
    if kind in ("decimal", DECIMAL_CHOICE, "void"):
        raise UnsupportedSqlError(f"CAST of a {kind} value to STRING in {construct}")
    if value.literal is not None:
        return Value("string", "", literal=_literal_text(value, construct))
    if value.null is not None:
        _refuse(ctx, value.null, "a null to cast to a string (the graph's strings cannot be null)", active)
    x = value.tensor
    if kind == "boolean":
        is_false = ctx.op("Equal", x, ctx.const(0.0))
        return Value("string", ctx.where(is_false, _text(ctx, "false"), _text(ctx, "true")))
    if kind != "double":
        beyond = ctx.op("GreaterOrEqual", ctx.op("Abs", x), ctx.const(_EXACT_INTEGER_LIMIT), version=12)
        _refuse(
            ctx, beyond, "an integer beyond 2^53 to cast to a string (a double holds it inexactly)", active
        )
        return Value("string", _digits(ctx, ctx.where(beyond, ctx.const(0.0), x)))
    text, unwritten = java_double_text(ctx.scope, ctx.container, x)
    _refuse(
        ctx,
        unwritten,
        "a double whose text Spark writes in Java's shortest or E form (only whole numbers below 10^7, "
        "NaN and the infinities are written by the graph)",
        active,
    )
    return Value("string", text)


def _literal_text(value: Value, construct: str) -> str:
    number = value.literal
    if value.spark_type == "boolean":
        return "true" if number else "false"
    if value.spark_type != "double":
        return str(int(number))
    if float(number).is_integer() and abs(number) < PLAIN_DOUBLE_LIMIT:
        return f"{int(number)}.0" if str(float(number)) != "-0.0" else "-0.0"
    raise UnsupportedSqlError(f"CAST of the double literal {number!r} to STRING in {construct}")


def _digits(ctx: Context, whole: str) -> str:
    """``[N, 1]`` strings: the decimal digits of whole numbers held as doubles."""
    return ctx.op("Cast", ctx.op("Cast", whole, to=INT64), to=STRING)


# ---------------------------------------------------------------- shared


def _refuse(ctx: Context, flags: str | None, why: str, active: str | None) -> None:
    """Rows the ONNX runtime refuses (Spark scores them), where the expression is evaluated."""
    if flags is not None:
        ctx.refusals.append((why, ctx.and_(flags, active) or flags))


def _text(ctx: Context, text: str) -> str:
    return constant(ctx.scope, ctx.container, "sql_text", STRING, [1, 1], [text.encode()])


def cast_handlers() -> dict[type, Any]:
    """``CAST``/``TRY_CAST`` (sqlglot parses Spark's ``CAST`` as ``TryCast`` without ``safe``)."""
    from sqlglot import exp

    return {exp.Cast: _cast, exp.TryCast: _cast}


register_handlers(cast_handlers())
