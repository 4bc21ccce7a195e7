"""Text converters against Spark, through the flavor's parity helper.

Token arrays stay inside the graph (they are padded there), so token-producing stages are
checked through a HashingTF with 2^14 buckets: a wrong, missing or extra token changes a count.
"""

from __future__ import annotations

import mlflow.pyfunc
import pandas as pd
import pytest
import yaml
from parity import assert_onnx_matches_spark, spark_transform
from text_data import EDGE_CASES, documents, labelled

import mlflow_sparkonnx


@pytest.fixture(scope="module")
def corpus() -> pd.DataFrame:
    return pd.DataFrame({"text": documents(300, seed=11)})


def tokenize_and_hash(**hashing: object):
    from pyspark.ml import PipelineModel
    from pyspark.ml.feature import HashingTF, Tokenizer

    return PipelineModel(
        stages=[
            Tokenizer(inputCol="text", outputCol="words"),
            HashingTF(inputCol="words", outputCol="tf", **hashing),
        ]
    )


@pytest.mark.parametrize(("num_features", "binary"), [(1, False), (7, True), (4096, False), (4096, True)])
def test_tokenizer_and_hashing_tf_match_spark(spark, tmp_path, corpus, num_features, binary):
    conf = assert_onnx_matches_spark(
        tokenize_and_hash(numFeatures=num_features, binary=binary),
        corpus,
        spark,
        tmp_path,
        output_cols=["tf"],
    )
    assert conf["parity"]["rows"] == 300
    assert conf["parity"]["outputs"]["tf"]["max_abs_diff"] == 0.0


def test_empty_tokens_count_like_spark(spark, tmp_path):
    """``""`` is a real term (between two separators, or the empty text); padding never is."""
    frame = pd.DataFrame({"text": ["", "a  b", " a", "a ", "   ", "\t\tx\t\t", "x"] * 3})
    pipeline = tokenize_and_hash(numFeatures=1 << 18)
    assert_onnx_matches_spark(pipeline, frame, spark, tmp_path, output_cols=["tf"])
    empty_index = pipeline.stages[1].indexOf("")
    counts = [row[empty_index] for row in spark_transform(pipeline, spark, frame.head(7), ["tf"])["tf"]]
    assert counts == [1.0, 1.0, 1.0, 0.0, 0.0, 2.0, 0.0]


def test_all_whitespace_batch(spark, tmp_path):
    frame = pd.DataFrame({"text": [" ", "\t", "  \n "]})
    assert_onnx_matches_spark(tokenize_and_hash(numFeatures=32), frame, spark, tmp_path, output_cols=["tf"])


def test_article_pipeline_default_features_verified(spark, tmp_path, article_pipeline, corpus):
    conf = assert_onnx_matches_spark(article_pipeline, corpus, spark, tmp_path)
    assert article_pipeline.stages[1].getNumFeatures() == 1 << 18
    assert conf["parity"]["outputs"]["prediction"]["mismatched_rows"] == 0


def test_article_pipeline_auto_serves_onnx_like_spark(spark, tmp_path, article_pipeline, corpus):
    path = tmp_path / "article"
    mlflow_sparkonnx.save_model(article_pipeline, str(path), input_example=corpus)
    conf = yaml.safe_load((path / "MLmodel").read_text())["flavors"]["sparkonnx"]
    assert conf["onnx_status"] == "verified", conf["onnx_reason"]
    model = mlflow.pyfunc.load_model(str(path), model_config={"runtime": "onnx"})
    held_out = pd.DataFrame({"text": documents(400, seed=99)[len(EDGE_CASES) :]})
    got = model.predict(held_out)
    expected = spark_transform(article_pipeline, spark, held_out, ["prediction", "probability"])
    assert got["prediction"].tolist() == expected["prediction"].tolist()
    for onnx_p, spark_p in zip(got["probability"], expected["probability"], strict=True):
        assert onnx_p == pytest.approx(spark_p, abs=1e-4, rel=1e-4)


def test_token_output_is_served_unpadded(spark, tmp_path, corpus):
    """Token arrays are padded inside the graph; as an output each row comes back at its own length."""
    path = tmp_path / "words"
    pipeline = tokenize_and_hash()
    mlflow_sparkonnx.save_model(pipeline, str(path), input_example=corpus, output_cols=["words"])
    conf = yaml.safe_load((path / "MLmodel").read_text())["flavors"]["sparkonnx"]
    assert conf["onnx_status"] == "verified", conf["onnx_reason"]
    served = mlflow.pyfunc.load_model(str(path), model_config={"runtime": "onnx"}).predict(corpus)["words"]
    expected = spark_transform(pipeline, spark, corpus, ["words"])["words"].tolist()
    assert served.tolist() == expected
    assert len({len(row) for row in expected}) > 1  # the rows do differ in length


@pytest.mark.parametrize("text", ["ΟΔΟΣ", "İstanbul"])
def test_known_lowercase_differences_are_caught(spark, tmp_path, text):
    """Java lower-cases a word-final Σ to ς and İ to i̇; ONNX's StringNormalizer does not.

    Measured over every code point: 41 single characters differ (İ and 40 letters newer than
    Java 17's Unicode tables), plus Java's context-dependent final sigma. Verification catches
    them when the example holds such text.
    """
    path = tmp_path / "greek"
    frame = pd.DataFrame({"text": ["plain text", text]})
    mlflow_sparkonnx.save_model(tokenize_and_hash(numFeatures=1 << 18), str(path), input_example=frame)
    conf = yaml.safe_load((path / "MLmodel").read_text())["flavors"]["sparkonnx"]
    assert conf["onnx_status"] == "mismatch"


