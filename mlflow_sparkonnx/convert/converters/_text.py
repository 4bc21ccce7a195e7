"""Graph pieces shared by the text converters (not a converter module).

Token tensors between text stages are ``[N, T]`` string tensors, one row per document, real
tokens first and the rest filled with :data:`PAD`. ``PAD`` is not valid UTF-8, so no string a
caller sends can equal it: ``""`` stays a real token (Spark's Tokenizer produces it).

The string operators used here (``StringSplit``, string ``Equal``, ``ScatterElements`` with a
reduction) need default-domain opset :data:`TEXT_OPSET`. onnxmltools refuses target opsets above
15, so nodes are recorded with :func:`version` (at most the container's target) and the spec's
``min_opset`` makes ``convert_pipeline`` raise the graph's opset once onnxmltools has built it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from onnx import TensorProto

from mlflow_sparkonnx.convert.converters._graph import INT64, constant, node

TEXT_OPSET = 20
STRING = TensorProto.STRING
#: Fills token rows after their last real token; invalid UTF-8, so never a real token.
PAD = b"\xff\xfesparkonnx-pad"
#: Code points whose lower case onnxruntime's ``StringNormalizer`` gives otherwise than Spark, measured
#: over every code point (onnxruntime 1.32 on this machine's glibc; pyspark 4.3 on Java 17): the union
#: of Java 17's ``toLowerCase`` (Tokenizer, StopWordsRemover, SQL with
#: ``spark.sql.icu.caseMappings.enabled=false``: 41 differ) and ICU's (SQL's default: 56).
#: İ (Java gives two characters), and letters newer than one side's Unicode tables.
LOWER_CASE_DIFFERS = (
    "["
    "\\x{130}\\x{1c89}\\x{2c2f}\\x{a7c0}\\x{a7cb}-\\x{a7cc}\\x{a7ce}\\x{a7d0}\\x{a7d2}\\x{a7d4}"
    "\\x{a7d6}\\x{a7d8}\\x{a7da}\\x{a7dc}\\x{10570}-\\x{1057a}\\x{1057c}-\\x{1058a}"
    "\\x{1058c}-\\x{10592}\\x{10594}-\\x{10595}\\x{10d50}-\\x{10d65}\\x{16ea0}-\\x{16eb8}"
    "]"
)
#: The same for upper case (142 with Java 17, 157 with ICU): ß and the ligatures Java
#: and ICU expand (ß → SS), and newer letters.
UPPER_CASE_DIFFERS = (
    "["
    "\\x{df}\\x{149}\\x{19b}\\x{1f0}\\x{264}\\x{390}\\x{3b0}\\x{587}\\x{1c8a}"
    "\\x{1e96}-\\x{1e9a}\\x{1f50}\\x{1f52}\\x{1f54}\\x{1f56}\\x{1f80}-\\x{1faf}"
    "\\x{1fb2}-\\x{1fb4}\\x{1fb6}-\\x{1fb7}\\x{1fbc}\\x{1fc2}-\\x{1fc4}\\x{1fc6}-\\x{1fc7}"
    "\\x{1fcc}\\x{1fd2}-\\x{1fd3}\\x{1fd6}-\\x{1fd7}\\x{1fe2}-\\x{1fe4}\\x{1fe6}-\\x{1fe7}"
    "\\x{1ff2}-\\x{1ff4}\\x{1ff6}-\\x{1ff7}\\x{1ffc}\\x{2c5f}\\x{a7c1}\\x{a7cd}\\x{a7cf}"
    "\\x{a7d1}\\x{a7d3}\\x{a7d5}\\x{a7d7}\\x{a7d9}\\x{a7db}\\x{fb00}-\\x{fb06}"
    "\\x{fb13}-\\x{fb17}\\x{10597}-\\x{105a1}\\x{105a3}-\\x{105b1}\\x{105b3}-\\x{105b9}"
    "\\x{105bb}-\\x{105bc}\\x{10d70}-\\x{10d85}\\x{16ebb}-\\x{16ed3}"
    "]"
)
#: Texts Java lower-cases otherwise than onnxruntime: one of ``LOWER_CASE_DIFFERS``, or a Σ not followed
#: by a cased letter (Java's final sigma gives ς there; a Σ after no letter gives σ in both, and is
#: refused too: the rule is kept simple and safe).
LOWER_CASE_REFUSED = "(?s).*(?:" + LOWER_CASE_DIFFERS + "|\\x{3a3}(?:[^\\p{Lu}\\p{Ll}\\p{Lt}]|\\z)).*"
#: Texts Java upper-cases otherwise than onnxruntime.
UPPER_CASE_REFUSED = "(?s).*" + UPPER_CASE_DIFFERS + ".*"
#: What Java's regex ``\s`` matches (Spark's Tokenizer splits on it).
JAVA_WHITESPACE = (" ", "\t", "\n", "\x0b", "\f", "\r")


def version(container: Any, needed: int) -> int:
    """The op version to record for onnxmltools (see the module docstring)."""
    return min(needed, container.target_opset)


def op(
    scope: Any, container: Any, op_type: str, inputs: Sequence[str], needed: int = 13, **attrs: Any
) -> str:
    """One node whose semantics are those of default-domain opset :data:`TEXT_OPSET`."""
    return node(scope, container, op_type, inputs, op_version=version(container, needed), **attrs)


#: Below it Java's ``Double.toString`` of a whole number is its digits and ``.0`` (from 10^7: ``1.0E7``).
PLAIN_DOUBLE_LIMIT = 1e7


def java_double_text(scope: Any, container: Any, x: str) -> tuple[str, str]:
    """Java's ``Double.toString`` of each value of double tensor ``x`` the graph can write, and a bool
    tensor flagging the others.

    Written: whole numbers below 10^7 in magnitude (``3.0``, ``-12.0``, ``-0.0``), ``NaN``,
    ``Infinity`` and ``-Infinity``. Flagged: every other value, which Java writes in its
    shortest-digit (``0.1``) or ``E`` form (``1.0E7``); the text there is a placeholder.
    """
    double = TensorProto.DOUBLE

    def number(hint: str, value: float) -> str:
        return constant(scope, container, hint, double, [], [value])

    def text(hint: str, value: str) -> str:
        return constant(scope, container, hint, STRING, [], [value.encode()])

    zero = number("jd_zero", 0.0)
    magnitude = op(scope, container, "Abs", [x])
    whole = op(
        scope,
        container,
        "And",
        [
            op(scope, container, "Equal", [op(scope, container, "Floor", [x]), x]),
            op(scope, container, "Less", [magnitude, number("jd_limit", PLAIN_DOUBLE_LIMIT)]),
        ],
        7,
    )
    nan = op(scope, container, "IsNaN", [x])
    infinite = op(scope, container, "IsInf", [x], 10)
    written = op(scope, container, "Or", [whole, op(scope, container, "Or", [nan, infinite], 7)], 7)
    safe = op(scope, container, "Where", [whole, x, zero], 16)
    digits = op(scope, container, "Cast", [op(scope, container, "Cast", [safe], to=INT64)], to=STRING)
    result = op(scope, container, "StringConcat", [digits, text("jd_point_zero", ".0")], 20)
    negative_zero = op(
        scope,
        container,
        "And",
        [
            op(scope, container, "Equal", [x, zero]),
            op(scope, container, "Less", [op(scope, container, "Div", [number("jd_one", 1.0), x], 14), zero]),
        ],
        7,
    )
    result = op(scope, container, "Where", [negative_zero, text("jd_negative_zero", "-0.0"), result], 16)
    result = op(scope, container, "Where", [nan, text("jd_nan", "NaN"), result], 16)
    negative = op(scope, container, "Less", [x, zero])
    infinity = op(
        scope,
        container,
        "Where",
        [negative, text("jd_minus_inf", "-Infinity"), text("jd_inf", "Infinity")],
        16,
    )
    result = op(scope, container, "Where", [infinite, infinity, result], 16)
    return result, op(scope, container, "Not", [written], 1)


def ints(scope: Any, container: Any, hint: str, values: Sequence[int]) -> str:
    """A 1-D int64 constant."""
    return constant(scope, container, hint, INT64, [len(values)], list(values))


def dim(scope: Any, container: Any, tensor: str, axis: int) -> str:
    """``tensor.shape[axis]`` as a 1-D int64 tensor of one element."""
    return op(scope, container, "Shape", [tensor], 15, start=axis, end=axis + 1)


def positions(scope: Any, container: Any, tensor: str, axis: int) -> str:
    """``[0, 1, ..., tensor.shape[axis] - 1]`` (int64)."""
    size = op(scope, container, "Squeeze", [dim(scope, container, tensor, axis)])
    zero = constant(scope, container, "zero", INT64, [], [0])
    one = constant(scope, container, "one", INT64, [], [1])
    return op(scope, container, "Range", [zero, size, one], 11)


def token_mask(scope: Any, container: Any, tokens: str) -> str:
    """True where ``tokens`` holds a real token (not :data:`PAD`)."""
    pad = constant(scope, container, "pad", STRING, [], [PAD])
    padding = op(scope, container, "Equal", [tokens, pad], 19)
    return op(scope, container, "Not", [padding], 1)


def with_padding(scope: Any, container: Any, tokens: str, mask: str) -> str:
    """``tokens`` with :data:`PAD` wherever ``mask`` is false."""
    pad = constant(scope, container, "pad", STRING, [], [PAD])
    return op(scope, container, "Where", [mask, tokens, pad], 16)


def row_counts(scope: Any, container: Any, mask: str) -> str:
    """Real tokens per row (int64 ``[N]``)."""
    as_int = op(scope, container, "Cast", [mask], to=INT64)
    return op(scope, container, "ReduceSum", [as_int, ints(scope, container, "axis1", [1])], keepdims=0)


def compact(scope: Any, container: Any, tokens: str, mask: str) -> tuple[str, str]:
    """Move each row's real tokens to the front, in order; trim the width to the longest row."""
    width = op(scope, container, "Squeeze", [dim(scope, container, tokens, 1)])
    rank = op(scope, container, "Sub", [width, positions(scope, container, tokens, 1)], 14)  # M - j > 0
    minus_one = constant(scope, container, "minus_one", INT64, [], [-1])
    key = op(scope, container, "Where", [mask, rank, minus_one], 16)
    longest = op(scope, container, "ReduceMax", [row_counts(scope, container, mask)], 18, keepdims=1)
    top, index = _two(scope, container, "TopK", [key, longest], 11, axis=1, largest=1, sorted=1)
    kept = op(scope, container, "GatherElements", [tokens, index], axis=1)
    zero = constant(scope, container, "zero", INT64, [], [0])
    return kept, op(scope, container, "Greater", [top, zero])


