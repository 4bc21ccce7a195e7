"""HashingTF: term frequencies by MurmurHash3 bucket, as a dense ``[N, numFeatures]`` tensor.

Spark's ``indexOf(term)`` is ``nonNegativeMod(murmur3_x86_32(utf8(term), seed=42), numFeatures)``;
onnxruntime's ``com.microsoft.MurmurHash3`` (seed 42, signed) followed by ONNX ``Mod`` (the
divisor's sign) gives the same index. Padding (:data:`~mlflow_sparkonnx.convert.converters._text.PAD`)
adds nothing; ``""`` is a real term. ``binary=True`` gives 1.0 for every present term.

The output is dense: ``4 * N * numFeatures`` bytes (1 MiB per row at Spark's default 2^18).
"""

from __future__ import annotations

import logging
from typing import Any

from pyspark.ml.feature import HashingTF

from mlflow_sparkonnx.convert.converters import ConverterSpec
from mlflow_sparkonnx.convert.converters._graph import (
    FLOAT,
    input_columns,
    output_columns,
)
from mlflow_sparkonnx.convert.converters._text import (
    TEXT_OPSET,
    calculate_num_features_shapes,
    hash_buckets,
    op,
    scatter_into_buckets,
    token_mask,
)

_logger = logging.getLogger(__name__)


def convert_hashing_tf(scope: Any, operator: Any, container: Any) -> None:
    """Hash every real token to its bucket and add 1 (or take the max, for binary) there."""
    stage = operator.raw_operator
    num_features = int(stage.getNumFeatures())
    tokens = operator.inputs[0].full_name
    buckets = hash_buckets(scope, container, tokens, num_features)
    present = op(scope, container, "Cast", [token_mask(scope, container, tokens)], to=FLOAT)
    reduction = "max" if stage.getBinary() else "add"
    scatter_into_buckets(
        scope, container, buckets, present, num_features, reduction, operator.outputs[0].full_name
    )


SPECS = [
    ConverterSpec(
        HashingTF,
        convert_hashing_tf,
        calculate_num_features_shapes,
        input_columns=input_columns,
        output_columns=output_columns,
        min_opset=TEXT_OPSET,
    ),
]
