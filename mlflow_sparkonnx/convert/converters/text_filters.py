"""StopWordsRemover and NGram on padded token rows (see ``_text``), order kept as in Spark.

- StopWordsRemover: a token is dropped when it (lower-cased, unless ``caseSensitive``) is in the
  stop list (lower-cased the way Java's ``toLowerCase`` does, which Python's ``str.lower``
  matches). ``inputCols``/``outputCols`` share the list and ``caseSensitive``: one filter per
  column pair. Only stages in an English (or root) locale convert when lower-casing. Tokens are
  lower-cased by onnxruntime, which differs from Java on a few characters (``LOWER_CASE_DIFFERS``,
  and Σ): where that could change the answer (such a token that the graph finds in the list, or any
  such token when the list holds a non-ASCII word) the ONNX runtime refuses the row.
- NGram: ``n`` consecutive tokens joined by ``" "``; rows with fewer than ``n`` tokens give none.
"""

from __future__ import annotations

import logging
from typing import Any

from pyspark.ml.feature import NGram, StopWordsRemover

from mlflow_sparkonnx.convert.converters import ConverterSpec
from mlflow_sparkonnx.convert.converters._graph import INT64, constant, input_columns, node, output_columns
from mlflow_sparkonnx.convert.converters._row_checks import refuse_rows_onnx_only
from mlflow_sparkonnx.convert.converters._text import (
    LOWER_CASE_DIFFERS,
    STRING,
    TEXT_OPSET,
    compact,
    dim,
    ints,
    op,
    positions,
    row_counts,
    token_mask,
    with_padding,
)

_logger = logging.getLogger(__name__)

#: A token holding a character Java and onnxruntime lower-case differently, or a Σ (final sigma).
_DIFFERS_IN_TOKEN = "(?s).*(?:" + LOWER_CASE_DIFFERS + "|\\x{3a3}).*"


def _lower_tokens(scope: Any, container: Any, tokens: str) -> str:
    """Lower-case an ``[N, T]`` string tensor (StringNormalizer takes 1-D, non-empty input only).

    A batch without any token (``T = 0``, e.g. one empty document) is lower-cased with one extra
    ``""`` appended and sliced off again: onnxruntime refuses an empty StringNormalizer input.
    """
    flat = op(scope, container, "Reshape", [tokens, ints(scope, container, "flat", [-1])], 14)
    extra = constant(scope, container, "empty", STRING, [1], [b""])
    flat = op(scope, container, "Concat", [flat, extra], axis=0)
    lower = op(scope, container, "StringNormalizer", [flat], 10, case_change_action="LOWER", locale="C.UTF-8")
    start, end, axis = (ints(scope, container, name, [v]) for name, v in (("s", 0), ("e", -1), ("a", 0)))
    lower = op(scope, container, "Slice", [lower, start, end, axis])
    shape = op(scope, container, "Shape", [tokens], 15)
    return op(scope, container, "Reshape", [lower, shape], 14, allowzero=1)  # T may be 0


def convert_stop_words_remover(scope: Any, operator: Any, container: Any) -> None:
    """Look every token up in the stop list (LabelEncoder), keep the others in order; per column."""
    stage = operator.raw_operator
    case_sensitive = stage.getCaseSensitive()
    locale = stage.getLocale()
    if not case_sensitive and locale.split("_")[0].lower() not in ("en", ""):
        raise NotImplementedError(f"StopWordsRemover lower-cases in locale {locale!r}; only English converts")
    words = sorted({w if case_sensitive else w.lower() for w in stage.getStopWords()})
    for variable, output in zip(operator.inputs, operator.outputs, strict=True):
        _remove_stop_words(scope, container, stage, variable, output.full_name, words, case_sensitive)


