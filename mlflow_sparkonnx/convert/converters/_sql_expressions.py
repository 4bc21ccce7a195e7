"""Translating one SQL expression (a sqlglot tree) to ONNX nodes with Spark 4's ANSI semantics.

Each sub-expression becomes a :class:`Value`: its Spark type, a double ``[N, 1]`` tensor and a
bool null mask. Errors Spark would raise are collected per row in :class:`Context` (masked by
the rows on which Spark evaluates the sub-expression); ``sql_transformer`` turns them into a
graph failure. The rules, measured on pyspark 4.3, are listed in ``sql_transformer``'s docstring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any

from mlflow_sparkonnx.convert.converters._graph import BOOL, INT64, NodeMaker, constant, node, row_max
from mlflow_sparkonnx.sparkml.sql_statement import UnsupportedSqlError

DOUBLE = 11  # TensorProto.DOUBLE

#: Integral Spark types, narrowest first, with their value ranges.
_INTEGRAL = {
    "tinyint": (-(2**7), 2**7 - 1),
    "smallint": (-(2**15), 2**15 - 1),
    "int": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}
_CAST_TARGETS = {
    "TINYINT": "tinyint",
    "SMALLINT": "smallint",
    "INT": "int",
    "BIGINT": "bigint",
    "DOUBLE": "double",
    "BOOLEAN": "boolean",
}
#: The integral types and their ranges, for other modules.
INTEGRAL_RANGES = _INTEGRAL
TYPES = set(_INTEGRAL) | {"double", "boolean"}
#: A CASE/IF choosing among decimal and integer literals: a DECIMAL column in Spark whose values are
#: the literals, exact as doubles (as Spark casts them). Used only as a column of its own.
DECIMAL_CHOICE = "decimal_choice"
_STRING_RULE = "strings are compared with string literals by =, <>, <=>, IN and LIKE only"


@dataclass
class Value:
    """One translated sub-expression: Spark type, double ``[N, 1]`` tensor, null mask (None: never null).

    ``literal`` holds a constant's exact value (a decimal literal stays a ``Decimal`` until a double
    operand decides its type).
    """

    spark_type: str
    tensor: str
    null: str | None = None
    literal: Any = None


@dataclass
class Context:
    """The graph being built, the input columns and the error flags collected so far."""

    scope: Any
    container: Any
    columns: dict[str, Any]  # name -> Value, or a function making it (called on first use)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (Spark error class, bool [N,1])
    #: Rows the ONNX runtime refuses although Spark scores them (why, bool [N,1]): see _sql_strings.
    refusals: list[tuple[str, str]] = field(default_factory=list)

    def const(self, value: float, hint: str = "sql_const") -> str:
        return constant(self.scope, self.container, hint, DOUBLE, [1, 1], [float(value)])

    def bool_const(self, value: bool) -> str:
        return constant(self.scope, self.container, "sql_bool", BOOL, [1, 1], [bool(value)])

    @cached_property
    def op(self) -> NodeMaker:
        """``self.op("Add", a, b, version=14)``: one node (default version 13)."""
        return NodeMaker(self.scope, self.container)

    def and_(self, a: str | None, b: str | None) -> str | None:
        if a is None or b is None:
            return b if a is None else a
        return self.op("And", a, b, version=7)

    def or_(self, a: str | None, b: str | None) -> str | None:
        if a is None or b is None:
            return None
        return self.op("Or", a, b, version=7)

    def not_(self, a: str) -> str:
        return self.op("Not", a, version=1)

    def where(self, condition: str, then: str, otherwise: str) -> str:
        return self.op("Where", condition, then, otherwise, version=9)

    def raise_where(self, error: str, condition: str, active: str | None) -> None:
        """Spark raises ``error`` on the rows where ``condition`` holds and the expression is evaluated."""
        self.errors.append((error, self.and_(condition, active) or condition))


# ---------------------------------------------------------------- types


def _wider(a: str, b: str, construct: str) -> str:
    """Spark's common type of two operand types (void is the type of NULL)."""
    if DECIMAL_CHOICE in (a, b) and "void" not in (a, b):
        raise UnsupportedSqlError(
            f"a DECIMAL CASE result used in {construct} (only its own column is exact; write its "
            "literals as doubles, e.g. 1.0D)"
        )
    if "string" in (a, b):
        raise UnsupportedSqlError(f"a string operand in {construct} ({_STRING_RULE})")
    if a == b or b == "void":
        return a
    if a == "void":
        return b
    if "boolean" in (a, b):
        raise UnsupportedSqlError(f"mixing boolean and numeric operands in {construct}")
    if "decimal" in (a, b):
        other = b if a == "decimal" else a
        if other == "double":
            return "double"
        raise UnsupportedSqlError(
            f"decimal arithmetic in {construct} (a decimal literal with an integer operand gives a "
            "DECIMAL result; write the literal as a double, e.g. 2.5D)"
        )
    if "double" in (a, b):
        return "double"
    order = list(_INTEGRAL)
    return max(a, b, key=order.index)


