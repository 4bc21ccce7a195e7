"""SQLTransformer's string functions: ``TRIM``/``LTRIM``/``RTRIM``, ``LENGTH``, ``CONCAT``/``||``,
``SUBSTRING``/``SUBSTR``/``LEFT``.

Spark's semantics, measured (pyspark 4.3): ``TRIM`` removes the space character (U+0020) only, not
tabs, line breaks or other Unicode spaces; ``LENGTH`` counts code points (an emoji is 1) and is an
int; ``CONCAT`` joins its strings as they are. String columns are never null here (the input rules
refuse a null string), so neither are these results.

In the graph a string value is a ``[N, 1]`` string tensor (a literal stays a Python string until
used). ``TRIM`` keeps the one match of an anchored-by-construction RE2 pattern (from the first to
the last character that is not a space) found by onnxruntime's contrib ``Tokenizer``; ``LENGTH``
counts the code points that ``Tokenizer`` splits out with ``(?s).``; ``CONCAT`` is ``StringConcat``
(opset 20, see :func:`needs_string_concat`). ``SUBSTRING(s, pos, len)`` with integer literals
(``pos`` 0 or more, Spark's 1-based position, 0 counting as 1; ``LEFT(s, n)`` is ``SUBSTRING(s, 1,
n)``) keeps the first ``pos - 1 + len`` code points (one anchored RE2 match), splits them into code
points and joins those from ``pos``: a string shorter than that gives what it has, as in Spark.
``TRIM(BOTH 'x' FROM s)``, a negative or computed position, ``SUBSTRING`` without a length (past
position 1) and arguments of other types (which Spark casts to strings) are refused by name.
"""

from __future__ import annotations

import functools
from typing import Any

from onnx import TensorProto

from mlflow_sparkonnx.convert.converters._graph import INT64, constant, row_sum
from mlflow_sparkonnx.convert.converters._sql_expressions import (
    DOUBLE,
    Context,
    Value,
    cast_target,
    regex_matches,
    register_handlers,
    string_lookup,
    translate,
)
from mlflow_sparkonnx.convert.converters._text import LOWER_CASE_REFUSED, UPPER_CASE_REFUSED, version
from mlflow_sparkonnx.sparkml.sql_statement import UnsupportedSqlError

STRING = TensorProto.STRING
#: The default-domain opset that has ``StringConcat``.
STRING_CONCAT_OPSET = 20
#: RE2 patterns whose one match is the trimmed string: from the first to the last non-space.
_TRIM_PATTERNS = {
    "BOTH": "(?s)[^ ].*[^ ]|[^ ]",
    "LEADING": "(?s)[^ ].*",
    "TRAILING": "(?s).*[^ ]",
}
#: The furthest code point SUBSTRING/LEFT may reach (position + length): the graph splits that many.
_SUBSTRING_REACH = 256
#: Code points per chunk when LENGTH counts a long string.
_CHUNK = 64
_PYTHON_TRIM = {"BOTH": str.strip, "LEADING": str.lstrip, "TRAILING": str.rstrip}


def _construct(expression: Any) -> str:
    """The expression as Spark SQL, quoted, for messages."""
    return f"'{expression.sql(dialect='spark')}'"


def string_tensor(ctx: Context, value: Value) -> str:
    """A string value's tensor: ``[N, 1]``, or ``[1, 1]`` for a literal."""
    if value.literal is not None:
        return constant(ctx.scope, ctx.container, "sql_text", STRING, [1, 1], [value.literal.encode()])
    return value.tensor


def _string_argument(ctx: Context, expression: Any, active: str | None, construct: str) -> Value:
    value = translate(ctx, expression, active)
    if value.spark_type != "string":
        raise UnsupportedSqlError(
            f"a {value.spark_type} argument in {construct} (Spark casts it to a string; strings only)"
        )
    return value


def _trim(ctx: Context, expression: Any, active: str | None) -> Value:
    construct = _construct(expression)
    if expression.args.get("expression") is not None:
        raise UnsupportedSqlError(f"TRIM with characters to remove in {construct} (spaces only)")
    position = str(expression.args.get("position") or "BOTH").upper()
    if position not in _TRIM_PATTERNS:
        raise UnsupportedSqlError(f"TRIM {position} in {construct}")
    value = _string_argument(ctx, expression.this, active, construct)
    if value.literal is not None:
        return Value("string", "", literal=_PYTHON_TRIM[position](value.literal, " "))
    return Value("string", column_of(ctx, regex_matches(ctx, value.tensor, _TRIM_PATTERNS[position]), 0))


