"""The SparkSession the package works with: the active one (classic or Spark Connect) or a local one."""

from __future__ import annotations

import logging
import os
import shutil
from typing import Any

from mlflow_sparkonnx.exceptions import RuntimeUnavailableError

_logger = logging.getLogger(__name__)


def get_or_create_spark(spark_conf: dict[str, str] | None = None) -> Any:
    """The active SparkSession (classic or Spark Connect), or a new ``local[*]`` one bound to 127.0.0.1."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise RuntimeUnavailableError(
            "The Spark runtime needs pyspark, which is not installed here. Install "
            "'mlflow-sparkonnx[spark]', or use runtime='onnx' for a model with a verified graph."
        ) from exc
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        raise RuntimeUnavailableError(
            "The Spark runtime needs Java 17, which was not found (no JAVA_HOME, no 'java' on "
            "PATH). Install a JRE, or use runtime='onnx' for a model with a verified graph."
        )
    builder = (
        SparkSession.builder.master("local[*]")
        .appName("mlflow-sparkonnx")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
    )
    for key, value in (spark_conf or {}).items():
        builder = builder.config(key, str(value))
    _logger.info("Starting a local SparkSession for the Spark runtime.")
    return builder.getOrCreate()


def is_connect_session(spark: Any) -> bool:
    """Whether ``spark`` is a Spark Connect session (no ``sparkContext``, a server elsewhere)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def is_local_session(spark: Any) -> bool:
    """A classic session whose executors share this machine's disk (``local`` masters)."""
    return not is_connect_session(spark) and spark.sparkContext.master.startswith("local")


def in_spark_task() -> bool:
    """True inside a Spark task (a Python worker running a UDF, e.g. for ``spark_udf``)."""
    try:
        from pyspark import TaskContext
    except ImportError:
        return False
    return TaskContext.get() is not None
