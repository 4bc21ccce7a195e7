"""RegexTokenizer against Spark: the whitespace splits, Java patterns translated to RE2 (token arrays
compared), and the patterns refused by name."""

from __future__ import annotations

import random

import pandas as pd
import pytest
import yaml
from parity import assert_onnx_matches_spark
from pyspark.ml import PipelineModel
from text_data import documents

import mlflow_sparkonnx
from mlflow_sparkonnx.convert.converters._java_regex import UnsupportedJavaRegex, java_to_re2, matches_empty

#: Texts where Java and RE2 could part: punctuation, digits, Java-only whitespace (\x0B, \x85,
#: \u2028, \xA0), non-ASCII letters (not \w in either), astral characters, empty and blank texts.
PUNCTUATED = [
    "Hello, World! It's 2024-12-04.",
    "a,b;;c , d ;e",
    "x\x0by\x0b\x0bz",
    "line\x85next\u2028sep\u2029end\r\nlast\n",
    "tab\tsep\fform",
    "ÉCOLE-Straße_42 naïve",
    "😀,😀 ok😀,",
    "",
    "   ",
    ",,,",
    "a.b.c..d",
    "C++ and C# (and .NET)",
    "$100.00 [approx.] {x} | y ~ z",
    "e-mail: a@b.c; web: http://x.y/z?q=1&r=2",
    "non\u00a0breaking\u2003em space",
    "日本語、テキスト。数据",
    "MiXeD CaSe ÀÉÎ",
    "under_score __init__ x_1",
]

#: (pattern, gaps, minTokenLength, toLowercase): one RegexTokenizer each, all in one pipeline.
PATTERNS = [
    ("\\W+", True, 1, True),
    ("\\w+", False, 1, True),
    ("[,;]\\s*", True, 1, False),
    ("\\d+", False, 1, False),
    ("\\p{Punct}+|\\s+", True, 2, True),
    ("[^a-zA-Z0-9]+", True, 1, False),
    ("[a-z]+", False, 1, False),
    (".", False, 1, False),
    ("\\s+|,", True, 1, True),
    ("\\.", True, 1, False),
    ("\\h+", True, 1, False),
    ("\\v+", True, 1, False),
    ("[\\s,]+", True, 3, False),
    ("[a-z]\\d{2,3}", False, 0, True),
    ("\\u00e9|\\x{1F600}", True, 1, False),
    ("[\\p{Upper}\\d]+", False, 1, False),
]


#: Characters on either side of the translated classes' edges.
TRICKY = ["a", "Z", "z", "0", "9", "_", ",", ";", ".", "-", "@", "[", "`", "{", "~", " ", "\t", "\n", "\r"]
TRICKY += ["\x0b", "\x0c", "\x85", "\u2028", "\u00a0", "\u3000", "é", "É", "ß", "😀", "\x7f", "\x00"]


def random_texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(TRICKY) for _ in range(rng.randint(0, 16))) for _ in range(n)]


@pytest.fixture(scope="module")
def texts() -> pd.DataFrame:
    return pd.DataFrame({"text": PUNCTUATED + documents(150, seed=5) + random_texts(200, seed=6)})


def assert_tokenizers_match_spark(variants, texts: pd.DataFrame, spark, tmp_path) -> None:
    """One RegexTokenizer per (pattern, gaps, minTokenLength, toLowercase), all in one pipeline."""
    from pyspark.ml.feature import RegexTokenizer

    tokenizers = [
        RegexTokenizer(
            inputCol="text",
            outputCol=f"words_{i}",
            pattern=pattern,
            gaps=gaps,
            minTokenLength=min_length,
            toLowercase=lower,
        )
        for i, (pattern, gaps, min_length, lower) in enumerate(variants)
    ]
    outputs = [t.getOutputCol() for t in tokenizers]
    assert_onnx_matches_spark(PipelineModel(stages=tokenizers), texts, spark, tmp_path, output_cols=outputs)


