"""MinHashLSH and BucketedRandomProjectionLSH: parity with Spark on a few hundred rows with edge values,
Spark's refusal of an all-zero vector, and both runtimes of ``transform`` returning Spark's nested hashes."""

from __future__ import annotations

import math

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from parity import assert_onnx_matches_spark, spark_transform
from pyspark.ml import Pipeline
from pyspark.ml.feature import (
    BucketedRandomProjectionLSH,
    HashingTF,
    MinHashLSH,
    StandardScaler,
    Tokenizer,
    VectorAssembler,
)

import mlflow_sparkonnx
from mlflow_sparkonnx.convert.converters.lsh import min_hash_table
from mlflow_sparkonnx.exceptions import InvalidInputError

INF, NAN = math.inf, math.nan
FEATURES = ["x0", "x1", "x2", "x3", "x4"]

#: Rows at the edges of both hashes: NaN and ±inf (non-zero for MinHash, NaN/inf sums for the
#: projection), -0.0 (zero), the smallest subnormal (non-zero), and values large enough to overflow.
EDGE_ROWS = [
    [NAN, 0.0, 0.0, 0.0, 0.0],
    [0.0, 0.0, 0.0, 0.0, INF],
    [-INF, 0.0, INF, 0.0, 0.0],
    [-0.0, -0.0, 1.0, -0.0, 0.0],
    [5e-324, 0.0, 0.0, 0.0, 0.0],
    [1e308, 1e308, 1e308, 0.0, 0.0],
    [0.0, 0.0, 0.0, 0.0, -2.5],
    [1.0, 1.0, 1.0, 1.0, 1.0],
]