def _remove_stop_words(
    scope: Any, container: Any, stage: Any, variable: Any, output: str, words: list[str], case_sensitive: bool
) -> None:
    """One column: ``[N, T]`` padded tokens without the stop words, compacted and re-padded."""
    tokens = variable.full_name
    mask = token_mask(scope, container, tokens)
    if words:
        looked_up = tokens
        if not case_sensitive:  # padding is not UTF-8, which StringNormalizer refuses
            empty = constant(scope, container, "empty", STRING, [], [b""])
            cleaned = op(scope, container, "Where", [mask, tokens, empty], 16)
            looked_up = _lower_tokens(scope, container, cleaned)
        is_stop = node(
            scope,
            container,
            "LabelEncoder",
            [looked_up],
            op_version=2,
            op_domain="ai.onnx.ml",
            keys_strings=words,
            values_int64s=[1] * len(words),
            default_int64=0,
        )
        zero = constant(scope, container, "zero", INT64, [], [0])
        kept = op(scope, container, "Equal", [is_stop, zero])
        if not case_sensitive:
            _refuse_lower_case_differences(scope, container, stage, variable.raw_name, cleaned, kept, words)
        mask = op(scope, container, "And", [mask, kept], 7)
    tokens, mask = compact(scope, container, tokens, mask)
    padded = with_padding(scope, container, tokens, mask)
    op(scope, container, "Identity", [padded], 16, output=output)


def _refuse_lower_case_differences(
    scope: Any, container: Any, stage: Any, column: str, tokens: str, kept: str, words: list[str]
) -> None:
    """Refuse rows where onnxruntime's lower-casing could decide otherwise than Java's.

    A token holding a character of ``LOWER_CASE_DIFFERS`` or a Σ lower-cases differently; with an
    ASCII stop list only a token the graph finds in the list can be answered otherwise (İ becomes
    ``i`` here, ``i`` and a combining dot in Java), with any other list every such token is.
    """
    differs = op(scope, container, "RegexFullMatch", [tokens], 20, pattern=_DIFFERS_IN_TOKEN)
    if all(word.isascii() for word in words):
        found = op(scope, container, "Not", [kept], 1)
        differs = op(scope, container, "And", [differs, found], 7)
    why = (
        "a token the ONNX graph cannot lower-case as Java does (İ, Σ, or a letter newer than Java 17's "
        "Unicode tables) where that decides whether it is a stop word"
    )
    refuse_rows_onnx_only(scope, container, differs, stage, column, why)


def convert_ngram(scope: Any, operator: Any, container: Any) -> None:
    """Concatenate ``n`` shifted slices with ``" "``; n-grams past a row's last token are padding."""
    n = int(operator.raw_operator.getN())
    tokens = operator.inputs[0].full_name
    counts = row_counts(scope, container, token_mask(scope, container, tokens))
    shift = constant(scope, container, "ngram_shift", INT64, [1], [n - 1])
    zero = ints(scope, container, "zero", [0])
    width = op(
        scope,
        container,
        "Max",
        [op(scope, container, "Sub", [dim(scope, container, tokens, 1), shift], 14), zero],
    )
    axis = ints(scope, container, "axis", [1])
    space = constant(scope, container, "space", STRING, [], [b" "])
    grams = ""
    for k in range(n):
        start = ints(scope, container, "ngram_start", [k])
        end = op(scope, container, "Add", [width, start], 14)
        part = op(scope, container, "Slice", [tokens, start, end, axis])
        if grams:
            grams = op(
                scope,
                container,
                "StringConcat",
                [op(scope, container, "StringConcat", [grams, space], 20), part],
                20,
            )
        else:
            grams = part
    valid = op(scope, container, "Sub", [counts, shift], 14)
    valid = op(scope, container, "Unsqueeze", [valid, ints(scope, container, "axis", [1])])
    mask = op(scope, container, "Less", [positions(scope, container, grams, 1), valid])
    padded = with_padding(scope, container, grams, mask)
    op(scope, container, "Identity", [padded], 16, output=operator.outputs[0].full_name)


def calculate_token_shapes(operator: Any) -> None:
    """``[N, None]`` strings per output column, one row per document."""
    from onnxmltools.convert.common.data_types import StringTensorType

    for variable, output in zip(operator.inputs, operator.outputs, strict=True):
        output.type = StringTensorType([variable.type.shape[0], None])


SPECS = [
    ConverterSpec(
        StopWordsRemover,
        convert_stop_words_remover,
        calculate_token_shapes,
        input_columns=input_columns,
        output_columns=output_columns,
        replaces_onnxmltools=True,
        min_opset=TEXT_OPSET,
    ),
    ConverterSpec(
        NGram,
        convert_ngram,
        calculate_token_shapes,
        input_columns=input_columns,
        output_columns=output_columns,
        min_opset=TEXT_OPSET,
    ),
]