#: The whitespace splits, which share Tokenizer's graph (``minTokenLength=0`` keeps empty tokens).
WHITESPACE_PATTERNS = [
    ("\\s+", True, 1, True),
    ("\\s+", True, 3, False),
    ("\\s", True, 0, True),
    ("\\s", True, 2, True),
    ("\\S+", False, 1, False),
    ("\\S+", False, 4, True),
]


def test_whitespace_patterns_match_spark(spark, tmp_path):
    assert_tokenizers_match_spark(
        WHITESPACE_PATTERNS, pd.DataFrame({"text": documents(300, seed=11)}), spark, tmp_path
    )


def test_translated_patterns_match_spark(spark, tmp_path, texts):
    assert_tokenizers_match_spark(PATTERNS, texts, spark, tmp_path)


def test_a_punctuation_split_feeds_hashing_tf_like_spark(spark, tmp_path, texts):
    """Spark's most common non-default pattern, in the usual pipeline."""
    from pyspark.ml.feature import HashingTF, RegexTokenizer

    stages = [
        RegexTokenizer(inputCol="text", outputCol="words", pattern="\\W+"),
        HashingTF(inputCol="words", outputCol="tf", numFeatures=1 << 12),
    ]
    assert_onnx_matches_spark(PipelineModel(stages=stages), texts, spark, tmp_path, output_cols=["tf"])


@pytest.mark.parametrize(
    ("pattern", "gaps", "named"),
    [
        ("\\b\\w+\\b", False, "word boundary"),
        ("[a-z]+$", False, "'$'"),
        ("\\w+(?=,)", False, "lookahead"),
        ("(?i)abc", True, "inline flags"),
        ("\\w++", False, "possessive"),
        ("(\\w)\\1", True, "backreference"),
        ("\\p{L}+", False, "Unicode class"),
        ("[a-z&&[^e]]+", False, "intersection"),
        ("[\\S]+", False, "inside a character class"),
        ("\\W*", True, "matches the empty string"),
        ("[,;]", True, "minTokenLength=0"),
        ("(?<first>\\w)\\w*", False, "a group"),
        ("\\S+?\\d", False, "lazy quantifier"),
        ("a|ab", False, "start with the same character"),
        ("[a-z]+@[a-z]+", False, "shares characters"),
    ],
)
def test_patterns_that_do_not_translate_stay_with_spark_naming_why(spark, tmp_path, pattern, gaps, named):
    from pyspark.ml.feature import RegexTokenizer

    min_length = 0 if named == "minTokenLength=0" else 1
    tokenizer = RegexTokenizer(
        inputCol="text", outputCol="words", pattern=pattern, gaps=gaps, minTokenLength=min_length
    )
    path = tmp_path / "model"
    frame = pd.DataFrame({"text": PUNCTUATED})
    mlflow_sparkonnx.save_model(PipelineModel(stages=[tokenizer]), str(path), input_example=frame)
    conf = yaml.safe_load((path / "MLmodel").read_text())["flavors"]["sparkonnx"]
    assert conf["onnx_status"] != "verified"
    assert named in conf["onnx_reason"], conf["onnx_reason"]


def test_what_the_translation_rewrites():
    assert java_to_re2("\\s+") == "[\\t\\n\\x0B\\f\\r ]+"  # RE2's \s lacks \x0B
    assert java_to_re2("[\\s,]") == "[\\t\\n\\x0B\\f\\r \\x{2C}]"
    assert java_to_re2("\\S") == "[^\\t\\n\\x0B\\f\\r ]"
    assert java_to_re2(".") == "[^\\n\\r\\x{85}\\x{2028}\\x{2029}]"  # Java's line terminators
    assert java_to_re2("\\p{Punct}") == "[!-/:-@\\[-`{-~]"
    assert java_to_re2("\\u00e9\\Qa.b\\E") == "\\x{E9}a\\x{2E}b"
    assert java_to_re2("\\W+|\\d{2,3}?") == "\\W+|\\d{2,3}?"
    assert matches_empty(java_to_re2("\\W*")) and not matches_empty(java_to_re2("\\W+"))
    with pytest.raises(UnsupportedJavaRegex, match="lookbehind"):
        java_to_re2("(?<=a)b")
