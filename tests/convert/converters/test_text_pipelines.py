"""Text pipelines end to end: fitted in Spark, saved with the flavor, served by the ONNX runtime.

Each pipeline is trained on generated documents, saved with ``save_model`` (verified on the
example's rows), loaded with ``mlflow.pyfunc.load_model(..., runtime="onnx")`` and scored on
held-out documents with the edge cases of ``tests/convert/converters/test_text.py`` (empty strings,
stop words only, unicode, very long documents, mixed lengths in one batch). Labels must equal
Spark's and probabilities agree within the parity tolerance.
"""

from __future__ import annotations

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
import yaml
from parity import spark_transform
from text_data import EDGE_CASES, MORE_EDGES, documents, topic_corpus

import mlflow_sparkonnx
from mlflow_sparkonnx.convert.verify import ABS_TOL, REL_TOL


@pytest.fixture(scope="module")
def held_out() -> pd.DataFrame:
    """Callers' rows: edge cases, then new random documents of every length."""
    docs = EDGE_CASES + MORE_EDGES + documents(300, seed=404)[len(EDGE_CASES) :]
    return pd.DataFrame({"text": docs})


def save_and_serve(pipeline, example: pd.DataFrame, path) -> tuple[dict, object]:
    mlflow_sparkonnx.save_model(pipeline, str(path), input_example=example, parity_rows=len(example))
    conf = yaml.safe_load((path / "MLmodel").read_text())["flavors"]["sparkonnx"]
    assert conf["onnx_status"] == "verified", conf["onnx_reason"]
    model = mlflow.pyfunc.load_model(str(path), model_config={"runtime": "onnx"})
    assert model.get_raw_model().runtime == "onnx"
    return conf, model


def assert_serves_like_spark(model, pipeline, spark, frame: pd.DataFrame) -> None:
    got = model.predict(frame)
    expected = spark_transform(pipeline, spark, frame, ["prediction", "probability"])
    assert got["prediction"].tolist() == expected["prediction"].tolist()
    np.testing.assert_allclose(
        np.array(got["probability"].tolist()),
        np.array(expected["probability"].tolist()),
        atol=ABS_TOL,
        rtol=REL_TOL,
    )
    for position in (0, 1, len(EDGE_CASES) + 2):  # single rows: the batch never changes an answer
        one = model.predict(frame.iloc[[position]])
        assert one["prediction"].iloc[0] == expected["prediction"].iloc[position]
        np.testing.assert_allclose(
            one["probability"].iloc[0], expected["probability"].iloc[position], atol=ABS_TOL, rtol=REL_TOL
        )


def test_tfidf_naive_bayes_pipeline_served_by_onnx(spark, tmp_path, held_out):
    """RegexTokenizer → StopWordsRemover → CountVectorizer → IDF → NaiveBayes (multinomial)."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import NaiveBayes
    from pyspark.ml.feature import IDF, CountVectorizer, RegexTokenizer, StopWordsRemover

    stages = [
        RegexTokenizer(inputCol="text", outputCol="words", pattern="\\s+"),
        StopWordsRemover(inputCol="words", outputCol="kept"),
        CountVectorizer(inputCol="kept", outputCol="counts", vocabSize=200),
        IDF(inputCol="counts", outputCol="features", minDocFreq=2),
        NaiveBayes(modelType="multinomial", smoothing=1.0),
    ]
    pipeline = Pipeline(stages=stages).fit(spark.createDataFrame(topic_corpus(400, seed=41)))
    assert pipeline.stages[-1].numClasses == 3
    conf, model = save_and_serve(pipeline, held_out, tmp_path / "nb")
    assert conf["parity"]["rows"] == len(held_out)
    assert_serves_like_spark(model, pipeline, spark, held_out)


def test_ngram_hashing_logistic_pipeline_served_by_onnx(spark, tmp_path, held_out):
    """Tokenizer → NGram(2) → HashingTF(binary, Spark's default 2^18 features) → LogisticRegression."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import HashingTF, NGram, Tokenizer

    stages = [
        Tokenizer(inputCol="text", outputCol="words"),
        NGram(inputCol="words", outputCol="bigrams", n=2),
        HashingTF(inputCol="bigrams", outputCol="features", binary=True),
        LogisticRegression(maxIter=30, regParam=0.01),
    ]
    pipeline = Pipeline(stages=stages).fit(spark.createDataFrame(topic_corpus(400, seed=42)))
    assert pipeline.stages[2].getNumFeatures() == 1 << 18
    conf, model = save_and_serve(pipeline, held_out, tmp_path / "ngram")
    assert conf["parity"]["outputs"]["prediction"]["mismatched_rows"] == 0
    assert_serves_like_spark(model, pipeline, spark, held_out)
