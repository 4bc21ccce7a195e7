"""Word2VecModel: a document's vector is the mean of its words' vectors, for any batch size.

Spark adds the vector of every in-vocabulary word and divides by the number of words in the
document, out-of-vocabulary words included (measured: ``["a", "oov"]`` gives ``vec(a) / 2``);
an empty document gives the zero vector. The graph looks each real token up (LabelEncoder;
unknown words and padding go to an extra all-zero row), gathers ``[N, T, d]`` vectors, sums
them and divides by ``max(real tokens, 1)``.

Replaces onnxmltools' converter, which scores one document per call. Memory: the gathered
``[N, T, d]`` float tensor (``T`` the longest document of the batch).
"""

from __future__ import annotations

import logging
from typing import Any

from pyspark.ml.feature import Word2VecModel

from mlflow_sparkonnx.convert.converters import ConverterSpec
from mlflow_sparkonnx.convert.converters._graph import (
    FLOAT,
    INT64,
    constant,
    input_columns,
    node,
    output_columns,
)
from mlflow_sparkonnx.convert.converters._text import TEXT_OPSET, ints, op, row_counts, token_mask

_logger = logging.getLogger(__name__)


def word_vectors(stage: Any) -> tuple[list[str], list[list[float]]]:
    """The model's words and their vectors, in one order (collected from Spark)."""
    rows = stage.getVectors().collect()
    return [r["word"] for r in rows], [r["vector"].toArray().tolist() for r in rows]


def convert_word2vec(scope: Any, operator: Any, container: Any) -> None:
    """Mean of the looked-up vectors over all real tokens (out-of-vocabulary words count as zeros)."""
    stage = operator.raw_operator
    size = int(stage.getVectorSize())
    words, vectors = word_vectors(stage)
    table = [value for vector in vectors for value in vector] + [0.0] * size
    matrix = constant(scope, container, "word_vectors", FLOAT, [len(words) + 1, size], table)
    tokens = operator.inputs[0].full_name
    index = node(
        scope,
        container,
        "LabelEncoder",
        [tokens],
        op_version=2,
        op_domain="ai.onnx.ml",
        keys_strings=words,
        values_int64s=list(range(len(words))),
        default_int64=len(words),
    )
    gathered = op(scope, container, "Gather", [matrix, index], axis=0)  # [N, T, d]
    total = op(scope, container, "ReduceSum", [gathered, ints(scope, container, "axis1", [1])], keepdims=0)
    counts = row_counts(scope, container, token_mask(scope, container, tokens))
    counts = op(scope, container, "Max", [counts, constant(scope, container, "one", INT64, [], [1])])
    counts = op(scope, container, "Cast", [counts], to=FLOAT)
    counts = op(scope, container, "Unsqueeze", [counts, ints(scope, container, "axis1", [1])])
    op(scope, container, "Div", [total, counts], 14, output=operator.outputs[0].full_name)


def calculate_word2vec_shapes(operator: Any) -> None:
    """float ``[N, vectorSize]``."""
    from onnxmltools.convert.common.data_types import FloatTensorType

    n = operator.inputs[0].type.shape[0]
    operator.outputs[0].type = FloatTensorType([n, int(operator.raw_operator.getVectorSize())])


SPECS = [
    ConverterSpec(
        Word2VecModel,
        convert_word2vec,
        calculate_word2vec_shapes,
        input_columns=input_columns,
        output_columns=output_columns,
        replaces_onnxmltools=True,
        min_opset=TEXT_OPSET,
    ),
]