def _common(values: list[Value], construct: str) -> str:
    result = "void"
    for value in values:
        result = _wider(result, value.spark_type, construct)
    return result


def _numeric(value: Value, construct: str) -> None:
    if value.spark_type in ("boolean", "string"):
        raise UnsupportedSqlError(f"a {value.spark_type} operand in {construct}")


def _as_double(ctx: Context, value: Value) -> Value:
    """A decimal literal as the double Spark casts it to."""
    if value.spark_type == "decimal":
        return _literal(ctx, float(value.literal), "double")
    return value


def _literal(ctx: Context, number: float, spark_type: str) -> Value:
    return Value(spark_type, ctx.const(number, "sql_literal"), literal=number)


# ---------------------------------------------------------------- expressions


def translate(ctx: Context, expression: Any, active: str | None) -> Value:
    """Translate one sqlglot expression; ``active`` masks the rows on which Spark evaluates it."""
    from sqlglot import exp

    if not _HANDLERS:
        _HANDLERS.update(_handlers())
    handler = _HANDLERS.get(type(expression))
    if handler is None:
        if isinstance(expression, exp.Func):
            name = expression.sql_name() if hasattr(expression, "sql_name") else type(expression).__name__
            raise UnsupportedSqlError(f"the function {name}() ('{expression.sql(dialect='spark')}')")
        raise UnsupportedSqlError(f"'{expression.sql(dialect='spark')}' ({type(expression).__name__})")
    return handler(ctx, expression, active)


def _column(ctx: Context, expression: Any, active: str | None) -> Value:
    """The column's value, translated on first use (so an unsupported function is named first)."""
    column = ctx.columns[expression.name]
    if not isinstance(column, Value):
        column = ctx.columns[expression.name] = column()
    return column


def _number(ctx: Context, expression: Any, active: str | None) -> Value:
    if expression.is_string:  # compared with a string column only (see _string_comparison)
        return Value("string", "", literal=expression.this)
    text = expression.this
    if any(c in text for c in "eE"):
        return _literal(ctx, float(text), "double")
    if "." in text:
        return Value("decimal", ctx.const(float(text)), literal=Decimal(text))
    number = int(text)
    for spark_type in ("int", "bigint"):
        low, high = _INTEGRAL[spark_type]
        if low <= number <= high:
            return _literal(ctx, number, spark_type)
    raise UnsupportedSqlError(f"the integer literal {text} (a DECIMAL in Spark)")


def _null(ctx: Context, expression: Any, active: str | None) -> Value:
    return Value("void", ctx.const(0.0), null=ctx.bool_const(True))


def _boolean(ctx: Context, expression: Any, active: str | None) -> Value:
    return _literal(ctx, 1.0 if expression.this else 0.0, "boolean")


def _paren(ctx: Context, expression: Any, active: str | None) -> Value:
    return translate(ctx, expression.this, active)


def _operands(ctx: Context, expression: Any, active: str | None, right_first: bool = False) -> tuple:
    """Both operands of a null-intolerant binary operator; the second is evaluated only where the
    first is not null (Spark's ``BinaryExpression.eval``; ``Divide`` evaluates the divisor first)."""
    first_node, second_node = expression.left, expression.right
    if right_first:
        first_node, second_node = second_node, first_node
    first = translate(ctx, first_node, active)
    second_active = ctx.and_(active, ctx.not_(first.null)) if first.null else active
    second = translate(ctx, second_node, second_active)
    null = ctx.or_(first.null, second.null) or first.null or second.null
    return (second, first, null) if right_first else (first, second, null)


def _arithmetic(op_type: str, symbol: str) -> Any:
    def handle(ctx: Context, expression: Any, active: str | None) -> Value:
        left, right, null = _operands(ctx, expression, active)
        construct = f"'{expression.sql(dialect='spark')}'"
        _numeric(left, construct)
        _numeric(right, construct)
        result_type = _wider(left.spark_type, right.spark_type, construct)
        left, right = _as_double(ctx, left), _as_double(ctx, right)
        tensor = ctx.op(op_type, left.tensor, right.tensor, version=14)
        if result_type in _INTEGRAL:
            _overflow(ctx, tensor, result_type, null, active)
        return Value(result_type, tensor, null)

    return handle


def _overflow(ctx: Context, tensor: str, spark_type: str, null: str | None, active: str | None) -> None:
    """An integral result outside its type's range raises ARITHMETIC_OVERFLOW (on non-null rows)."""
    low, high = _INTEGRAL[spark_type]
    too_big = ctx.op("Greater", tensor, ctx.const(high))
    too_small = ctx.op("Less", tensor, ctx.const(low))
    outside = ctx.op("Or", too_big, too_small, version=7)
    if null is not None:
        outside = ctx.and_(outside, ctx.not_(null))
    ctx.raise_where("ARITHMETIC_OVERFLOW", outside, active)


