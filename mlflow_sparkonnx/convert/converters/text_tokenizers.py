"""Tokenizer and RegexTokenizer (whitespace patterns): Spark's tokens, empty ones included.

Spark's Tokenizer is ``text.toLowerCase().split("\\s")``: one token between every two
whitespace characters (so ``"a  b"`` gives ``a, "", b``), a leading ``""`` when the text starts
with whitespace, trailing empty tokens dropped, and ``""`` for the empty text. onnxmltools'
converter drops empty tokens and only runs with batch size 1.

RegexTokenizer splitting on whitespace (``\\s+`` or ``\\s`` with ``gaps=True``, ``\\S+`` with
``gaps=False``) shares Tokenizer's split. Other patterns are translated to RE2 (``_java_regex``:
what differs from Java is rewritten, what cannot be is refused by name) and run by onnxruntime's
contrib ``Tokenizer``: ``separators`` for ``gaps=True`` (the pieces between matches), ``tokenexp``
for ``gaps=False`` (the matches), empty tokens dropped, as Spark's ``minTokenLength >= 1`` filter
drops them. The op takes the longest match, Java the first; patterns where the two can differ
(groups, lazy quantifiers, alternatives or repeated sets that overlap) are refused. So is a
pattern that matches the empty string (Java and RE2 step past empty matches differently), and
``minTokenLength=0`` with ``gaps=True`` (Java's split keeps interior empty tokens).
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
from mlflow_sparkonnx.convert.converters._graph import INT64, constant, input_columns, node, output_columns
from mlflow_sparkonnx.convert.converters._java_regex import java_to_re2, longest_match_differs, matches_empty
from mlflow_sparkonnx.convert.converters._row_checks import refuse_rows_onnx_only
from mlflow_sparkonnx.convert.converters._text import (
    LOWER_CASE_REFUSED,
    PAD,
    STRING,
    TEXT_OPSET,
    compact,
    documents,
    ints,
    op,
    positions,
    row_counts,
    split_on_whitespace,
    token_mask,
    with_padding,
)

_logger = logging.getLogger(__name__)


def lower_case(scope: Any, container: Any, texts: str, stage: Any, column: str) -> str:
    """Lower-case a 1-D string tensor (``C.UTF-8``: the default ``en_US`` locale may be missing).

    Rows that Java would lower-case otherwise (:data:`LOWER_CASE_REFUSED`) are refused by the ONNX
    runtime, naming the column and row: the graph would give other tokens there. The Spark runtime
    scores them.
    """
    differs = op(scope, container, "RegexFullMatch", [texts], 20, pattern=LOWER_CASE_REFUSED)
    flags = op(scope, container, "Unsqueeze", [differs, ints(scope, container, "axis", [1])])
    why = (
        "a character the ONNX graph cannot lower-case as Java does (İ, a word-final Σ, or a letter newer "
        "than Java 17's Unicode tables)"
    )
    refuse_rows_onnx_only(scope, container, flags, stage, column, why)
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
    stage = operator.raw_operator
    texts = lower_case(
        scope, container, documents(scope, container, operator.inputs[0]), stage, stage.getInputCol()
    )
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
    """Optional lower-case, then Tokenizer's whitespace split or an RE2 translation of the pattern."""
    stage = operator.raw_operator
    pattern, gaps = stage.getPattern(), stage.getGaps()
    min_length = stage.getMinTokenLength()
    whitespace = (pattern, gaps) in _WHITESPACE_SPLITS
    if min_length > _MAX_MIN_TOKEN_LENGTH:
        raise NotImplementedError(
            f"RegexTokenizer minTokenLength={min_length} has no ONNX converter "
            f"(at most {_MAX_MIN_TOKEN_LENGTH})"
        )
    if min_length == 0 and pattern != "\\s" and (gaps or whitespace):
        raise NotImplementedError(
            f"RegexTokenizer minTokenLength=0 with pattern {pattern!r} keeps Java's empty tokens between "
            "adjacent matches, which onnxruntime's Tokenizer drops; minTokenLength >= 1 converts"
        )
    re2 = None if whitespace else java_to_re2(pattern)  # raises, naming what does not translate
    if re2 is not None and matches_empty(re2):
        raise NotImplementedError(
            f"RegexTokenizer pattern {pattern!r} matches the empty string, where Java and onnxruntime's "
            "regex engine step differently; a pattern that needs at least one character converts"
        )
    ambiguous = None if whitespace else longest_match_differs(pattern)
    if ambiguous:
        raise NotImplementedError(
            f"RegexTokenizer pattern {pattern!r}: onnxruntime's Tokenizer takes the longest match where Java "
            f"takes the first, and {ambiguous} can make them differ"
        )
    texts = documents(scope, container, operator.inputs[0])
    if stage.getToLowercase():
        texts = lower_case(scope, container, texts, stage, stage.getInputCol())
    if re2 is not None:
        tokens = regex_tokens(scope, container, texts, re2, gaps)
        keep = token_mask(scope, container, tokens)
        if min_length > 1:
            keep = op(scope, container, "And", [keep, long_enough(scope, container, tokens, min_length)], 7)
            tokens, keep = compact(scope, container, tokens, keep)
        padded = trim(scope, container, tokens, keep)
        op(scope, container, "Identity", [padded], 16, output=operator.outputs[0].full_name)
        return
    tokens, mask = split_on_whitespace(scope, container, texts)
    if min_length == 0:  # Java's split on "\\s", empty tokens kept
        keep = drop_trailing_empty(scope, container, texts, tokens, mask)
    else:
        keep = op(scope, container, "And", [mask, long_enough(scope, container, tokens, min_length)], 7)
        tokens, keep = compact(scope, container, tokens, keep)
    padded = trim(scope, container, tokens, keep)
    op(scope, container, "Identity", [padded], 16, output=operator.outputs[0].full_name)


def regex_tokens(scope: Any, container: Any, texts: str, re2: str, gaps: bool) -> str:
    """``[N, T]`` non-empty tokens padded with PAD: the pieces between matches of ``re2`` (gaps), or
    the matches themselves (onnxruntime's contrib ``Tokenizer``)."""
    how = {"separators": [re2]} if gaps else {"tokenexp": re2}
    return node(
        scope,
        container,
        "Tokenizer",
        [texts],
        op_version=1,
        op_domain="com.microsoft",
        mark=0,
        mincharnum=1,
        pad_value=PAD,
        **how,
    )


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