def with_hashing(*stages: object, column: str):
    from pyspark.ml import PipelineModel
    from pyspark.ml.feature import HashingTF

    return PipelineModel(stages=[*stages, HashingTF(inputCol=column, outputCol="tf", numFeatures=1 << 14)])


@pytest.mark.parametrize(
    ("pattern", "gaps", "min_length", "lower"),
    [
        ("\\s+", True, 1, True),
        ("\\s+", True, 3, False),
        ("\\s", True, 0, True),
        ("\\s", True, 2, True),
        ("\\S+", False, 1, False),
        ("\\S+", False, 4, True),
    ],
)
def test_regex_tokenizer_matches_spark(spark, tmp_path, corpus, pattern, gaps, min_length, lower):
    from pyspark.ml.feature import RegexTokenizer

    tokenizer = RegexTokenizer(
        inputCol="text",
        outputCol="words",
        pattern=pattern,
        gaps=gaps,
        minTokenLength=min_length,
        toLowercase=lower,
    )
    assert_onnx_matches_spark(
        with_hashing(tokenizer, column="words"), corpus, spark, tmp_path, output_cols=["tf"]
    )


def test_regex_tokenizer_other_patterns_are_not_served(spark, tmp_path, corpus):
    from pyspark.ml.feature import RegexTokenizer

    tokenizer = RegexTokenizer(inputCol="text", outputCol="words", pattern="\\W+")
    path = tmp_path / "regex"
    mlflow_sparkonnx.save_model(with_hashing(tokenizer, column="words"), str(path), input_example=corpus)
    conf = yaml.safe_load((path / "MLmodel").read_text())["flavors"]["sparkonnx"]
    assert conf["onnx_status"] == "failed"
    assert "RegexTokenizer pattern" in conf["onnx_reason"]


@pytest.mark.parametrize(
    ("stop_words", "case_sensitive"),
    [(None, False), (["spark", "ÉCOLE", "", "Straße"], False), (["spark", "ÉCOLE", "", "Straße"], True)],
)
def test_stop_words_remover_matches_spark(spark, tmp_path, corpus, stop_words, case_sensitive):
    from pyspark.ml.feature import RegexTokenizer, StopWordsRemover

    tokenizer = RegexTokenizer(
        inputCol="text", outputCol="words", pattern="\\s", minTokenLength=0, toLowercase=False
    )
    remover = StopWordsRemover(inputCol="words", outputCol="kept", caseSensitive=case_sensitive)
    if stop_words is not None:
        remover.setStopWords(stop_words)
    frame = pd.concat([corpus, pd.DataFrame({"text": ["THE OF AND", "the of and a", "Spark spark SPARK"]})])
    assert_onnx_matches_spark(
        with_hashing(tokenizer, remover, column="kept"), frame, spark, tmp_path, output_cols=["tf"]
    )


@pytest.mark.parametrize(
    "n", [1, 3]
)  # n=2 runs end to end in tests/convert/converters/test_text_pipelines.py
def test_ngram_matches_spark(spark, tmp_path, corpus, n):
    from pyspark.ml.feature import NGram, Tokenizer

    stages = [Tokenizer(inputCol="text", outputCol="words"), NGram(inputCol="words", outputCol="grams", n=n)]
    assert_onnx_matches_spark(
        with_hashing(*stages, column="grams"), corpus, spark, tmp_path, output_cols=["tf"]
    )


@pytest.mark.parametrize(("min_tf", "binary"), [(2.0, False), (0.1, False), (0.05, True)])
def test_count_vectorizer_and_idf_match_spark(spark, tmp_path, corpus, min_tf, binary):
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import IDF, CountVectorizer, Tokenizer

    stages = [
        Tokenizer(inputCol="text", outputCol="words"),
        CountVectorizer(inputCol="words", outputCol="counts", vocabSize=30, minTF=min_tf, binary=binary),
        IDF(inputCol="counts", outputCol="tfidf", minDocFreq=2),
    ]
    pipeline = Pipeline(stages=stages).fit(spark.createDataFrame(corpus))
    assert "" in pipeline.stages[1].vocabulary  # empty tokens are counted like any term
    assert_onnx_matches_spark(pipeline, corpus, spark, tmp_path, output_cols=["counts", "tfidf"])


def test_tfidf_pipeline_end_to_end(spark, tmp_path, corpus):
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import IDF, CountVectorizer, StopWordsRemover, Tokenizer

    stages = [
        Tokenizer(inputCol="text", outputCol="words"),
        StopWordsRemover(inputCol="words", outputCol="kept"),
        CountVectorizer(inputCol="kept", outputCol="counts"),
        IDF(inputCol="counts", outputCol="features"),
        LogisticRegression(maxIter=20, regParam=0.01),
    ]
    pipeline = Pipeline(stages=stages).fit(spark.createDataFrame(labelled(documents(400, seed=5))))
    assert_onnx_matches_spark(pipeline, corpus, spark, tmp_path)