def _divide(ctx: Context, expression: Any, active: str | None) -> Value:
    left, right, null = _operands(ctx, expression, active, right_first=True)
    construct = f"'{expression.sql(dialect='spark')}'"
    _numeric(left, construct)
    _numeric(right, construct)
    if "decimal" in (left.spark_type, right.spark_type) and "double" not in (
        left.spark_type,
        right.spark_type,
    ):
        raise UnsupportedSqlError(
            f"decimal division in {construct} (write the literal as a double, e.g. 2.5D)"
        )
    left, right = _as_double(ctx, left), _as_double(ctx, right)
    zero = ctx.op("Equal", right.tensor, ctx.const(0.0))
    if null is not None:
        zero = ctx.and_(zero, ctx.not_(null))
    ctx.raise_where("DIVIDE_BY_ZERO", zero, active)
    return Value("double", ctx.op("Div", left.tensor, right.tensor, version=14), null)


def _negate(ctx: Context, expression: Any, active: str | None) -> Value:
    value = translate(ctx, expression.this, active)
    _numeric(value, f"'{expression.sql(dialect='spark')}'")
    if value.spark_type == "decimal":
        return Value("decimal", ctx.op("Neg", value.tensor), literal=-value.literal)
    tensor = ctx.op("Neg", value.tensor)
    if value.spark_type in _INTEGRAL:
        _overflow(ctx, tensor, value.spark_type, value.null, active)
    return Value(value.spark_type, tensor, value.null)


def _abs(ctx: Context, expression: Any, active: str | None) -> Value:
    value = _as_double(ctx, translate(ctx, expression.this, active))
    _numeric(value, f"'{expression.sql(dialect='spark')}'")
    tensor = ctx.op("Abs", value.tensor)
    if value.spark_type in _INTEGRAL:
        _overflow(ctx, tensor, value.spark_type, value.null, active)
    return Value(value.spark_type, tensor, value.null)


# ---------------------------------------------------------------- comparisons and logic


def _compare_values(ctx: Context, expression: Any, active: str | None) -> tuple[Value, Value, str | None]:
    left, right, null = _operands(ctx, expression, active)
    construct = f"'{expression.sql(dialect='spark')}'"
    kinds = {left.spark_type == "boolean", right.spark_type == "boolean"}
    if len(kinds) == 2 and "void" not in (left.spark_type, right.spark_type):
        raise UnsupportedSqlError(f"comparing a boolean with a number in {construct}")
    if DECIMAL_CHOICE in (left.spark_type, right.spark_type):
        raise UnsupportedSqlError(
            f"a DECIMAL CASE result compared in {construct} (write its literals as doubles, e.g. 1.0D)"
        )
    for value in (left, right):
        other = right if value is left else left
        if value.spark_type == "decimal" and other.spark_type != "double":
            number = float(value.literal)
            if Decimal(number) != value.literal:  # exact decimal vs integer comparison
                raise UnsupportedSqlError(
                    f"comparing an integer with the decimal literal {value.literal} in {construct} "
                    "(not exactly a double; write it as a double, e.g. 0.1D)"
                )
    return _as_double(ctx, left), _as_double(ctx, right), null


def _spark_greater(ctx: Context, a: str, b: str) -> str:
    """``a > b`` in Spark's order: NaN is above every number and equal to NaN."""
    plain = ctx.op("Greater", a, b)
    nan_a = ctx.op("IsNaN", a)
    nan_b = ctx.op("IsNaN", b)
    return ctx.op("Or", plain, ctx.op("And", nan_a, ctx.not_(nan_b), version=7), version=7)


def _spark_equal(ctx: Context, a: str, b: str) -> str:
    both_nan = ctx.op("And", ctx.op("IsNaN", a), ctx.op("IsNaN", b), version=7)
    return ctx.op("Or", ctx.op("Equal", a, b), both_nan, version=7)


def _comparison(kind: str) -> Any:
    def handle(ctx: Context, expression: Any, active: str | None) -> Value:
        if _reads_a_string(ctx, expression):
            left, right, null = _operands(ctx, expression, active)
            return _string_comparison(ctx, left, right, null, kind, f"'{expression.sql(dialect='spark')}'")
        left, right, null = _compare_values(ctx, expression, active)
        a, b = left.tensor, right.tensor
        result = {
            "eq": lambda: _spark_equal(ctx, a, b),
            "neq": lambda: ctx.not_(_spark_equal(ctx, a, b)),
            "gt": lambda: _spark_greater(ctx, a, b),
            "lt": lambda: _spark_greater(ctx, b, a),
            "gte": lambda: ctx.not_(_spark_greater(ctx, b, a)),
            "lte": lambda: ctx.not_(_spark_greater(ctx, a, b)),
        }[kind]()
        return Value("boolean", _as_number(ctx, result), null)

    return handle


