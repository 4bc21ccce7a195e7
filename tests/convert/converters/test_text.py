"""Text converters against Spark, through the flavor's parity helper.

Token-producing stages are compared on their token arrays themselves (served at each row's own
length); several settings of a stage run side by side in one pipeline, each an output of its own.
"""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import pandas as pd
import pytest
import yaml
from parity import assert_onnx_matches_spark, spark_transform
from pyspark.ml import PipelineModel
from text_data import EDGE_CASES, documents, labelled

import mlflow_sparkonnx


@pytest.fixture(scope="module")
def corpus() -> pd.DataFrame:
    return pd.DataFrame({"text": documents(300, seed=11)})


def tokenize_and_hash(**hashing: object):
    from pyspark.ml.feature import HashingTF, Tokenizer

    return PipelineModel(
        stages=[
            Tokenizer(inputCol="text", outputCol="words"),
            HashingTF(inputCol="words", outputCol="tf", **hashing),
        ]
    )


#: HashingTF settings compared in one pipeline: one Tokenizer feeding a HashingTF per setting.
HASHING_VARIANTS = [(1, False), (7, True), (4096, False), (4096, True)]


def test_tokenizer_and_hashing_tf_match_spark(spark, tmp_path, corpus):
    from pyspark.ml.feature import HashingTF, Tokenizer

    hashers = [
        HashingTF(inputCol="words", outputCol=f"tf_{i}", numFeatures=n, binary=binary)
        for i, (n, binary) in enumerate(HASHING_VARIANTS)
    ]
    outputs = [h.getOutputCol() for h in hashers]
    pipeline = PipelineModel(stages=[Tokenizer(inputCol="text", outputCol="words"), *hashers])
    conf = assert_onnx_matches_spark(pipeline, corpus, spark, tmp_path, output_cols=outputs)
    assert conf["parity"]["rows"] == 300
    assert {name: conf["parity"]["outputs"][name]["max_abs_diff"] for name in outputs} == dict.fromkeys(
        outputs, 0.0
    )


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

    Measured over every code point: 41 single characters differ (İ and letters newer than Java
    17's Unicode tables), plus Java's context-dependent final sigma. The graph refuses such rows,
    so an example holding one keeps the model from being verified, naming the row.
    """
    path = tmp_path / "greek"
    frame = pd.DataFrame({"text": ["plain text", text]})
    mlflow_sparkonnx.save_model(tokenize_and_hash(numFeatures=1 << 18), str(path), input_example=frame)
    conf = yaml.safe_load((path / "MLmodel").read_text())["flavors"]["sparkonnx"]
    assert conf["onnx_status"] != "verified"
    assert "row 1" in conf["onnx_reason"] and "lower-case" in conf["onnx_reason"], conf["onnx_reason"]


#: Texts Java lower-cases otherwise than the graph would (refused by the ONNX runtime), and near
#: misses that must score alike: a Σ inside a word, lower-case Greek, a Σ before a letter.
LOWER_CASE_TEXTS = [
    ("ΟΔΟΣ", True),  # word-final Σ: Java gives ς
    ("ΟΔΟΣ ΚΑΙ", True),
    ("İstanbul", True),  # İ: Java gives i + a combining dot
    ("x\U00016ea0", True),  # a letter newer than Java 17's Unicode tables
    ("\u2c2f", True),  # Ⱟ (Unicode 14): Java 17 keeps it, onnxruntime lower-cases it
    ("ΣΟΦΙΑ", False),  # Σ before a letter: σ in both
    ("λόγος σοφία", False),
    ("Ünïcødé ÉCOLE", False),
]


def test_texts_java_lower_cases_otherwise_are_refused_by_the_onnx_runtime(spark, tmp_path):
    path = tmp_path / "model"
    model = tokenize_and_hash(numFeatures=1 << 10)
    mlflow_sparkonnx.save_model(model, str(path), input_example=pd.DataFrame({"text": ["plain text", "b"]}))
    onnx = mlflow.pyfunc.load_model(str(path), model_config={"runtime": "onnx"})
    texts = [text for text, _ in LOWER_CASE_TEXTS]
    expected = spark_transform(model, spark, pd.DataFrame({"text": texts}), ["words", "tf"])
    for i, (text, refused) in enumerate(LOWER_CASE_TEXTS):
        batch = pd.DataFrame({"text": ["plain", text]})
        if refused:
            with pytest.raises(mlflow_sparkonnx.InvalidInputError, match=r"'text' row 1 .*lower-case"):
                onnx.predict(batch)
        else:
            assert onnx.predict(batch)["tf"][1] == expected["tf"][i], text


def test_stop_words_the_graph_would_lower_case_otherwise_are_refused(spark, tmp_path):
    """StopWordsRemover lower-cases tokens to look them up. onnxruntime turns İN into "in" (a stop
    word), Java into "i̇n" (not one): the ONNX runtime refuses that row. With an ASCII list a token
    the graph does not find scores (İSTANBUL, ΚΑΙΣ); with a non-ASCII list every such token is refused."""
    from pyspark.ml.feature import RegexTokenizer, StopWordsRemover

    tokenizer = RegexTokenizer(inputCol="text", outputCol="words", pattern="\\s", toLowercase=False)
    english = StopWordsRemover(inputCol="words", outputCol="kept")
    greek = StopWordsRemover(inputCol="words", outputCol="kept", stopWords=["και", "ς"])
    batch = ["plain words", "the İN word", "İSTANBUL ΚΑΙΣ", "ΚΑΙ ΣΟΦΙΑ"]
    refused = {"english": [1], "greek": [1, 2, 3]}  # with the Greek list: İN, ΚΑΙΣ and ΣΟΦΙΑ
    for name, remover in (("english", english), ("greek", greek)):
        model = PipelineModel(stages=[tokenizer, remover])
        path = tmp_path / name
        example = pd.DataFrame({"text": ["plain words", "the of and"]})
        mlflow_sparkonnx.save_model(model, str(path), input_example=example, onnx="require")
        onnx = mlflow.pyfunc.load_model(str(path), model_config={"runtime": "onnx"})
        expected = spark_transform(model, spark, pd.DataFrame({"text": batch}), ["kept"])["kept"]
        for row, text in enumerate(batch):
            frame = pd.DataFrame({"text": ["plain", text]})
            if row in refused[name]:
                with pytest.raises(mlflow_sparkonnx.InvalidInputError, match=r"'words' .*row 1 .*stop word"):
                    onnx.predict(frame)
            else:
                assert onnx.predict(frame)["kept"][1] == expected[row], (name, text)


def with_hashing(*stages: object, column: str):
    from pyspark.ml.feature import HashingTF

    return PipelineModel(stages=[*stages, HashingTF(inputCol=column, outputCol="tf", numFeatures=1 << 14)])


#: (stopWords, caseSensitive) of the StopWordsRemovers compared; None keeps Spark's English list.
STOP_WORD_VARIANTS = [
    (None, False),
    (["spark", "ÉCOLE", "", "Straße"], False),
    (["spark", "ÉCOLE", "", "Straße"], True),
]


def test_stop_words_remover_matches_spark(spark, tmp_path, corpus):
    from pyspark.ml.feature import RegexTokenizer, StopWordsRemover

    tokenizer = RegexTokenizer(
        inputCol="text", outputCol="words", pattern="\\s", minTokenLength=0, toLowercase=False
    )
    removers = []
    for i, (stop_words, case_sensitive) in enumerate(STOP_WORD_VARIANTS):
        remover = StopWordsRemover(inputCol="words", outputCol=f"kept_{i}", caseSensitive=case_sensitive)
        if stop_words is not None:
            remover.setStopWords(stop_words)
        removers.append(remover)
    pipeline = PipelineModel(stages=[tokenizer, *removers])
    outputs = [r.getOutputCol() for r in removers]
    frame = pd.concat([corpus, pd.DataFrame({"text": ["THE OF AND", "the of and a", "Spark spark SPARK"]})])
    assert_onnx_matches_spark(pipeline, frame, spark, tmp_path, output_cols=outputs)


def test_ngram_matches_spark(spark, tmp_path, corpus):
    """n = 1 and 3 (n = 2 runs end to end in tests/convert/converters/test_text_pipelines.py)."""
    from pyspark.ml.feature import NGram, Tokenizer

    grams = [NGram(inputCol="words", outputCol=f"grams_{n}", n=n) for n in (1, 3)]
    pipeline = PipelineModel(stages=[Tokenizer(inputCol="text", outputCol="words"), *grams])
    outputs = [g.getOutputCol() for g in grams]
    assert_onnx_matches_spark(pipeline, corpus, spark, tmp_path, output_cols=outputs)


#: (minTF, binary) of the CountVectorizers compared, each followed by an IDF.
COUNT_VARIANTS = [(2.0, False), (0.1, False), (0.05, True)]


def test_count_vectorizer_and_idf_match_spark(spark, tmp_path, corpus):
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import IDF, CountVectorizer, Tokenizer

    stages: list[Any] = [Tokenizer(inputCol="text", outputCol="words")]
    outputs = []
    for i, (min_tf, binary) in enumerate(COUNT_VARIANTS):
        stages += [
            CountVectorizer(
                inputCol="words", outputCol=f"counts_{i}", vocabSize=30, minTF=min_tf, binary=binary
            ),
            IDF(inputCol=f"counts_{i}", outputCol=f"tfidf_{i}", minDocFreq=2),
        ]
        outputs += [f"counts_{i}", f"tfidf_{i}"]
    pipeline = Pipeline(stages=stages).fit(spark.createDataFrame(corpus))
    for vectorizer in pipeline.stages[1::2]:
        assert "" in vectorizer.vocabulary  # empty tokens are counted like any term
    assert_onnx_matches_spark(pipeline, corpus, spark, tmp_path, output_cols=outputs)


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