def column_of(ctx: Context, tokens: str, index: int) -> str:
    """``[N, 1]``: column ``index`` of ``tokens``."""
    return ctx.op(
        "Slice",
        tokens,
        _int(ctx, index),
        _int(ctx, index + 1),
        constant(ctx.scope, ctx.container, "sql_axis", INT64, [1], [1]),
    )


def _integer_literal(ctx: Context, expression: Any, active: str | None, construct: str, what: str) -> int:
    value = translate(ctx, expression, active)
    if value.spark_type not in ("int", "bigint") or value.literal is None or value.literal < 0:
        raise UnsupportedSqlError(f"a {what} that is not an integer literal of 0 or more in {construct}")
    return int(value.literal)


def _substring(ctx: Context, expression: Any, active: str | None) -> Value:
    """``SUBSTRING(s, pos, len)`` and ``LEFT(s, len)`` for literal ``pos >= 0`` and ``len``."""
    from sqlglot import exp

    construct = _construct(expression)
    value = _string_argument(ctx, expression.this, active, construct)
    if isinstance(expression, exp.Left):
        start, length_node = 1, expression.expression
    else:
        start = _integer_literal(ctx, expression.args["start"], active, construct, "position")
        length_node = expression.args.get("length")
    if length_node is None:
        if start > 1:
            raise UnsupportedSqlError(f"SUBSTRING to the end of the string in {construct} (give a length)")
        return value  # from the first code point to the end: the string itself
    length = _integer_literal(ctx, length_node, active, construct, "length")
    begin = max(start, 1) - 1  # Spark: position 0 is position 1
    end = begin + length
    if value.literal is not None:
        return Value("string", "", literal=value.literal[begin:end])
    if end > _SUBSTRING_REACH:
        raise UnsupportedSqlError(f"SUBSTRING reaching past code point {_SUBSTRING_REACH} in {construct}")
    if length == 0:
        return Value("string", string_lookup(ctx, value.tensor, {}, default=""))
    prefix = column_of(ctx, regex_matches(ctx, value.tensor, f"(?s)^.{{1,{end}}}"), 0)
    blank = string_lookup(ctx, prefix, {}, default="")
    points = ctx.op("Concat", regex_matches(ctx, prefix, "(?s)."), *([blank] * end), axis=1)  # >= end columns
    concat_version = version(ctx.container, STRING_CONCAT_OPSET)
    joined = column_of(ctx, points, begin)
    for index in range(begin + 1, end):
        joined = ctx.op("StringConcat", joined, column_of(ctx, points, index), version=concat_version)
    return Value("string", joined)


def _length(ctx: Context, expression: Any, active: str | None) -> Value:
    construct = _construct(expression)
    value = _string_argument(ctx, expression.this, active, construct)
    if value.literal is not None:
        return Value("int", ctx.const(len(value.literal)), literal=len(value.literal))
    # Chunks of up to _CHUNK code points, then the code points of each row's last chunk: memory grows
    # with rows × (longest string / _CHUNK + _CHUNK), not rows × longest string.
    chunks = regex_matches(ctx, value.tensor, f"(?s).{{1,{_CHUNK}}}")
    full = ctx.op("Cast", string_lookup(ctx, chunks, {"": 0}, default=1), to=INT64)
    count = ctx.op(
        "ReduceSum", full, constant(ctx.scope, ctx.container, "sql_axis", INT64, [1], [1]), keepdims=1
    )
    zero = constant(ctx.scope, ctx.container, "sql_zero", INT64, [1], [0])
    one = constant(ctx.scope, ctx.container, "sql_one", INT64, [1], [1])
    last_index = ctx.op("Max", ctx.op("Sub", count, one, version=14), zero)
    last = ctx.op("GatherElements", chunks, last_index, axis=1)
    characters = regex_matches(ctx, last, "(?s).")
    in_last = ctx.op("Cast", string_lookup(ctx, characters, {"": 0}, default=1), to=DOUBLE)
    before_last = ctx.op("Cast", ctx.op("Mul", last_index, _int(ctx, _CHUNK), version=14), to=DOUBLE)
    return Value("int", ctx.op("Add", before_last, row_sum(ctx.scope, ctx.container, in_last), version=14))


def _int(ctx: Context, number: int) -> str:
    return constant(ctx.scope, ctx.container, "sql_int", INT64, [1], [number])