def _reads_a_string(ctx: Context, expression: Any) -> bool:
    """Whether a binary comparison has a string operand (a string literal or a string column)."""
    from sqlglot import exp

    for side in (expression.left, expression.right):
        while isinstance(side, exp.Paren):
            side = side.this
        if isinstance(side, exp.Literal) and side.is_string:
            return True
        if type(side) in (exp.Trim, exp.Concat, exp.DPipe, exp.Substring, exp.Left, exp.Lower, exp.Upper):
            # the string functions of _sql_strings (which imports this module)
            return True
        if isinstance(side, exp.Column) and _column(ctx, side, None).spark_type == "string":
            return True
    return False


def _string_comparison(
    ctx: Context, left: Value, right: Value, null: str | None, kind: str, construct: str
) -> Value:
    """``=``/``<>`` between a string column and a string literal: bytewise, as Spark's UTF8_BINARY."""
    if kind not in ("eq", "neq"):
        raise UnsupportedSqlError(f"ordering strings in {construct} ({_STRING_RULE})")
    if left.spark_type != "string" or right.spark_type != "string":
        other = right if left.spark_type == "string" else left
        raise UnsupportedSqlError(f"comparing a string with a {other.spark_type} value in {construct}")
    if left.literal is not None and right.literal is not None:
        equal = ctx.bool_const(left.literal == right.literal)
    elif left.literal is None and right.literal is None:
        raise UnsupportedSqlError(f"comparing two string columns in {construct}")
    else:
        column, literal = (left, right) if right.literal is not None else (right, left)
        equal = _string_in(ctx, column, [literal.literal])
    flags = equal if kind == "eq" else ctx.not_(equal)
    return Value("boolean", _as_number(ctx, flags), null)


def _string_in(ctx: Context, column: Value, texts: list[str]) -> str:
    """Bool ``[N, 1]``: where the string column equals one of ``texts`` (a LabelEncoder lookup)."""
    keys = list(dict.fromkeys(texts))
    found = node(
        ctx.scope,
        ctx.container,
        "LabelEncoder",
        [column.tensor],
        op_version=2,
        op_domain="ai.onnx.ml",
        keys_strings=keys,
        values_int64s=[1] * len(keys),
        default_int64=0,
    )
    return ctx.op("Cast", found, to=BOOL)


def _in(ctx: Context, expression: Any, active: str | None) -> Value:
    """``column IN ('a', 'b', ...)`` for a string column and string literals."""
    construct = f"'{expression.sql(dialect='spark')}'"
    value = translate(ctx, expression.this, active)
    options = [translate(ctx, option, active) for option in expression.expressions or []]
    if expression.args.get("query") is not None or not options:
        raise UnsupportedSqlError(f"IN with a subquery in {construct}")
    if value.spark_type != "string" or value.literal is not None:
        raise UnsupportedSqlError(f"IN over a {value.spark_type} value in {construct} (a string column only)")
    if any(option.spark_type != "string" or option.literal is None for option in options):
        raise UnsupportedSqlError(f"IN with a value that is not a string literal in {construct}")
    return Value("boolean", _as_number(ctx, _string_in(ctx, value, [o.literal for o in options])), value.null)


def like_pattern_to_re2(pattern: str) -> str:
    """Spark's LIKE pattern (``%``, ``_``, the escape ``\\``) as an anchored RE2 pattern.

    Spark matches the whole string with ``(?s)`` Java regex: ``%`` is ``.*`` and ``_`` is ``.`` (one
    code point, a line terminator included), which RE2 matches alike. An escape before anything
    but ``%``, ``_`` or ``\\``, or at the end, is an error in Spark and refused here.
    """
    parts, position = [], 0
    while position < len(pattern):
        char = pattern[position]
        if char == "\\":
            if position + 1 == len(pattern) or pattern[position + 1] not in "%_\\":
                raise UnsupportedSqlError(f"the LIKE pattern '{pattern}' (an escape Spark refuses)")
            position += 1
            char = pattern[position]
            parts.append(_re2_literal(char))
        elif char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(_re2_literal(char))
        position += 1
    return "(?s)^" + "".join(parts) + "$"


def _re2_literal(char: str) -> str:
    return char if char.isalnum() else f"\\x{{{ord(char):x}}}"


