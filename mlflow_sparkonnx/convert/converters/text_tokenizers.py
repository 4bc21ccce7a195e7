"""Tokenizer and RegexTokenizer (whitespace patterns): Spark's tokens, empty ones included.

Spark's Tokenizer is ``text.toLowerCase().split("\\s")``: one token between every two
whitespace characters (so ``"a  b"`` gives ``a, "", b``), a leading ``""`` when the text starts
with whitespace, trailing empty tokens dropped, and ``""`` for the empty text. onnxmltools'
converter drops empty tokens and only runs with batch size 1.

RegexTokenizer converts when its regex splits on whitespace (``\\s+`` or ``\\s`` with
``gaps=True``, ``\\S+`` with ``gaps=False``); other patterns raise ``NotImplementedError``.
``minTokenLength`` counts UTF-16 code units, as Java does (an emoji counts 2).

Lower-casing uses ONNX ``StringNormalizer`` (locale ``C.UTF-8``), which maps one character to
one character; Java differs for a few characters (``Σ`` at the end of a word becomes ``ς``,
``İ`` becomes ``i̇``). Those are listed in ``tests/convert/converters/test_text.py``.
"""

from __future__ import annotations

import logging
from typing import Any

from pyspark.ml.feature import RegexTokenizer, Tokenizer

from mlflow_sparkonnx.convert.converters import ConverterSpec
from mlflow_sparkonnx.convert.converters._graph import INT64, constant, input_columns, output_columns
from mlflow_sparkonnx.convert.converters._text import (
    STRING,
    TEXT_OPSET,
    compact,
    documents,
    ints,
    op,
    positions,
    row_counts,
    split_on_whitespace,
    with_padding,
)

_logger = logging.getLogger(__name__)


def lower_case(scope: Any, container: Any, texts: str) -> str:
    """Lower-case a 1-D string tensor (``C.UTF-8``: the default ``en_US`` locale may be missing)."""
    return op(scope, container, "StringNormalizer", [texts], 10, case_change_action="LOWER", locale="C.UTF-8")


def drop_trailing_empty(scope: Any, container: Any, texts: str, tokens: str, mask: str) -> str:
    """Java's ``split`` result: trailing ``""`` tokens removed, but ``""`` split gives ``[""]``."""
    empty = constant(scope, container, "empty", STRING, [], [b""])
    is_empty = op(scope, container, "Equal", [tokens, empty], 19)
    nonempty = op(scope, container, "And", [mask, op(scope, container, "Not", [is_empty], 1)], 7)
    axis = constant(scope, container, "axis", INT64, [], [1])
    as_int = op(scope, container, "Cast", [nonempty], to=INT64)
    later = op(scope, container, "CumSum", [as_int, axis], 14, reverse=1)
    zero = constant(scope, container, "zero", INT64, [], [0])
    keep = op(scope, container, "And", [mask, op(scope, container, "Greater", [later, zero])], 7)
    empty_text = op(scope, container, "Equal", [texts, empty], 19)
    empty_text = op(scope, container, "Unsqueeze", [empty_text, ints(scope, container, "axis", [1])])
    first = op(scope, container, "Equal", [positions(scope, container, tokens, 1), zero])
    return op(scope, container, "Or", [keep, op(scope, container, "And", [empty_text, first], 7)], 7)


def trim(scope: Any, container: Any, tokens: str, mask: str) -> str:
    """Padded tokens, as wide as the longest row (real tokens are a prefix of each row)."""
    longest = op(scope, container, "ReduceMax", [row_counts(scope, container, mask)], 18, keepdims=1)
    start = ints(scope, container, "start", [0])
    axis = ints(scope, container, "axis", [1])
    tokens = op(scope, container, "Slice", [tokens, start, longest, axis])
    mask = op(scope, container, "Slice", [mask, start, longest, axis])
    return with_padding(scope, container, tokens, mask)