def split_on_whitespace(scope: Any, container: Any, documents: str) -> tuple[str, str]:
    """``[N]`` documents split on every Java ``\\s`` character, empty pieces kept, in order.

    The pieces travel as one flat list (with where each document's pieces end) and become
    ``[N, T]`` tokens once, at the end: a padded matrix per delimiter would cost ``N`` times the
    longest document on every split. Splitting on single characters gives the same pieces in any
    order.
    """
    pieces = documents
    one = constant(scope, container, "one", INT64, [], [1])
    ends = op(scope, container, "Add", [positions(scope, container, documents, 0), one], 14)
    for delimiter in JAVA_WHITESPACE:
        pieces, ends = _split_flat(scope, container, pieces, ends, delimiter)
    return _as_rows(scope, container, pieces, ends)


def _split_flat(scope: Any, container: Any, pieces: str, ends: str, delimiter: str) -> tuple[str, str]:
    """Split each piece of a flat ``[K]`` list on ``delimiter``, keeping empty pieces (like Java).

    ``ends[r]`` is where document ``r``'s pieces end (exclusive); returned for the new list. ONNX
    ``StringSplit`` gives ``""`` zero pieces where Java gives one (``""``); a column of ``""`` is
    appended so that piece exists even when no piece in the batch was split.
    """
    parts, counts = _two(scope, container, "StringSplit", [pieces], 20, delimiter=delimiter)
    lead = op(scope, container, "Shape", [parts], 15, start=0, end=1)
    empty_shape = op(scope, container, "Concat", [lead, ints(scope, container, "one", [1])], axis=0)
    empty = constant(scope, container, "empty", STRING, [], [b""])
    empties = op(scope, container, "Expand", [empty, empty_shape])
    parts = op(scope, container, "Concat", [parts, empties], axis=1)
    one = constant(scope, container, "one", INT64, [], [1])
    counts = op(scope, container, "Max", [counts, one])
    column = op(scope, container, "Unsqueeze", [counts, _axis(scope, container, -1)])
    real = op(scope, container, "Less", [positions(scope, container, parts, 1), column])
    flat = ints(scope, container, "flat", [-1])
    real = op(scope, container, "Reshape", [real, flat], 14)
    parts = op(scope, container, "Compress", [op(scope, container, "Reshape", [parts, flat], 14), real], 11)
    total = op(scope, container, "CumSum", [counts, constant(scope, container, "axis", INT64, [], [0])], 14)
    last = op(scope, container, "Sub", [ends, one], 14)
    return parts, op(scope, container, "Gather", [total, last], axis=0)


