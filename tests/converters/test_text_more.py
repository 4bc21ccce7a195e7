"""More text converters against Spark, through the flavor's parity helper.

StopWordsRemover over several columns, FeatureHasher and Word2VecModel, on the generated
documents of ``test_text`` (edge cases, unicode, empty and very long documents).
"""

from __future__ import annotations

import pandas as pd
import pytest

from tests.converters.test_text import documents
from tests.parity import assert_onnx_matches_spark


@pytest.fixture(scope="module")
def two_texts() -> pd.DataFrame:
    first = documents(300, seed=21)
    second = list(reversed(documents(300, seed=22)))
    second[:4] = ["the of and", "", "THE A OF", "Spark spark SPARK"]
    return pd.DataFrame({"title": first, "body": second})


@pytest.mark.parametrize(
    ("stop_words", "case_sensitive"), [(None, False), (["spark", "ÉCOLE", "", "Straße", "the"], True)]
)
def test_stop_words_remover_several_columns(spark, tmp_path, two_texts, stop_words, case_sensitive):
    from pyspark.ml import PipelineModel
    from pyspark.ml.feature import HashingTF, StopWordsRemover, Tokenizer

    remover = StopWordsRemover(
        inputCols=["title_words", "body_words"], outputCols=["title_kept", "body_kept"]
    ).setCaseSensitive(case_sensitive)
    if stop_words is not None:
        remover.setStopWords(stop_words)
    pipeline = PipelineModel(
        stages=[
            Tokenizer(inputCol="title", outputCol="title_words"),
            Tokenizer(inputCol="body", outputCol="body_words"),
            remover,
            HashingTF(inputCol="title_kept", outputCol="title_tf", numFeatures=1 << 14),
            HashingTF(inputCol="body_kept", outputCol="body_tf", numFeatures=1 << 14),
        ]
    )
    conf = assert_onnx_matches_spark(
        pipeline, two_texts, spark, tmp_path, output_cols=["title_tf", "body_tf"]
    )
    assert conf["parity"]["outputs"]["body_tf"]["max_abs_diff"] == 0.0