def _like(ctx: Context, expression: Any, active: str | None) -> Value:
    """``string_column LIKE 'pattern'``: one anchored match of the whole string (the contrib Tokenizer
    with ``tokenexp`` gives the string itself as its one token when it matches; an empty string gives
    no token, so its answer is the pattern's own, known at conversion)."""
    import re

    construct = f"'{expression.sql(dialect='spark')}'"
    if expression.args.get("escape") is not None:
        raise UnsupportedSqlError(f"LIKE with ESCAPE in {construct}")
    value = translate(ctx, expression.this, active)
    pattern = translate(ctx, expression.expression, active)
    if value.spark_type != "string" or value.literal is not None:
        raise UnsupportedSqlError(
            f"LIKE over a {value.spark_type} value in {construct} (a string column only)"
        )
    if pattern.spark_type != "string" or pattern.literal is None:
        raise UnsupportedSqlError(f"LIKE with a pattern that is not a string literal in {construct}")
    # A row's one token is the whole string where it matches, else "" (the padding; never a token).
    padded = regex_matches(ctx, value.tensor, like_pattern_to_re2(pattern.literal))
    found = ctx.op("Cast", string_lookup(ctx, padded, {"": 0}, default=1), to=DOUBLE)
    any_match = ctx.op("Cast", row_max(ctx.scope, ctx.container, found), to=BOOL)
    is_empty = ctx.op("Cast", string_lookup(ctx, value.tensor, {"": 1}, default=0), to=BOOL)
    if re.fullmatch(pattern_for_python(pattern.literal), "", flags=re.S) is not None:
        flags = ctx.op("Or", is_empty, any_match, version=7)
    else:
        flags = ctx.op("And", ctx.not_(is_empty), any_match, version=7)
    return Value("boolean", _as_number(ctx, flags), value.null)


def regex_matches(ctx: Context, tensor: str, pattern: str) -> str:
    """``[N, T + 1]``: each row's matches of RE2 ``pattern`` in order (onnxruntime's contrib
    ``Tokenizer``), then ``""`` (the padding; also the one column of a batch without a match)."""
    flat_shape = constant(ctx.scope, ctx.container, "sql_flat", INT64, [1], [-1])
    tokens = node(
        ctx.scope,
        ctx.container,
        "Tokenizer",
        [ctx.op("Reshape", tensor, flat_shape, version=14)],
        op_version=1,
        op_domain="com.microsoft",
        mark=0,
        mincharnum=1,
        pad_value="",
        tokenexp=pattern,
    )
    return ctx.op("Concat", tokens, string_lookup(ctx, tensor, {}, default=""), axis=1)


def pattern_for_python(pattern: str) -> str:
    """The LIKE pattern as a Python regex (for the empty string's answer, known at conversion)."""
    import re

    out, escaped = [], False
    for char in pattern:
        if escaped:
            out.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            out.append({"%": ".*", "_": "."}.get(char, re.escape(char)))
    return "".join(out)


def string_lookup(ctx: Context, tensor: str, mapping: dict[str, Any], default: Any) -> str:
    """A string ``LabelEncoder``: int64 for int values, a string for a string default."""
    keys = list(mapping) or ["\x00sparkonnx-no-key"]
    if isinstance(default, str):
        values = {"values_strings": [default] * len(keys), "default_string": default}
    else:
        ints = [int(mapping[k]) for k in mapping] or [int(default)]
        values = {"values_int64s": ints, "default_int64": int(default)}
    return node(
        ctx.scope,
        ctx.container,
        "LabelEncoder",
        [tensor],
        op_version=2,
        op_domain="ai.onnx.ml",
        keys_strings=keys,
        **values,
    )


def _null_safe_equal(ctx: Context, expression: Any, active: str | None) -> Value:
    left = translate(ctx, expression.left, active)
    right = translate(ctx, expression.right, active)
    if "string" in (left.spark_type, right.spark_type):  # string columns are never null
        return _string_comparison(ctx, left, right, None, "eq", f"'{expression.sql(dialect='spark')}'")
    a, b = _as_double(ctx, left), _as_double(ctx, right)
    equal = _spark_equal(ctx, a.tensor, b.tensor)
    if left.null is None and right.null is None:
        return Value("boolean", _as_number(ctx, equal))
    left_null = left.null or ctx.bool_const(False)
    right_null = right.null or ctx.bool_const(False)
    both_null = ctx.op("And", left_null, right_null, version=7)
    neither = ctx.op("And", ctx.not_(left_null), ctx.not_(right_null), version=7)
    result = ctx.op("Or", both_null, ctx.op("And", neither, equal, version=7), version=7)
    return Value("boolean", _as_number(ctx, result))


def _as_number(ctx: Context, flags: str) -> str:
    return ctx.op("Cast", flags, to=DOUBLE)


def _truth(ctx: Context, value: Value, construct: str) -> tuple[str, str]:
    """``(true, false)`` bool masks of a boolean value (both False where it is null)."""
    if value.spark_type not in ("boolean", "void"):
        raise UnsupportedSqlError(f"a non-boolean condition in {construct}")
    true = ctx.op("Equal", value.tensor, ctx.const(1.0))
    false = ctx.op("Equal", value.tensor, ctx.const(0.0))
    if value.null is not None:
        known = ctx.not_(value.null)
        true, false = ctx.and_(true, known), ctx.and_(false, known)
    return true, false


