"""The staging folder: where the native model goes so that a Spark server or a cluster's executors read it.

A local session (``local[*]``) reads the model where it was extracted. Anywhere else the files must be
somewhere the other side can read: a Spark Connect server, or the executors of a classic cluster,
which load a stage's fitted values (and, in Spark 4, its metadata) in tasks of their own. As
``mlflow.spark`` does, that place is ``dfs_tmpdir`` when given, else ``MLFLOW_DFS_TMP``, else
``/tmp/mlflow``, resolved against the cluster's default file system (so ``/tmp/mlflow`` is on HDFS
when HDFS is the default). Unlike ``mlflow.spark``, a classic cluster stages the model there even
when that file system is the local one: a path on the driver's disk is not on a worker's.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Callable
from typing import Any

from mlflow_sparkonnx.exceptions import RuntimeUnavailableError
from mlflow_sparkonnx.sparkml.session import is_connect_session

_logger = logging.getLogger(__name__)

_DEFAULT_DFS_TMP = "/tmp/mlflow"

#: What to do when the other side cannot read the staging folder (the end of several messages).
STAGING_HINT = (
    "set MLFLOW_DFS_TMP (or pass dfs_tmpdir=) to a folder that this driver and every executor can read: "
    "a shared volume (file:/...), HDFS (hdfs://...) or object storage (s3a://..., abfss://...)"
)

# On the driver: (application id, staging root, native sha256) → where that model is staged already.
_STAGED: dict[tuple[str, str, str], str] = {}


def staging_root(dfs_tmpdir: str | None = None) -> str:
    """Where the native model is staged for a server to read: the argument, ``MLFLOW_DFS_TMP``, a default."""
    return dfs_tmpdir or os.environ.get("MLFLOW_DFS_TMP") or _DEFAULT_DFS_TMP


def new_staging_location(dfs_tmpdir: str | None = None) -> str:
    """A fresh folder name under the staging root (not created)."""
    return join(staging_root(dfs_tmpdir), f"sparkonnx-{uuid.uuid4().hex}")


def join(root: str, name: str) -> str:
    return root.rstrip("/") + "/" + name


def local_path(location: str) -> str:
    """A ``file:`` URI or plain path as a path on this machine."""
    return location[len("file:") :].replace("//", "/", 1) if location.startswith("file:") else location


def stage_for_executors(
    spark: Any, extract: Callable[[], str], native_sha256: str, dfs_tmpdir: str | None
) -> str:
    """Copy the model folder ``extract()`` gives to the staging root of a classic cluster; return its URI.

    The copy goes through Hadoop's ``FileSystem`` (any scheme the cluster knows), is reused for the same
    model in the same application (``extract`` runs only when it is not staged yet), and is deleted when
    the driver's JVM exits (stages such as ALSModel
    read their files lazily, so it must outlive the load). Before the URI is returned, the executors
    read the staged metadata in a small job; if they cannot, a ``RuntimeUnavailableError`` names the
    staging setting (instead of a failure inside the user's job later).
    """
    root = staging_root(dfs_tmpdir)
    key = (spark.sparkContext.applicationId, root, native_sha256)
    if key in _STAGED:
        return _STAGED[key]
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path
    target = hadoop_path(new_staging_location(dfs_tmpdir))
    try:
        fs = target.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
        target = fs.makeQualified(target)
        fs.copyFromLocalFile(False, True, hadoop_path(f"file://{os.path.abspath(extract())}"), target)
        fs.deleteOnExit(target)
    except Exception as exc:
        raise RuntimeUnavailableError(
            f"Could not stage the native model under '{root}' for the cluster's executors "
            f"({type(exc).__name__}: {first_line(exc)}); {STAGING_HINT}."
        ) from exc
    location = str(target.toString())
    check_executors_read(spark, location)
    _logger.info("Staged the native model at %s for the cluster's executors.", location)
    _STAGED[key] = location
    return location


def check_executors_read(spark: Any, location: str) -> None:
    """Raise unless a task on an executor reads the model's metadata at ``location``."""
    try:
        spark.read.text(join(location, "metadata")).count()
    except Exception as exc:
        raise RuntimeUnavailableError(
            f"The cluster's executors cannot read the native model staged at '{location}' "
            f"({type(exc).__name__}: {first_line(exc)}). The driver copies it there and the executors load "
            f"it: {STAGING_HINT}."
        ) from exc


def remove_staged(spark: Any, location: str) -> None:
    """Delete a staging folder: through Hadoop in a classic session (any scheme); under Spark Connect
    when this machine sees it (a local path), else it stays for its owner. Errors are logged only."""
    if is_connect_session(spark):
        path = local_path(location)
        if "://" not in path and os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        return
    try:
        jvm = spark.sparkContext._jvm
        path = jvm.org.apache.hadoop.fs.Path(location)
        path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).delete(path, True)
    except Exception as exc:  # a leftover staging folder is not worth failing the save for
        _logger.warning("Could not remove the staging folder %s: %s", location, first_line(exc))


def first_line(exc: BaseException) -> str:
    """The first informative line of ``exc`` (py4j's "An error occurred while calling ..." skipped)."""
    for line in str(exc).strip().splitlines():
        line = line.strip().removeprefix(": ")
        if line and not line.startswith(("An error occurred while calling", "at ")):
            return line[:400]
    return ""
