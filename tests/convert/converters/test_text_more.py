"""More text converters against Spark, through the flavor's parity helper.

StopWordsRemover over several columns, FeatureHasher and Word2VecModel, on the generated
documents of ``test_text`` (edge cases, unicode, empty and very long documents).
"""

from __future__ import annotations

import random
import re

import pandas as pd
import pytest
from parity import assert_onnx_matches_spark, spark_transform
from text_data import documents


@pytest.fixture(scope="module")
def two_texts() -> pd.DataFrame:
    first = documents(120, seed=21)
    second = list(reversed(documents(120, seed=22)))
    second[:4] = ["the of and", "", "THE A OF", "Spark spark SPARK"]
    return pd.DataFrame({"title": first, "body": second})


def test_stop_words_remover_several_columns(spark, tmp_path, two_texts):
    """Two removers over the same two token columns: default list case-insensitive, custom case-sensitive."""
    from pyspark.ml import PipelineModel
    from pyspark.ml.feature import HashingTF, StopWordsRemover, Tokenizer

    default = StopWordsRemover(inputCols=["title_words", "body_words"], outputCols=["title_d", "body_d"])
    custom = StopWordsRemover(
        inputCols=["title_words", "body_words"],
        outputCols=["title_c", "body_c"],
        stopWords=["spark", "ÉCOLE", "", "Straße", "the"],
        caseSensitive=True,
    )
    outputs = ["title_d", "body_d", "title_c", "body_c"]
    pipeline = PipelineModel(
        stages=[
            Tokenizer(inputCol="title", outputCol="title_words"),
            Tokenizer(inputCol="body", outputCol="body_words"),
            default,
            custom,
            *(HashingTF(inputCol=c, outputCol=f"{c}_tf", numFeatures=1 << 12) for c in outputs),
        ]
    )
    conf = assert_onnx_matches_spark(
        pipeline, two_texts, spark, tmp_path, output_cols=[f"{c}_tf" for c in outputs]
    )
    assert all(conf["parity"]["outputs"][f"{c}_tf"]["max_abs_diff"] == 0.0 for c in outputs)


def hasher_frame(spark, n: int, seed: int):
    """A Spark frame of every FeatureHasher input kind, with nulls, NaN, zeros and big values."""
    from pyspark.sql.types import (
        BooleanType,
        DoubleType,
        IntegerType,
        LongType,
        StringType,
        StructField,
        StructType,
    )

    rng = random.Random(seed)
    cities = ["Paris", "Zürich", "日本語", "", "a=b", "x y", "😀", "PARIS"]
    edge_reals = [0.0, -0.0, -1.5, 1e30, -1e30, 3.25e-8, float("nan"), float("inf")]
    rows = []
    for i in range(n):
        rows.append(
            (
                edge_reals[i] if i < len(edge_reals) else rng.uniform(-1e4, 1e4),
                None if i % 17 == 3 else rng.randint(-(1 << 40), 1 << 40),  # float32 would round them
                None if i % 13 == 5 else rng.random() < 0.5,
                rng.choice(cities),
                None if i % 11 == 7 else rng.randint(-3, 40),
            )
        )
    schema = StructType(
        [
            StructField("real", DoubleType()),
            StructField("count", LongType()),
            StructField("flag", BooleanType()),
            StructField("city", StringType()),
            StructField("code", IntegerType()),
        ]
    )
    return spark.createDataFrame(rows, schema)


def typed(frame):
    """The frame's Spark types published to the converters, as the conversion does for raw inputs."""
    from mlflow_sparkonnx.convert.converters._graph import spark_input_types

    return spark_input_types({f.name: f.dataType.simpleString() for f in frame.schema.fields})


@pytest.mark.parametrize(
    ("num_features", "categorical"),
    [(1, None), (32, ["code"]), (4096, ["code", "flag", "city"]), (1 << 16, ["count"])],
)
def test_feature_hasher_matches_spark(spark, tmp_path, num_features, categorical):
    from pyspark.ml import PipelineModel
    from pyspark.ml.feature import FeatureHasher

    rows = 16 if num_features == 1 << 16 else 300  # wide rows: MLflow infers a schema per element
    frame = hasher_frame(spark, rows, seed=num_features)
    hasher = FeatureHasher(
        inputCols=["real", "count", "flag", "city", "code"], outputCol="hashed", numFeatures=num_features
    )
    if categorical:
        hasher.setCategoricalCols(categorical)
    with typed(frame):
        conf = assert_onnx_matches_spark(PipelineModel(stages=[hasher]), frame, spark, tmp_path)
    assert conf["parity"]["rows"] == rows


def test_feature_hasher_nulls_add_nothing_and_nan_propagates(spark, tmp_path):
    """Nulls (integer, boolean) are skipped as in Spark; a double NaN makes its bucket NaN."""
    from pyspark.ml import PipelineModel
    from pyspark.ml.feature import FeatureHasher

    frame = hasher_frame(spark, 60, seed=5)
    hasher = FeatureHasher(inputCols=["real", "count", "flag", "code"], outputCol="hashed", numFeatures=64)
    pipeline = PipelineModel(stages=[hasher])
    with typed(frame):
        assert_onnx_matches_spark(pipeline, frame, spark, tmp_path)
    vectors = pipeline.transform(frame).select("hashed").collect()
    assert sum(v.hashed.toArray().sum() != v.hashed.toArray().sum() for v in vectors) == 1  # the NaN row