def _logical(kind: str) -> Any:
    def handle(ctx: Context, expression: Any, active: str | None) -> Value:
        construct = f"'{expression.sql(dialect='spark')}'"
        left = translate(ctx, expression.left, active)
        left_true, left_false = _truth(ctx, left, construct)
        # AND evaluates its right side only when the left is not false; OR when it is not true.
        decided = left_false if kind == "and" else left_true
        right = translate(ctx, expression.right, ctx.and_(active, ctx.not_(decided)))
        right_true, right_false = _truth(ctx, right, construct)
        if kind == "and":
            true = ctx.op("And", left_true, right_true, version=7)
            false = ctx.op("Or", left_false, right_false, version=7)
        else:
            true = ctx.op("Or", left_true, right_true, version=7)
            false = ctx.op("And", left_false, right_false, version=7)
        null = None
        if left.null is not None or right.null is not None:
            null = ctx.not_(ctx.op("Or", true, false, version=7))
        return Value("boolean", _as_number(ctx, true), null)

    return handle


def _not(ctx: Context, expression: Any, active: str | None) -> Value:
    value = translate(ctx, expression.this, active)
    true, _ = _truth(ctx, value, f"'{expression.sql(dialect='spark')}'")
    return Value("boolean", _as_number(ctx, ctx.not_(true)), value.null)


def _is(ctx: Context, expression: Any, active: str | None) -> Value:
    from sqlglot import exp

    if not isinstance(expression.expression, exp.Null):
        raise UnsupportedSqlError(f"'{expression.sql(dialect='spark')}' (only IS [NOT] NULL)")
    value = translate(ctx, expression.this, active)
    is_null = value.null or ctx.bool_const(False)
    return Value("boolean", _as_number(ctx, is_null))


# ---------------------------------------------------------------- conditionals


def _choose(ctx: Context, branches: list[tuple[str, Value]], default: Value, result_type: str) -> Value:
    """The value of the first branch whose mask holds (masks are mutually exclusive), else ``default``."""
    tensor, null = default.tensor, default.null
    for mask, value in reversed(branches):
        value = _as_double(ctx, value)
        tensor = ctx.where(mask, value.tensor, tensor)
        if null is not None or value.null is not None:
            taken_null = ctx.and_(mask, value.null) if value.null is not None else None
            kept_null = ctx.and_(ctx.not_(mask), null) if null is not None else None
            null = ctx.or_(taken_null, kept_null) or taken_null or kept_null
    return Value(result_type, tensor, null)


def _case(ctx: Context, expression: Any, active: str | None) -> Value:
    from sqlglot import exp

    construct = f"'{expression.sql(dialect='spark')}'"
    subject = expression.this  # CASE x WHEN v ...: each WHEN is x = v
    pending = active  # rows whose earlier conditions were not true
    branches, values = [], []
    for clause in expression.args.get("ifs") or []:
        if subject is not None:
            condition = _comparison("eq")(ctx, exp.EQ(this=subject, expression=clause.this), pending)
        else:
            condition = translate(ctx, clause.this, pending)
        true, _ = _truth(ctx, condition, construct)
        taken = ctx.and_(true, pending) if pending is not None else true
        value = translate(ctx, clause.args["true"], taken)
        branches.append((taken, value))
        values.append(value)
        not_true = ctx.not_(true)
        pending = ctx.and_(pending, not_true) if pending is not None else not_true
    default_node = expression.args.get("default")
    if default_node is not None:
        default = translate(ctx, default_node, pending)
    else:
        default = Value("void", ctx.const(0.0), null=ctx.bool_const(True))
    if _chooses_decimal_literals([*values, default]):
        return _choose(ctx, branches, _as_double(ctx, default), DECIMAL_CHOICE)
    result_type = _common([*values, default], construct)
    _numeric_or_boolean(result_type, construct)
    return _choose(ctx, branches, _as_double(ctx, default), result_type)


def _chooses_decimal_literals(values: list[Value]) -> bool:
    """Whether the branches are decimal and integer literals (or NULL), a decimal among them."""
    literal_types = {"decimal", *_INTEGRAL}
    return any(v.spark_type == "decimal" for v in values) and all(
        v.spark_type == "void" or (v.spark_type in literal_types and v.literal is not None) for v in values
    )


def _if(ctx: Context, expression: Any, active: str | None) -> Value:
    from sqlglot import exp

    case = exp.Case(ifs=[exp.If(this=expression.this, true=expression.args["true"])])
    if expression.args.get("false") is not None:
        case.set("default", expression.args["false"])
    return _case(ctx, case, active)


def _numeric_or_boolean(result_type: str, construct: str) -> None:
    if result_type == "decimal":
        raise UnsupportedSqlError(
            f"a DECIMAL result in {construct} (write decimal literals as doubles, e.g. 2.5D)"
        )


