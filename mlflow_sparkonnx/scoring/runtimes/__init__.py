"""The two ways a saved model is scored: onnxruntime and a local SparkSession."""

from mlflow_sparkonnx.scoring.runtimes.base import Runtime, format_outputs

__all__ = ["Runtime", "format_outputs"]
