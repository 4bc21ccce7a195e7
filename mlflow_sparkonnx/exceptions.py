"""The package's exception hierarchy.

Every error derives from :class:`SparkOnnxError`, itself an ``MlflowException`` so that
MLflow's scoring server maps bad input to HTTP 400 and everything else to HTTP 500.
"""

from __future__ import annotations

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    INVALID_STATE,
    RESOURCE_DOES_NOT_EXIST,
)


class SparkOnnxError(MlflowException):
    """Base class of every error raised by mlflow-sparkonnx."""

    def __init__(self, message: str, error_code: int = INTERNAL_ERROR) -> None:
        super().__init__(message, error_code=error_code)


class UnsupportedStageError(SparkOnnxError):
    """A pipeline stage has no ONNX converter (raised only with ``onnx="require"``)."""


class ConversionError(SparkOnnxError):
    """The ONNX converter failed on a stage it claims to support."""


class ParityMismatchError(SparkOnnxError):
    """The ONNX graph's outputs differ from Spark's beyond the documented tolerance."""


class RuntimeUnavailableError(SparkOnnxError):
    """The requested runtime cannot run here (no verified graph, no Java, no pyspark)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_code=RESOURCE_DOES_NOT_EXIST)


class InvalidInputError(SparkOnnxError):
    """The caller's input is unusable: a missing column, a wrong type, an unseen category.

    ``onnx_only`` is true when only the ONNX runtime refuses the row (Spark scores it: a double
    beyond float32's range, a float32 overflow); the message then names ``runtime='spark'``.
    """

    def __init__(self, message: str, *, onnx_only: bool = False) -> None:
        super().__init__(message, error_code=INVALID_PARAMETER_VALUE)
        self.onnx_only = onnx_only


class ArtifactIntegrityError(SparkOnnxError):
    """A model file is damaged, altered, or would extract outside the model directory."""


class PromotionRefusedError(SparkOnnxError):
    """A model version failed the promotion gate; no alias changed. ``figures`` holds the numbers."""

    def __init__(self, message: str, figures: dict | None = None) -> None:
        super().__init__(message, error_code=INVALID_STATE)
        self.figures = figures or {}