def _coalesce(ctx: Context, expression: Any, active: str | None) -> Value:
    construct = f"'{expression.sql(dialect='spark')}'"
    nodes = [expression.this, *(expression.expressions or [])]
    pending = active  # rows where every earlier argument was null
    branches, values = [], []
    for position, argument in enumerate(nodes):
        value = translate(ctx, argument, pending)
        values.append(value)
        if value.null is None:
            taken = pending or ctx.bool_const(True)
            branches.append((taken, value))
            break
        present = ctx.not_(value.null)
        branches.append((ctx.and_(present, pending) if pending is not None else present, value))
        pending = ctx.and_(pending, value.null) if pending is not None else value.null
        if position == len(nodes) - 1:
            break
    result_type = _common(values, construct)
    _numeric_or_boolean(result_type, construct)
    default = Value("void", ctx.const(0.0), null=ctx.bool_const(True))
    return _choose(ctx, branches, default, result_type)


def _extreme(greatest: bool) -> Any:
    def handle(ctx: Context, expression: Any, active: str | None) -> Value:
        construct = f"'{expression.sql(dialect='spark')}'"
        values = [translate(ctx, n, active) for n in [expression.this, *(expression.expressions or [])]]
        result_type = _common(values, construct)
        _numeric_or_boolean(result_type, construct)
        values = [_as_double(ctx, v) for v in values]
        best = values[0]
        for value in values[1:]:
            a, b = (value.tensor, best.tensor) if greatest else (best.tensor, value.tensor)
            better = _spark_greater(ctx, a, b)  # strictly better: ties keep the earlier argument
            if best.null is not None:
                better = ctx.op("Or", better, best.null, version=7)
            if value.null is not None:
                better = ctx.and_(better, ctx.not_(value.null))
            null = None
            if best.null is not None and value.null is not None:
                null = ctx.op("And", best.null, value.null, version=7)
            best = Value(result_type, ctx.where(better, value.tensor, best.tensor), null)
        return Value(result_type, best.tensor, best.null)

    return handle


# ---------------------------------------------------------------- casts and math


def cast_target(expression: Any) -> str:
    """A CAST's target type as Spark SQL writes it (``INT``, ``STRING``...)."""
    return expression.to.sql(dialect="spark").upper()


def cast_target_type(expression: Any) -> str:
    """A numeric or boolean CAST target as a Spark type name; refused by name otherwise."""
    target_text = cast_target(expression)
    target = _CAST_TARGETS.get(target_text)
    if target is None:
        raise UnsupportedSqlError(f"CAST to {target_text} ('{expression.sql(dialect='spark')}')")
    return target


def _cast(ctx: Context, expression: Any, active: str | None) -> Value:
    """``CAST``/``TRY_CAST`` between numbers and booleans (``_sql_casts`` adds strings)."""
    target = cast_target_type(expression)
    value = translate(ctx, expression.this, active)
    if value.spark_type == "string":
        raise UnsupportedSqlError(f"CAST of a string ('{expression.sql(dialect='spark')}')")
    return cast_value(ctx, value, target, bool(expression.args.get("safe")), active)


def cast_value(ctx: Context, value: Value, target: str, safe: bool, active: str | None) -> Value:
    """``value`` (a number or boolean) cast to ``target``; ``safe`` (TRY_CAST): null, not an error."""
    if value.spark_type == "decimal":
        number = float(value.literal)
        if target == "double":
            return _literal(ctx, number, "double")
        value = _literal(ctx, number, "double")  # the literal's value; exact casts below
    tensor, null = value.tensor, value.null
    if target == "boolean":
        if value.spark_type != "boolean":
            tensor = _as_number(ctx, ctx.not_(ctx.op("Equal", tensor, ctx.const(0.0))))
        return Value("boolean", tensor, null)
    if target == "double" or value.spark_type in ("boolean", "void"):
        return Value(target, tensor, null)
    low, high = _INTEGRAL[target]
    if value.spark_type in _INTEGRAL:
        outside = ctx.op(
            "Or",
            ctx.op("Greater", tensor, ctx.const(high)),
            ctx.op("Less", tensor, ctx.const(low)),
            version=7,
        )
    else:  # double: floor(x) <= MAX and ceil(x) >= MIN, else (NaN too) CAST_OVERFLOW; truncate
        fits = ctx.op(
            "And",
            ctx.op("LessOrEqual", ctx.op("Floor", tensor), ctx.const(float(high)), version=12),
            ctx.op("GreaterOrEqual", ctx.op("Ceil", tensor), ctx.const(float(low)), version=12),
            version=7,
        )
        outside = ctx.not_(fits)
        negative = ctx.op("Less", tensor, ctx.const(0.0))
        tensor = ctx.where(negative, ctx.op("Ceil", tensor), ctx.op("Floor", tensor))
        tensor = ctx.where(outside, ctx.const(0.0), tensor)
    if null is not None:
        outside = ctx.and_(outside, ctx.not_(null))
    if safe:
        null = ctx.op("Or", outside, null, version=7) if null is not None else outside
    else:
        ctx.raise_where("CAST_OVERFLOW", outside, active)
    return Value(target, tensor, null)


