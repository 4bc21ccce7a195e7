"""Reaching a fitted stage's JVM object, for the few converters that read what pyspark does not expose."""

from __future__ import annotations

from typing import Any

from mlflow_sparkonnx.exceptions import UnsupportedStageError


def java_object(stage: Any, method: str) -> Any:
    """The stage's py4j object, which must have ``method``; refused under Spark Connect.

    A Spark Connect client holds only a reference to a model that lives in the server's JVM, so
    what a converter reads there is out of reach: the stage is unsupported (native-only), not failed.
    """
    java = getattr(stage, "_java_obj", None)
    if java is None or type(java).__module__.split(".", 1)[0] != "py4j":
        raise UnsupportedStageError(
            f"{type(stage).__name__} {stage.uid}: its converter reads the fitted model's JVM object "
            f"({method}), which a Spark Connect client cannot reach; save it from a classic SparkSession "
            "to get a verified graph"
        )
    return java