def _as_rows(scope: Any, container: Any, pieces: str, ends: str) -> tuple[str, str]:
    """A flat ``[K]`` list (document ``r``'s pieces end at ``ends[r]``) as ``[N, T]`` tokens and mask,
    padded with :data:`PAD`."""
    zero = ints(scope, container, "zero", [0])
    but_last = op(scope, container, "Slice", [ends, zero, ints(scope, container, "minus_one", [-1])])
    starts = op(scope, container, "Concat", [zero, but_last], axis=0)
    counts = op(scope, container, "Sub", [ends, starts], 14)
    longest = op(scope, container, "ReduceMax", [counts], 18, keepdims=0)
    start = constant(scope, container, "zero", INT64, [], [0])
    step = constant(scope, container, "one", INT64, [], [1])
    columns = op(scope, container, "Range", [start, longest, step], 11)
    counts = op(scope, container, "Unsqueeze", [counts, _axis(scope, container, -1)])
    mask = op(scope, container, "Less", [columns, counts])
    starts = op(scope, container, "Unsqueeze", [starts, _axis(scope, container, -1)])
    index = op(scope, container, "Add", [starts, columns], 14)
    index = op(scope, container, "Where", [mask, index, dim(scope, container, pieces, 0)], 16)
    pad = constant(scope, container, "pad", STRING, [1], [PAD])
    padded = op(scope, container, "Concat", [pieces, pad], axis=0)
    return op(scope, container, "Gather", [padded, index], axis=0), mask


