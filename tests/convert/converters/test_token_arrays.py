"""Token arrays of different lengths in one batch, as graph outputs and as graph inputs."""

from __future__ import annotations

import mlflow.pyfunc
import pandas as pd
import pytest
from parity import assert_onnx_matches_spark, spark_transform
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import CountVectorizer, HashingTF, NGram, RegexTokenizer, StopWordsRemover, Tokenizer
from text_data import documents

import mlflow_sparkonnx
from mlflow_sparkonnx.contract import TOKEN_FILL


@pytest.mark.parametrize("tokenizer", [Tokenizer, RegexTokenizer])
def test_token_array_output_of_ragged_documents_matches_spark(spark, tmp_path, tokenizer):
    docs = pd.DataFrame({"text": documents(300, seed=11)})  # "", whitespace-only, 1 to 1500 words
    stage = tokenizer(inputCol="text", outputCol="tokens")
    assert_onnx_matches_spark(PipelineModel(stages=[stage]), docs, spark, tmp_path, output_cols=["tokens"])


def test_token_output_verified_on_equal_lengths_scores_any_batch(spark, tmp_path):
    """Issue 16: verified on rows of three tokens each, it raised UnicodeDecodeError on others."""
    pipeline = PipelineModel(stages=[Tokenizer(inputCol="text", outputCol="tokens")])
    mlflow_sparkonnx.save_model(
        pipeline,
        str(tmp_path / "m"),
        input_example=pd.DataFrame({"text": ["a b c", "d e f"] * 20}),
        onnx="require",
    )
    model = mlflow.pyfunc.load_model(str(tmp_path / "m"), model_config={"runtime": "onnx"})
    for batch in (["a b c d e", "q"], [""], ["x y", ""], ["é ü ß", "日本語"]):
        frame = pd.DataFrame({"text": batch})
        expected = spark_transform(pipeline, spark, frame, ["tokens"])["tokens"].tolist()
        assert model.predict(frame)["tokens"].tolist() == expected


@pytest.fixture(scope="module")
def ragged_tokens() -> pd.DataFrame:
    rows = [doc.lower().split() for doc in documents(300, seed=5)]
    rows[:4] = [[], ["the"], ["a", "", "b"], ["spark"] * 30]
    return pd.DataFrame({"words": rows})


def test_ragged_token_array_input_matches_spark(spark, tmp_path, ragged_tokens):
    """Issue 16: a ragged example failed the conversion ("all input arrays must have the same shape")."""
    stages = [
        StopWordsRemover(inputCol="words", outputCol="kept"),
        NGram(n=2, inputCol="kept", outputCol="pairs"),
        HashingTF(inputCol="pairs", outputCol="hashed", numFeatures=64),
        CountVectorizer(inputCol="words", outputCol="counts", vocabSize=40),
    ]
    pipeline = Pipeline(stages=stages).fit(spark.createDataFrame(ragged_tokens))
    assert_onnx_matches_spark(
        pipeline, ragged_tokens, spark, tmp_path, output_cols=["kept", "pairs", "hashed", "counts"]
    )
    model = mlflow.pyfunc.load_model(str(tmp_path / "model"), model_config={"runtime": "onnx"})
    refused = pd.DataFrame({"words": [["a"], ["b", TOKEN_FILL]]})
    with pytest.raises(mlflow_sparkonnx.InvalidInputError, match=r"'words' row 1 holds the reserved token"):
        model.predict(refused)