def test_feature_hasher_double_categories_are_written_as_java_writes_them(spark, tmp_path):
    """A double category hashes "<column>=<Double.toString>": whole numbers below 10^7 ("3.0",
    "-0.0"), NaN and the infinities convert; a row holding another value (0.5 is "0.5", 1e7 is
    "1.0E7") is refused by the ONNX runtime and scored by the Spark runtime."""
    import math

    import mlflow.pyfunc
    from pyspark.ml import PipelineModel
    from pyspark.ml.feature import FeatureHasher

    import mlflow_sparkonnx

    rng = random.Random(4)
    edges = [0.0, -0.0, math.nan, math.inf, -math.inf, 9999999.0, -9999999.0, 1.0, -1.0]
    values = edges + [float(rng.randint(-(10**7) + 1, 10**7 - 1)) for _ in range(291)]
    rows = [(v, f"c{i % 7}") for i, v in enumerate(values)]
    frame = spark.createDataFrame(rows, "real double, city string")
    hasher = FeatureHasher(
        inputCols=["real", "city"], outputCol="hashed", categoricalCols=["real"], numFeatures=1 << 12
    )
    pipeline = PipelineModel(stages=[hasher])
    with typed(frame):
        conf = assert_onnx_matches_spark(pipeline, frame, spark, tmp_path)
    assert {(c["column"], c["action"]) for c in conf["row_checks"]} >= {("real", "onnx_only")}
    path = str(tmp_path / "model")  # where assert_onnx_matches_spark saved it
    request = pd.DataFrame({"real": [3.0, 0.5, 1e7], "city": ["c1", "c2", "c3"]})
    with pytest.raises(
        mlflow_sparkonnx.InvalidInputError, match=r"Column 'real' row 1 holds 0.5, .*shortest"
    ):
        mlflow.pyfunc.load_model(path, model_config={"runtime": "onnx"}).predict(request)
    scored = mlflow.pyfunc.load_model(path, model_config={"runtime": "spark"}).predict(request)
    expected = pipeline.transform(spark.createDataFrame(request)).select("hashed").collect()
    assert [list(v) for v in scored["hashed"]] == [r.hashed.toArray().tolist() for r in expected]


@pytest.fixture(scope="module")
def word2vec_pipeline(spark):
    """Tokenizer → Word2Vec fitted on part of the corpus, so held-out words are out of vocabulary."""
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import Tokenizer, Word2Vec

    held_out = {"ab", "abc", "abcd", "😀", "ok😀", "数据"}
    texts = [d for d in documents(200, seed=31) if len(d) < 2000]
    kept = [re.sub(r"\S+", lambda m: "" if m[0].lower() in held_out else m[0], t) for t in texts]
    train = pd.DataFrame({"text": kept})
    stages = [
        Tokenizer(inputCol="text", outputCol="words"),
        Word2Vec(inputCol="words", outputCol="embedding", vectorSize=16, minCount=3, seed=7, maxIter=1),
    ]
    return Pipeline(stages=stages).fit(spark.createDataFrame(train))


def test_word2vec_matches_spark(spark, tmp_path, word2vec_pipeline):
    frame = pd.DataFrame({"text": documents(300, seed=32) + ["unseen words only", "", "spark zzz", "   "]})
    words = {r.word for r in word2vec_pipeline.stages[1].getVectors().collect()}
    assert "ab" not in words and "spark" in words  # minCount drops rare words: out of vocabulary
    conf = assert_onnx_matches_spark(word2vec_pipeline, frame, spark, tmp_path, output_cols=["embedding"])
    assert conf["parity"]["rows"] == 304


def test_word2vec_divides_by_all_words_and_zero_for_empty(spark, tmp_path, word2vec_pipeline):
    """Spark's mean counts out-of-vocabulary words in the denominator; no tokens give zeros."""
    import numpy as np
    from pyspark.ml import PipelineModel
    from pyspark.ml.feature import RegexTokenizer

    model = word2vec_pipeline.stages[1]
    spark_vector = {r.word: np.array(r.vector.toArray()) for r in model.getVectors().collect()}["spark"]
    tokenizer = RegexTokenizer(inputCol="text", outputCol="words", pattern="\\s+")  # "" → no tokens
    pipeline = PipelineModel(stages=[tokenizer, model])
    frame = pd.DataFrame({"text": ["spark", "spark zzz qqq", "zzz", "", "   ", "SPARK\tspark"]})
    assert_onnx_matches_spark(pipeline, frame, spark, tmp_path, output_cols=["embedding"])
    got = spark_transform(pipeline, spark, frame, ["embedding"])["embedding"]
    np.testing.assert_allclose(got[1], spark_vector / 3, rtol=1e-6)
    assert not any(got[2]) and not any(got[3]) and not any(got[4])


def test_batch_without_any_token(spark, tmp_path):
    """A batch whose documents all tokenize to nothing (``[N, 0]`` tokens) scores like Spark."""
    from pyspark.ml import PipelineModel
    from pyspark.ml.feature import HashingTF, RegexTokenizer, StopWordsRemover

    pipeline = PipelineModel(
        stages=[
            RegexTokenizer(inputCol="text", outputCol="words", pattern="\\s+"),
            StopWordsRemover(inputCol="words", outputCol="kept"),
            HashingTF(inputCol="kept", outputCol="tf", numFeatures=16),
        ]
    )
    frame = pd.DataFrame({"text": ["", "   ", "\t\n"]})
    assert_onnx_matches_spark(pipeline, frame, spark, tmp_path, output_cols=["tf"])