def documents(scope: Any, container: Any, variable: Any) -> str:
    """A ``[N, 1]`` (or ``[N]``) string input as a 1-D ``[N]`` tensor."""
    flat = ints(scope, container, "flat", [-1])
    return op(scope, container, "Reshape", [variable.full_name, flat], 14)


def _axis(scope: Any, container: Any, axis: int) -> str:
    return ints(scope, container, "axis", [axis])


def _two(
    scope: Any, container: Any, op_type: str, inputs: Sequence[str], needed: int, **attrs: Any
) -> tuple[str, str]:
    """A node with two outputs."""
    first = scope.get_unique_variable_name(op_type.lower())
    second = scope.get_unique_variable_name(op_type.lower())
    container.add_node(
        op_type,
        list(inputs),
        [first, second],
        op_version=version(container, needed),
        name=scope.get_unique_operator_name(op_type),
        **attrs,
    )
    return first, second


def hash_buckets(scope: Any, container: Any, terms: str, num_features: int) -> str:
    """Spark's bucket per string: ``nonNegativeMod(murmur3_x86_32(utf8(term), 42), num_features)``, int64.

    HashingTF and FeatureHasher both hash this way (onnxruntime's contrib ``MurmurHash3``).
    """
    hashes = node(
        scope,
        container,
        "MurmurHash3",
        [terms],
        op_version=1,
        op_domain="com.microsoft",
        seed=42,
        positive=0,
    )
    hashes = op(scope, container, "Cast", [hashes], to=INT64)
    modulus = constant(scope, container, "num_features", INT64, [], [num_features])
    return op(scope, container, "Mod", [hashes, modulus], fmod=0)


def scatter_into_buckets(
    scope: Any,
    container: Any,
    buckets: str,
    values: str,
    num_features: int,
    reduction: str,
    output: str,
) -> None:
    """``output[r, buckets[r, k]] (reduction)= values[r, k]`` over a zero float ``[N, num_features]``."""
    from onnx import helper

    shape = op(
        scope,
        container,
        "Concat",
        [dim(scope, container, buckets, 0), ints(scope, container, "width", [num_features])],
        axis=0,
    )
    zero = helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0])
    zeros = op(scope, container, "ConstantOfShape", [shape], 9, value=zero)
    op(
        scope,
        container,
        "ScatterElements",
        [zeros, buckets, values],
        18,
        axis=1,
        reduction=reduction,
        output=output,
    )


def calculate_num_features_shapes(operator: Any) -> None:
    """float ``[N, numFeatures]`` (HashingTF, FeatureHasher)."""
    from onnxmltools.convert.common.data_types import FloatTensorType

    n = operator.inputs[0].type.shape[0]
    operator.outputs[0].type = FloatTensorType([n, int(operator.raw_operator.getNumFeatures())])
