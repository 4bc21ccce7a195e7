"""mlflow-sparkonnx: an MLflow flavor for Spark ML pipelines with a verified ONNX graph.

Log with :func:`log_model` (also reachable as ``mlflow.sparkonnx.log_model``), serve with
``mlflow models serve``: the pyfunc scores with onnxruntime when the graph is verified,
with a local SparkSession otherwise.
"""

from mlflow_sparkonnx._version import __version__
from mlflow_sparkonnx.convert.registration import register_converter
from mlflow_sparkonnx.exceptions import (
    ArtifactIntegrityError,
    ConversionError,
    InvalidInputError,
    ParityMismatchError,
    PromotionRefusedError,
    RuntimeUnavailableError,
    SparkOnnxError,
    UnsupportedStageError,
)
from mlflow_sparkonnx.flavor.model import (
    FLAVOR_NAME,
    get_default_conda_env,
    get_default_pip_requirements,
    load_model,
    load_onnx_model,
    log_model,
    save_model,
)
from mlflow_sparkonnx.flavor.report import ConversionReport
from mlflow_sparkonnx.lifecycle.promotion import PromotionResult, promote
from mlflow_sparkonnx.lifecycle.upgrade import upgrade
from mlflow_sparkonnx.scoring.pyfunc import SparkOnnxModel, _load_pyfunc
from mlflow_sparkonnx.scoring.spark_scoring import transform

__all__ = [
    "FLAVOR_NAME",
    "ArtifactIntegrityError",
    "ConversionReport",
    "ConversionError",
    "InvalidInputError",
    "ParityMismatchError",
    "PromotionRefusedError",
    "PromotionResult",
    "RuntimeUnavailableError",
    "SparkOnnxError",
    "SparkOnnxModel",
    "UnsupportedStageError",
    "__version__",
    "_load_pyfunc",
    "get_default_conda_env",
    "get_default_pip_requirements",
    "load_model",
    "load_onnx_model",
    "promote",
    "register_converter",
    "log_model",
    "save_model",
    "transform",
    "upgrade",
]