def _concat(ctx: Context, expression: Any, active: str | None) -> Value:
    from sqlglot import exp

    construct = _construct(expression)
    if isinstance(expression, exp.DPipe):
        parts = [expression.this, expression.expression]
    else:
        parts = list(expression.expressions or [])
    values = [_string_argument(ctx, part, active, construct) for part in parts]
    if all(v.literal is not None for v in values):
        return Value("string", "", literal="".join(v.literal for v in values))
    joined = string_tensor(ctx, values[0])
    for value in values[1:]:
        # recorded at most at the target opset; the graph is raised to 20 after conversion (see _text)
        concat_version = version(ctx.container, STRING_CONCAT_OPSET)
        joined = ctx.op("StringConcat", joined, string_tensor(ctx, value), version=concat_version)
    return Value("string", joined)


_CASE_CHANGES = {"LOWER": LOWER_CASE_REFUSED, "UPPER": UPPER_CASE_REFUSED}


def _case_change(action: str) -> Any:
    """``LOWER``/``UPPER``: onnxruntime's ``StringNormalizer``; a row holding a character Java maps
    otherwise (measured over every code point, see ``_text``) is refused by the ONNX runtime."""

    def handle(ctx: Context, expression: Any, active: str | None) -> Value:
        construct = _construct(expression)
        value = _string_argument(ctx, expression.this, active, construct)
        if value.literal is not None:
            raise UnsupportedSqlError(f"{action} of a literal in {construct} (write the literal changed)")
        flat = ctx.op("Reshape", value.tensor, _int(ctx, -1), version=14)
        opset = version(ctx.container, 20)
        differs = ctx.op("RegexFullMatch", flat, version=opset, pattern=_CASE_CHANGES[action])
        differs = ctx.op("Unsqueeze", differs, _int(ctx, 1))
        why = (
            f"a character the ONNX graph cannot {action.lower()}-case as Java does (see docs/input-rules.md)"
        )
        ctx.refusals.append((why, ctx.and_(differs, active) or differs))
        changed = ctx.op("StringNormalizer", flat, version=10, case_change_action=action, locale="C.UTF-8")
        return Value("string", ctx.op("Unsqueeze", changed, _int(ctx, 1)))

    return handle


def string_handlers() -> dict[type, Any]:
    """The sqlglot expression types this module translates."""
    from sqlglot import exp

    return {
        exp.Trim: _trim,
        exp.Length: _length,
        exp.Concat: _concat,
        exp.DPipe: _concat,
        exp.Substring: _substring,
        exp.Left: _substring,
        exp.Lower: _case_change("LOWER"),
        exp.Upper: _case_change("UPPER"),
    }


register_handlers(string_handlers())


def is_string_expression(expression: Any, input_type: Any) -> bool:
    """Whether ``expression`` gives a string, judged from its form (``input_type(name)``: a raw
    column's recorded type). The shape calculator declares string outputs from this; the
    translation then confirms it."""
    from sqlglot import exp

    while isinstance(expression, exp.Paren):
        expression = expression.this
    if type(expression) in string_function_types():  # exactly these (not CONCAT_WS, a subclass)
        return True
    if is_string_cast(expression):
        return True
    if isinstance(expression, exp.Literal):
        return bool(expression.is_string)
    if isinstance(expression, exp.Column):
        return input_type(expression.name) == "string"
    return False


@functools.cache
def string_function_types() -> tuple[type, ...]:
    """The sqlglot types of the string functions translated here (exactly these: not subclasses)."""
    from sqlglot import exp

    return (exp.Trim, exp.Concat, exp.DPipe, exp.Substring, exp.Left, exp.Lower, exp.Upper)


def is_string_cast(expression: Any) -> bool:
    """A ``CAST(... AS STRING)`` (sqlglot parses Spark's ``CAST`` as ``TryCast``)."""
    from sqlglot import exp

    return isinstance(expression, (exp.Cast, exp.TryCast)) and cast_target(expression) == "STRING"


def needs_string_concat(statement_expressions: list[Any], input_type: Any) -> bool:
    """Whether any expression needs opset 20: concatenating strings (SUBSTRING included), LOWER/UPPER,
    or a cast to or from a string (``input_type(name)``: a raw column's recorded type, None if unknown)."""
    from sqlglot import exp

    found = (part for e in statement_expressions for part in e.find_all(*string_function_types()))
    if any(type(part) in string_function_types() and not isinstance(part, exp.Trim) for part in found):
        return True
    for cast in (c for e in statement_expressions for c in e.find_all(exp.Cast, exp.TryCast)):
        if is_string_cast(cast) or any(
            input_type(c.name) in (None, "string") for c in cast.find_all(exp.Column)
        ):
            return True
    return False
