"""The sparse rewrite of a dense token vector feeding a linear head (``convert/sparse_linear.py``).

Spark pipelines go through the flavor (``onnx="require"``: the rewritten graph must pass the
parity check, then serve every edge-case document like Spark); hand-built graphs check the
rewrite's semantics (repeated buckets, ``binary``, empty rows) against the dense graph directly.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import onnxruntime
import pandas as pd
import pytest
from onnx import TensorProto, helper, numpy_helper
from parity import assert_onnx_matches_spark
from text_data import EDGE_CASES, MORE_EDGES, documents, topic_corpus

from mlflow_sparkonnx.contract import Column
from mlflow_sparkonnx.convert.sparse_linear import sparsify_linear_heads
from mlflow_sparkonnx.convert.to_onnx import convert_pipeline
from mlflow_sparkonnx.flavor.analysis import onnx_batch_rows
from mlflow_sparkonnx.scoring.runtimes.onnx_runtime import DEFAULT_BATCH_ROWS

TEXT = [Column("text", "string")]


@pytest.fixture(scope="module")
def edge_documents() -> pd.DataFrame:
    """~330 documents: empty, whitespace only, repeated tokens, unicode, 9,000 tokens, random."""
    repeated = ["spark spark spark spark", "fast fast FAST fast data", "数据 数据 数据 école école"]
    return pd.DataFrame(
        {"text": EDGE_CASES + MORE_EDGES + repeated + documents(300, seed=77)[len(EDGE_CASES) :]}
    )


def saved_graph(tmp_path, conf: dict) -> onnx.ModelProto:
    return onnx.load(str(tmp_path / "model" / conf["onnx_model"]))


def op_counts(model: onnx.ModelProto) -> Counter:
    return Counter(n.op_type for n in model.graph.node)


def assert_no_dense_scatter(model: onnx.ModelProto) -> None:
    ops = op_counts(model)
    assert ops["ScatterElements"] == 0 and ops["ConstantOfShape"] == 0, ops
    assert ops["Gather"] >= 1


# ---- through the flavor: the rewritten graph is what gets verified and served --------------------


def test_article_pipeline_is_rewritten_and_verified(spark, tmp_path, article_pipeline, edge_documents):
    conf = assert_onnx_matches_spark(article_pipeline, edge_documents, spark, tmp_path)
    assert conf["parity"]["rows"] == len(edge_documents)
    assert conf["parity"]["outputs"]["prediction"]["mismatched_rows"] == 0
    graph = saved_graph(tmp_path, conf)
    assert_no_dense_scatter(graph)
    assert onnx_batch_rows(article_pipeline.stages, graph) == DEFAULT_BATCH_ROWS


@pytest.fixture(scope="module")
def heads_pipeline(spark):
    """Three heads over one tokenizer, fitted once.

    - HashingTF(binary, 2^18) → IDF → LogisticRegression (three classes): each bucket once per row;
    - CountVectorizer(25 words, so unknown words exist) → IDF → LogisticRegression;
    - CountVectorizer(binary) → LinearSVC (a double MatMul head).
    """
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LinearSVC, LogisticRegression
    from pyspark.ml.feature import IDF, CountVectorizer, HashingTF, Tokenizer

    stages = [
        Tokenizer(inputCol="text", outputCol="words"),
        HashingTF(inputCol="words", outputCol="tf", binary=True),
        IDF(inputCol="tf", outputCol="features"),
        LogisticRegression(maxIter=20, regParam=0.01),
        CountVectorizer(inputCol="words", outputCol="counts", vocabSize=25),
        IDF(inputCol="counts", outputCol="tfidf"),
        LogisticRegression(
            featuresCol="tfidf",
            maxIter=20,
            regParam=0.01,
            predictionCol="cv_prediction",
            probabilityCol="cv_probability",
            rawPredictionCol="cv_raw",
        ),
        CountVectorizer(inputCol="words", outputCol="seen", binary=True),
        LinearSVC(featuresCol="seen", labelCol="fast", predictionCol="svc", rawPredictionCol="svc_raw"),
    ]
    train = topic_corpus(400, seed=9).assign(fast=lambda f: (f["label"] == 2.0).astype(float))
    return Pipeline(stages=stages).fit(spark.createDataFrame(train))


def test_binary_hashing_idf_and_count_vectorizer_heads(spark, tmp_path, heads_pipeline, edge_documents):
    """All three heads rewritten in one graph, verified and served like Spark."""
    assert heads_pipeline.stages[3].numClasses == 3
    outputs = ["prediction", "probability", "cv_prediction", "cv_probability", "svc", "svc_raw"]
    conf = assert_onnx_matches_spark(heads_pipeline, edge_documents, spark, tmp_path, output_cols=outputs)
    assert all(conf["parity"]["outputs"][c]["mismatched_rows"] == 0 for c in outputs)
    graph = saved_graph(tmp_path, conf)
    assert_no_dense_scatter(graph)
    initializers = {i.name for i in graph.graph.initializer}
    weight_lookups = [n for n in graph.graph.node if n.op_type == "Gather" and n.input[0] in initializers]
    assert len(weight_lookups) == 3  # one coefficient-table lookup per rewritten head
    assert onnx_batch_rows(heads_pipeline.stages, graph) == DEFAULT_BATCH_ROWS


# ---- where it must not fire ----------------------------------------------------------------------


def test_requested_dense_vector_keeps_the_dense_graph(spark, article_pipeline):
    """The HashingTF output as an output column: the scatter stays, and so do the 16-row batches."""
    converted = convert_pipeline(article_pipeline, TEXT, ["features", "prediction"], spark)
    ops = op_counts(converted.model)
    assert ops["ScatterElements"] == 1 and ops["Gemm"] == 1
    assert onnx_batch_rows(article_pipeline.stages, converted.model) == 16
    rewritten = convert_pipeline(article_pipeline, TEXT, ["prediction"], spark)
    assert op_counts(rewritten.model)["ScatterElements"] == 0


@pytest.mark.parametrize("min_tf", [2.0, 0.3])
def test_count_vectorizer_min_tf_keeps_the_dense_graph(spark, heads_pipeline, min_tf):
    """minTF above 1 (or a fraction of the row) depends on each count: the graph is left alone."""
    from pyspark.ml import PipelineModel
    from pyspark.ml.feature import CountVectorizerModel

    tokenizer, fitted, head = (heads_pipeline.stages[i] for i in (0, 4, 6))
    counts = CountVectorizerModel.from_vocabulary(fitted.vocabulary, "words", outputCol="tfidf", minTF=min_tf)
    pipeline = PipelineModel(stages=[tokenizer, counts, head])
    converted = convert_pipeline(pipeline, TEXT, ["cv_prediction"], spark)
    assert op_counts(converted.model)["ScatterElements"] == 1
    default = CountVectorizerModel.from_vocabulary(fitted.vocabulary, "words", outputCol="tfidf")
    pipeline = PipelineModel(stages=[tokenizer, default, head])
    assert op_counts(convert_pipeline(pipeline, TEXT, ["cv_prediction"], spark).model)["ScatterElements"] == 0


# ---- the rewrite's semantics on hand-built graphs -------------------------------------------------


def dense_graph(
    width: int, weights: np.ndarray, reduction: str, extra_output: bool = False
) -> onnx.ModelProto:
    """buckets [N, T] int64 and mask [N, T] bool → scatter of the cast mask → Gemm(transB) → margins."""
    classes = weights.shape[0]
    nodes = [
        helper.make_node("Cast", ["mask"], ["values"], to=TensorProto.FLOAT),
        helper.make_node("Shape", ["buckets"], ["rows"], start=0, end=1),
        helper.make_node("Concat", ["rows", "width"], ["shape"], axis=0),
        helper.make_node(
            "ConstantOfShape",
            ["shape"],
            ["zeros"],
            value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.0]),
        ),
        helper.make_node(
            "ScatterElements", ["zeros", "buckets", "values"], ["dense"], axis=1, reduction=reduction
        ),
        helper.make_node("Gemm", ["dense", "w", "b"], ["margins"], transB=1),
    ]
    outputs = [helper.make_tensor_value_info("margins", TensorProto.FLOAT, [None, classes])]
    if extra_output:
        outputs.append(helper.make_tensor_value_info("dense", TensorProto.FLOAT, [None, width]))
    graph = helper.make_graph(
        nodes,
        "dense",
        [
            helper.make_tensor_value_info("buckets", TensorProto.INT64, [None, None]),
            helper.make_tensor_value_info("mask", TensorProto.BOOL, [None, None]),
        ],
        outputs,
        initializer=[
            numpy_helper.from_array(np.array([width], dtype=np.int64), "width"),
            numpy_helper.from_array(weights.astype(np.float32), "w"),
            numpy_helper.from_array(np.linspace(-1, 1, classes).astype(np.float32), "b"),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def run(model: onnx.ModelProto, buckets: np.ndarray, mask: np.ndarray) -> list[np.ndarray]:
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"buckets": buckets, "mask": mask})


@pytest.mark.parametrize("reduction", ["add", "max"])
@pytest.mark.parametrize("tokens", [0, 1, 7, 300])
def test_gather_form_equals_the_dense_graph(reduction, tokens):
    """Repeated buckets in a row, masked tokens, empty rows, no tokens at all: same margins."""
    rng = np.random.default_rng(tokens)
    width, classes, rows = 50, 3, 40
    weights = rng.normal(size=(classes, width))
    buckets = rng.integers(0, 8 if tokens > 1 else width, size=(rows, tokens))  # many repeats
    mask = rng.random((rows, tokens)) < 0.7
    mask[:3] = False  # empty documents
    dense = dense_graph(width, weights, reduction)
    sparse = dense_graph(width, weights, reduction)
    assert sparsify_linear_heads(sparse) == 1
    onnx.checker.check_model(sparse, full_check=True)
    assert "ScatterElements" not in op_counts(sparse)
    (expected,), (got,) = run(dense, buckets, mask), run(sparse, buckets, mask)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-5)


def test_dense_vector_as_output_is_left_alone():
    model = dense_graph(16, np.ones((1, 16)), "add", extra_output=True)
    before = model.SerializeToString()
    assert sparsify_linear_heads(model) == 0
    assert model.SerializeToString() == before


def test_max_of_values_that_are_not_zero_or_one_is_left_alone():
    """``max`` counts a bucket once only when every value is 0 or 1 (a cast boolean)."""
    model = dense_graph(16, np.ones((1, 16)), "max")
    cast = next(n for n in model.graph.node if n.op_type == "Cast")
    cast.op_type, cast.input[0] = "Identity", "scaled"
    del cast.attribute[:]
    model.graph.input[1].type.tensor_type.elem_type = TensorProto.FLOAT
    model.graph.node.insert(0, helper.make_node("Identity", ["mask"], ["scaled"]))
    assert sparsify_linear_heads(model) == 0