def vectors(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = rng.normal(0, 2, size=(n, len(FEATURES))) * rng.choice([1e-3, 1.0, 1e3], size=(n, 1))
    values[rng.random(values.shape) < 0.4] = 0.0
    values[values.any(axis=1) == 0, 0] = 1.0  # Spark's MinHash refuses an all-zero vector
    return pd.DataFrame(np.vstack([EDGE_ROWS, values]), columns=FEATURES)


def assembled(lsh, *before) -> Pipeline:
    assembler = VectorAssembler(inputCols=FEATURES, outputCol="features", handleInvalid="keep")
    return Pipeline(stages=[assembler, *before, lsh])


def test_min_hash_matches_spark_on_a_vector_column_and_on_token_counts(spark, tmp_path):
    data = vectors(300, seed=1)
    lsh = MinHashLSH(inputCol="features", outputCol="hashes", numHashTables=4, seed=11)
    model = assembled(lsh).fit(spark.createDataFrame(data))
    conf = assert_onnx_matches_spark(model, data, spark, tmp_path / "vector", abs_tol=0, rel_tol=0)
    assert conf["outputs"] == [{"name": "hashes", "spark_type": "array<vector>"}]

    rng = np.random.default_rng(2)
    words = [f"w{i}" for i in range(40)]
    docs = pd.DataFrame({"text": [" ".join(rng.choice(words, rng.integers(1, 9))) for _ in range(300)]})
    text = Pipeline(
        stages=[
            Tokenizer(inputCol="text", outputCol="tokens"),
            HashingTF(inputCol="tokens", outputCol="tf", numFeatures=64),
            MinHashLSH(inputCol="tf", outputCol="hashes", numHashTables=3, seed=5),
        ]
    ).fit(spark.createDataFrame(docs))
    assert_onnx_matches_spark(
        text, docs, spark, tmp_path / "text", output_cols=["hashes"], abs_tol=0, rel_tol=0
    )


def test_min_hash_index_hashes_are_spark_formula():
    """``((1 + i) * a + b) mod 2038074743`` in exact integers (a * i reaches past 2^53)."""
    table = min_hash_table([2038074742, 2038074741], 3)
    expected = [((1 + i) * 2038074742 + 2038074741) % 2038074743 for i in range(3)]
    assert table[:, 0].tolist() == expected


def test_min_hash_refuses_an_all_zero_vector_in_both_runtimes(spark, tmp_path):
    data = vectors(40, seed=3)
    lsh = MinHashLSH(inputCol="features", outputCol="hashes", numHashTables=2, seed=1)
    model = assembled(lsh).fit(spark.createDataFrame(data))
    path = tmp_path / "model"
    mlflow_sparkonnx.save_model(model, str(path), input_example=data, onnx="require")
    zero_row = pd.DataFrame([[0.0, -0.0, 0.0, 0.0, 0.0]], columns=FEATURES)
    messages = {}
    for runtime in ("onnx", "spark"):
        loaded = mlflow.pyfunc.load_model(str(path), model_config={"runtime": runtime})
        with pytest.raises(InvalidInputError, match="(?i)non.zero") as caught:
            loaded.predict(pd.concat([data.head(2), zero_row], ignore_index=True))
        messages[runtime] = str(caught.value)
        assert "row 2" in messages[runtime].lower(), messages
    assert "'features'" in messages["onnx"], messages  # the graph's check names the vector it reads


@pytest.mark.parametrize("bucket_length", [0.75, 1e-15])
def test_bucketed_random_projection_matches_spark_bit_for_bit(spark, tmp_path, bucket_length):
    """At a bucket length of 1e-15 one rounding step of the sum moves the bucket: only Spark's
    summation order gives Spark's hashes (an ONNX MatMul instead differs on 14% of them)."""
    data = vectors(300, seed=4)
    lsh = BucketedRandomProjectionLSH(
        inputCol="features", outputCol="hashes", numHashTables=3, bucketLength=bucket_length, seed=7
    )
    model = assembled(lsh).fit(spark.createDataFrame(data))
    assert_onnx_matches_spark(model, data, spark, tmp_path, abs_tol=0, rel_tol=0)


def test_a_projection_of_float32_values_is_refused_and_served_by_spark(spark, tmp_path):
    data = vectors(60, seed=5)
    scaler = StandardScaler(inputCol="features", outputCol="scaled")
    lsh = BucketedRandomProjectionLSH(inputCol="scaled", outputCol="hashes", bucketLength=1.0, seed=7)
    model = assembled(lsh, scaler).fit(spark.createDataFrame(data))
    path = tmp_path / "model"
    mlflow_sparkonnx.save_model(model, str(path), input_example=data, output_cols=["hashes"])
    conf = yaml.safe_load((path / "MLmodel").read_text())["flavors"]["sparkonnx"]
    assert conf["onnx_status"] == "unsupported", conf["onnx_reason"]
    assert "StandardScalerModel" in conf["onnx_reason"] and "float32" in conf["onnx_reason"]


def test_transform_returns_spark_nested_hashes_with_both_runtimes(spark, tmp_path):
    data = vectors(50, seed=6)
    lsh = BucketedRandomProjectionLSH(
        inputCol="features", outputCol="hashes", numHashTables=2, bucketLength=0.5, seed=3
    )
    model = assembled(lsh).fit(spark.createDataFrame(data))
    path = tmp_path / "model"
    mlflow_sparkonnx.save_model(model, str(path), input_example=data, onnx="require")
    expected = spark_transform(model, spark, data, ["hashes"])["hashes"].tolist()
    frame = spark.createDataFrame(data.assign(row=range(len(data))))
    for runtime in ("onnx", "spark"):
        scored = mlflow_sparkonnx.transform(frame, str(path), runtime=runtime)
        assert dict(scored.dtypes)["hashes"] == "array<array<double>>", runtime
        rows = scored.orderBy("row").select("hashes").collect()
        got = [r["hashes"] for r in rows]
        assert len(got) == len(expected)
        np.testing.assert_array_equal(np.array(got, dtype=float), np.array(expected, dtype=float), runtime)
