"""Which runtime answers: the caller's choice, the environment, or what the model records."""

from __future__ import annotations

import logging
import os
from typing import Any

from mlflow_sparkonnx.contract import ModelContract
from mlflow_sparkonnx.exceptions import RuntimeUnavailableError, SparkOnnxError
from mlflow_sparkonnx.sparkml.session import in_spark_task

_logger = logging.getLogger(__name__)

RUNTIME_ENV_VAR = "MLFLOW_SPARKONNX_RUNTIME"
RUNTIMES = ("auto", "onnx", "spark")


def choose_runtime(contract: ModelContract, model_config: dict[str, Any] | None) -> str:
    """``model_config["runtime"]`` > ``MLFLOW_SPARKONNX_RUNTIME`` > ``auto``, resolved to a runtime."""
    requested = (model_config or {}).get("runtime") or "auto"
    if requested == "auto":
        requested = os.environ.get(RUNTIME_ENV_VAR, "").strip().lower() or "auto"
    if requested not in RUNTIMES:
        raise SparkOnnxError(f"Unknown runtime {requested!r}: choose one of {', '.join(RUNTIMES)}.")
    verified = contract.verified
    if requested == "onnx" and not verified:
        raise RuntimeUnavailableError(
            f"runtime='onnx' was requested but this model has no verified ONNX graph "
            f"(status {contract.describe_status()}). Use runtime='spark'."
        )
    if requested == "auto":
        if not verified:
            return "spark"
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            _logger.warning("onnxruntime is not importable; falling back to the Spark runtime.")
            return "spark"
        return "onnx"
    return requested


def refuse_native_in_spark_task() -> None:
    """Raise inside a Spark task: the native runtime would start a SparkSession per worker."""
    if in_spark_task():
        raise RuntimeUnavailableError(
            "This model has no verified ONNX graph (or runtime='spark' was asked for), so it scores "
            "with a SparkSession, which cannot be started inside a Spark task (mlflow.pyfunc.spark_udf). "
            "Score the DataFrame with mlflow_sparkonnx.transform(spark_df, model_uri, runtime='spark'), "
            "which runs the native PipelineModel distributed."
        )
