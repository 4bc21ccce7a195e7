"""CountVectorizerModel and IDFModel: vocabulary counts and IDF weights, dense ``[N, k]`` floats.

- CountVectorizerModel: each real token's vocabulary index (LabelEncoder; unknown tokens and
  padding go to an extra column that is dropped), counted with ``ScatterElements``. ``minTF``
  is a count (``>= 1``) or a fraction of the row's token count (``< 1``); ``binary`` gives 1.0.
  Replaces onnxmltools' converter, which has no fractional ``minTF`` and would count ``""``
  tokens differently.
- IDFModel: ``x * idf`` (``minDocFreq`` is already in ``idf`` as zeros).
"""

from __future__ import annotations

import logging
from typing import Any

from onnx import TensorProto
from pyspark.ml.feature import CountVectorizerModel, IDFModel

from mlflow_sparkonnx.convert.converters import ConverterSpec
from mlflow_sparkonnx.convert.converters._graph import (
    FLOAT,
    INT64,
    as_float_matrix,
    constant,
    input_columns,
    node,
    output_columns,
)
from mlflow_sparkonnx.convert.converters._text import TEXT_OPSET, dim, ints, op, row_counts, token_mask

_logger = logging.getLogger(__name__)
DOUBLE = TensorProto.DOUBLE


def convert_count_vectorizer(scope: Any, operator: Any, container: Any) -> None:
    """Vocabulary index per token, counts per row, then minTF and binary as Spark applies them."""
    stage = operator.raw_operator
    vocabulary = list(stage.vocabulary)
    size = len(vocabulary)
    tokens = operator.inputs[0].full_name
    mask = token_mask(scope, container, tokens)
    index = node(
        scope,
        container,
        "LabelEncoder",
        [tokens],
        op_version=2,
        op_domain="ai.onnx.ml",
        keys_strings=vocabulary,
        values_int64s=list(range(size)),
        default_int64=size,
    )
    spill = constant(scope, container, "spill", INT64, [], [size])
    index = op(scope, container, "Where", [mask, index, spill], 16)
    shape = op(
        scope,
        container,
        "Concat",
        [dim(scope, container, tokens, 0), ints(scope, container, "w", [size + 1])],
        axis=0,
    )
    zero = _float_tensor(0.0)
    zeros = op(scope, container, "ConstantOfShape", [shape], 9, value=zero)
    ones = op(scope, container, "Cast", [mask], to=FLOAT)
    counts = op(scope, container, "ScatterElements", [zeros, index, ones], 18, axis=1, reduction="add")
    axis = ints(scope, container, "axis", [1])
    counts = op(
        scope,
        container,
        "Slice",
        [counts, ints(scope, container, "start", [0]), ints(scope, container, "end", [size]), axis],
    )
    min_tf = float(stage.getMinTF())
    exact = op(scope, container, "Cast", [counts], to=DOUBLE)  # Spark compares in double
    if min_tf >= 1.0:
        threshold = constant(scope, container, "min_tf", DOUBLE, [], [min_tf])
    else:
        total = op(scope, container, "Cast", [row_counts(scope, container, mask)], to=DOUBLE)
        total = op(scope, container, "Unsqueeze", [total, axis])
        fraction = constant(scope, container, "min_tf", DOUBLE, [], [min_tf])
        threshold = op(scope, container, "Mul", [total, fraction], 14)
    present = op(scope, container, "Greater", [counts, constant(scope, container, "zero", FLOAT, [], [0.0])])
    kept = op(
        scope, container, "And", [present, op(scope, container, "GreaterOrEqual", [exact, threshold], 16)], 7
    )
    value = constant(scope, container, "one", FLOAT, [], [1.0]) if stage.getBinary() else counts
    fzero = constant(scope, container, "zero", FLOAT, [], [0.0])
    op(scope, container, "Where", [kept, value, fzero], 16, output=operator.outputs[0].full_name)


def convert_idf(scope: Any, operator: Any, container: Any) -> None:
    """``x * idf``."""
    idf = operator.raw_operator.idf.toArray().tolist()
    x = as_float_matrix(scope, container, operator.inputs[0])
    weights = constant(scope, container, "idf", FLOAT, [1, len(idf)], idf)
    op(scope, container, "Mul", [x, weights], 14, output=operator.outputs[0].full_name)


def _float_tensor(value: float) -> Any:
    from onnx import helper

    return helper.make_tensor("value", FLOAT, [1], [value])


def calculate_count_shapes(operator: Any) -> None:
    """float ``[N, vocabulary size]``."""
    from onnxmltools.convert.common.data_types import FloatTensorType

    n = operator.inputs[0].type.shape[0]
    operator.outputs[0].type = FloatTensorType([n, len(operator.raw_operator.vocabulary)])


def calculate_idf_shapes(operator: Any) -> None:
    """float ``[N, k]``, like the input."""
    from onnxmltools.convert.common.data_types import FloatTensorType

    n = operator.inputs[0].type.shape[0]
    operator.outputs[0].type = FloatTensorType([n, len(operator.raw_operator.idf)])


SPECS = [
    ConverterSpec(
        CountVectorizerModel,
        convert_count_vectorizer,
        calculate_count_shapes,
        input_columns=input_columns,
        output_columns=output_columns,
        replaces_onnxmltools=True,
        min_opset=TEXT_OPSET,
    ),
    ConverterSpec(
        IDFModel,
        convert_idf,
        calculate_idf_shapes,
        input_columns=input_columns,
        output_columns=output_columns,
    ),
]
