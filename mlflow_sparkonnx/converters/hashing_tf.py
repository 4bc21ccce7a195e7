"""HashingTF: term frequencies by MurmurHash3 bucket, as a dense ``[N, numFeatures]`` tensor.

Spark's ``indexOf(term)`` is ``nonNegativeMod(murmur3_x86_32(utf8(term), seed=42), numFeatures)``;
onnxruntime's ``com.microsoft.MurmurHash3`` (seed 42, signed) followed by ONNX ``Mod`` (the
divisor's sign) gives the same index. Padding (:data:`~mlflow_sparkonnx.converters._text.PAD`)
adds nothing; ``""`` is a real term. ``binary=True`` gives 1.0 for every present term.

The output is dense: ``4 * N * numFeatures`` bytes (1 MiB per row at Spark's default 2^18).
"""

from __future__ import annotations

import logging
from typing import Any

from pyspark.ml.feature import HashingTF

from mlflow_sparkonnx.converters import ConverterSpec
from mlflow_sparkonnx.converters._graph import FLOAT, INT64, constant, input_columns, node, output_columns
from mlflow_sparkonnx.converters._text import TEXT_OPSET, dim, ints, op, token_mask

_logger = logging.getLogger(__name__)


def convert_hashing_tf(scope: Any, operator: Any, container: Any) -> None:
    """Hash every real token to its bucket and add 1 (or take the max, for binary) there."""
    stage = operator.raw_operator
    num_features = int(stage.getNumFeatures())
    tokens = operator.inputs[0].full_name
    hashes = node(
        scope,
        container,
        "MurmurHash3",
        [tokens],
        op_version=1,
        op_domain="com.microsoft",
        seed=42,
        positive=0,
    )
    hashes = op(scope, container, "Cast", [hashes], to=INT64)
    modulus = constant(scope, container, "num_features", INT64, [], [num_features])
    buckets = op(scope, container, "Mod", [hashes, modulus], fmod=0)
    present = op(scope, container, "Cast", [token_mask(scope, container, tokens)], to=FLOAT)
    shape = op(
        scope,
        container,
        "Concat",
        [dim(scope, container, tokens, 0), ints(scope, container, "width", [num_features])],
        axis=0,
    )
    zeros = op(scope, container, "ConstantOfShape", [shape], 9, value=_float_zero())
    reduction = "max" if stage.getBinary() else "add"
    op(
        scope,
        container,
        "ScatterElements",
        [zeros, buckets, present],
        18,
        axis=1,
        reduction=reduction,
        output=operator.outputs[0].full_name,
    )


def _float_zero() -> Any:
    from onnx import helper

    return helper.make_tensor("zero", FLOAT, [1], [0.0])


def calculate_hashing_tf_shapes(operator: Any) -> None:
    """float ``[N, numFeatures]``."""
    from onnxmltools.convert.common.data_types import FloatTensorType

    n = operator.inputs[0].type.shape[0]
    operator.outputs[0].type = FloatTensorType([n, int(operator.raw_operator.getNumFeatures())])


SPECS = [
    ConverterSpec(
        HashingTF,
        convert_hashing_tf,
        calculate_hashing_tf_shapes,
        input_columns=input_columns,
        output_columns=output_columns,
        min_opset=TEXT_OPSET,
    ),
]
