"""ONNX input types for the pipeline's raw input columns."""

from __future__ import annotations

from typing import Any

from mlflow_sparkonnx.contract import Column


def onnx_input_type(column: Column) -> Any:
    """``[None, 1]`` for every scalar (strings too), ``[None, k]`` for vectors and arrays.

    Numbers enter as double, as Spark holds them, so comparisons (tree splits, bucket and
    binarizer thresholds, category keys) see the caller's exact values.
    """
    from onnxmltools.convert.common.data_types import DoubleTensorType, StringTensorType

    if column.spark_type == "string":
        return StringTensorType([None, 1])
    if column.spark_type == "array<string>":
        return StringTensorType([None, None])
    if column.is_sequence:
        return DoubleTensorType([None, column.size])
    return DoubleTensorType([None, 1])


def initial_types(columns: list[Column]) -> list[tuple[str, Any]]:
    """onnxmltools ``initial_types`` for the given input columns."""
    return [(c.name, onnx_input_type(c)) for c in columns]