def _double_argument(ctx: Context, expression: Any, active: str | None, construct: str) -> Value:
    value = _as_double(ctx, translate(ctx, expression, active))
    _numeric(value, construct)
    return value


def _unary_math(op_type: str) -> Any:
    def handle(ctx: Context, expression: Any, active: str | None) -> Value:
        value = _double_argument(ctx, expression.this, active, f"'{expression.sql(dialect='spark')}'")
        return Value("double", ctx.op(op_type, value.tensor), value.null)

    return handle


def _positive_log(ctx: Context, value: Value) -> tuple[str, str]:
    """``ln(x)`` and the rows where Spark returns null (``x <= 0``; NaN gives NaN)."""
    non_positive = ctx.op("LessOrEqual", value.tensor, ctx.const(0.0), version=12)
    return ctx.op("Log", value.tensor), non_positive


def _ln(ctx: Context, expression: Any, active: str | None) -> Value:
    value = _double_argument(ctx, expression.this, active, f"'{expression.sql(dialect='spark')}'")
    log, undefined = _positive_log(ctx, value)
    null = ctx.op("Or", undefined, value.null, version=7) if value.null else undefined
    return Value("double", log, null)


def _log(ctx: Context, expression: Any, active: str | None) -> Value:
    construct = f"'{expression.sql(dialect='spark')}'"
    if expression.expression is None:
        return _ln(ctx, expression, active)
    base = _double_argument(ctx, expression.this, active, construct)
    base_active = ctx.and_(active, ctx.not_(base.null)) if base.null else active
    value = _double_argument(ctx, expression.expression, base_active, construct)
    log_base, base_undefined = _positive_log(ctx, base)
    log_value, value_undefined = _positive_log(ctx, value)
    null = ctx.op("Or", base_undefined, value_undefined, version=7)
    for extra in (base.null, value.null):
        if extra is not None:
            null = ctx.op("Or", null, extra, version=7)
    return Value("double", ctx.op("Div", log_value, log_base, version=14), null)


def _pow(ctx: Context, expression: Any, active: str | None) -> Value:
    construct = f"'{expression.sql(dialect='spark')}'"
    base, exponent, null = _operands(ctx, expression, active)
    _numeric(base, construct)
    _numeric(exponent, construct)
    base, exponent = _as_double(ctx, base), _as_double(ctx, exponent)
    result = ctx.op("Pow", base.tensor, exponent.tensor, version=15)
    # Java's pow (StrictMath.pow) differs from C's: a NaN exponent and (±1)^±inf give NaN.
    unit_base = ctx.op("Equal", ctx.op("Abs", base.tensor), ctx.const(1.0))
    infinite = ctx.op("IsInf", exponent.tensor, version=10)
    java_nan = ctx.op(
        "Or", ctx.op("IsNaN", exponent.tensor), ctx.op("And", unit_base, infinite, version=7), version=7
    )
    return Value("double", ctx.where(java_nan, ctx.const(math.nan), result), null)


def register_handlers(handlers: dict[type, Any]) -> None:
    """Add translations of more sqlglot expression types (``_sql_strings`` adds its functions)."""
    if not _HANDLERS:
        _HANDLERS.update(_handlers())
    _HANDLERS.update(handlers)


def _handlers() -> dict[type, Any]:
    from sqlglot import exp

    return {
        exp.Column: _column,
        exp.Literal: _number,
        exp.Null: _null,
        exp.Boolean: _boolean,
        exp.Paren: _paren,
        exp.Add: _arithmetic("Add", "+"),
        exp.Sub: _arithmetic("Sub", "-"),
        exp.Mul: _arithmetic("Mul", "*"),
        exp.Div: _divide,
        exp.Neg: _negate,
        exp.Abs: _abs,
        exp.EQ: _comparison("eq"),
        exp.NEQ: _comparison("neq"),
        exp.GT: _comparison("gt"),
        exp.LT: _comparison("lt"),
        exp.GTE: _comparison("gte"),
        exp.LTE: _comparison("lte"),
        exp.NullSafeEQ: _null_safe_equal,
        exp.And: _logical("and"),
        exp.Or: _logical("or"),
        exp.Not: _not,
        exp.Is: _is,
        exp.In: _in,
        exp.Like: _like,
        exp.Case: _case,
        exp.If: _if,
        exp.Coalesce: _coalesce,
        exp.Greatest: _extreme(True),
        exp.Least: _extreme(False),
        exp.Cast: _cast,
        exp.TryCast: _cast,
        exp.Exp: _unary_math("Exp"),
        exp.Sqrt: _unary_math("Sqrt"),
        exp.Ln: _ln,
        exp.Log: _log,
        exp.Pow: _pow,
    }


_HANDLERS: dict[type, Any] = {}