def convert_tokenizer(scope: Any, operator: Any, container: Any) -> None:
    """Lower-case, split on each Java whitespace character, drop trailing empty tokens."""
    texts = lower_case(scope, container, documents(scope, container, operator.inputs[0]))
    tokens, mask = split_on_whitespace(scope, container, texts)
    keep = drop_trailing_empty(scope, container, texts, tokens, mask)
    padded = trim(scope, container, tokens, keep)
    op(scope, container, "Identity", [padded], 16, output=operator.outputs[0].full_name)


#: (pattern, gaps) pairs whose tokens are the whitespace-separated pieces of the text.
_WHITESPACE_SPLITS = {("\\s+", True), ("\\s", True), ("\\S+", False)}
_ASTRAL = "[\\x{10000}-\\x{10FFFF}]"
_BMP = "[^\\x{10000}-\\x{10FFFF}]"
_MAX_MIN_TOKEN_LENGTH = 10  # the pattern grows like Fibonacci(k)


def utf16_length_at_least(k: int) -> str:
    """An RE2 pattern matching strings of at least ``k`` UTF-16 code units (Java's ``length``)."""
    patterns: dict[int, str] = {}
    for i in range(k + 1, -1, -1):
        if i >= k:
            patterns[i] = "(?s:.*)"
        else:
            patterns[i] = f"(?:{_BMP}{patterns[i + 1]}|{_ASTRAL}{patterns[min(i + 2, k)]})"
    return patterns[0]


def long_enough(scope: Any, container: Any, tokens: str, min_length: int) -> str:
    """True where a token has at least ``min_length`` (>= 1) UTF-16 code units."""
    if min_length == 1:
        empty = constant(scope, container, "empty", STRING, [], [b""])
        return op(scope, container, "Not", [op(scope, container, "Equal", [tokens, empty], 19)], 1)
    return op(scope, container, "RegexFullMatch", [tokens], 20, pattern=utf16_length_at_least(min_length))


def convert_regex_tokenizer(scope: Any, operator: Any, container: Any) -> None:
    """Whitespace patterns only: optional lower-case, split on Java ``\\s``, length filter."""
    stage = operator.raw_operator
    pattern, gaps = stage.getPattern(), stage.getGaps()
    min_length = stage.getMinTokenLength()
    if (pattern, gaps) not in _WHITESPACE_SPLITS:
        raise NotImplementedError(
            f"RegexTokenizer pattern {pattern!r} with gaps={gaps} has no ONNX converter; only "
            "'\\s+' or '\\s' (gaps=True) and '\\S+' (gaps=False) convert"
        )
    if min_length > _MAX_MIN_TOKEN_LENGTH or (min_length == 0 and pattern != "\\s"):
        raise NotImplementedError(
            f"RegexTokenizer minTokenLength={min_length} with pattern {pattern!r} has no ONNX converter"
        )
    texts = documents(scope, container, operator.inputs[0])
    if stage.getToLowercase():
        texts = lower_case(scope, container, texts)
    tokens, mask = split_on_whitespace(scope, container, texts)
    if min_length == 0:  # Java's split on "\\s", empty tokens kept
        keep = drop_trailing_empty(scope, container, texts, tokens, mask)
    else:
        keep = op(scope, container, "And", [mask, long_enough(scope, container, tokens, min_length)], 7)
        tokens, keep = compact(scope, container, tokens, keep)
    padded = trim(scope, container, tokens, keep)
    op(scope, container, "Identity", [padded], 16, output=operator.outputs[0].full_name)


def calculate_token_shapes(operator: Any) -> None:
    """``[N, None]`` strings, one row per document."""
    from onnxmltools.convert.common.data_types import StringTensorType

    n = operator.inputs[0].type.shape[0]
    operator.outputs[0].type = StringTensorType([n, None])


SPECS = [
    ConverterSpec(
        Tokenizer,
        convert_tokenizer,
        calculate_token_shapes,
        input_columns=input_columns,
        output_columns=output_columns,
        replaces_onnxmltools=True,
        min_opset=TEXT_OPSET,
    ),
    ConverterSpec(
        RegexTokenizer,
        convert_regex_tokenizer,
        calculate_token_shapes,
        input_columns=input_columns,
        output_columns=output_columns,
        min_opset=TEXT_OPSET,
    ),
]
