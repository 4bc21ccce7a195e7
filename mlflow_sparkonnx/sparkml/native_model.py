"""The native ``PipelineModel`` as a file: written, zipped, checked and loaded in any kind of session.

A classic local session (``local[*]``) writes and reads the model's folder on this machine. A Spark
Connect session writes where its *server* runs, whose file system may not be this one: the model
is written to a staging folder there and its files are fetched back through Spark itself (the
``binaryFile`` source), so nothing needs a shared disk to save. Loading goes the other way: the
files are copied to a staging folder that the server, or a classic cluster's executors, must be
able to read (see ``staging``). A classic cluster saves through the staging folder as Connect does:
its executors write the files.

Before a save reports success the archive is checked: non-empty, undamaged, the pipeline's and every
stage's metadata present, every data folder holding a part file; files that came from a server are
also loaded back by Spark there.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mlflow_sparkonnx.artifacts import extract_zip, temporary_dir_until_exit, verify_checksum, zip_directory
from mlflow_sparkonnx.contract import ModelContract
from mlflow_sparkonnx.exceptions import ArtifactIntegrityError, RuntimeUnavailableError
from mlflow_sparkonnx.sparkml.session import is_connect_session, is_local_session
from mlflow_sparkonnx.sparkml.staging import (
    STAGING_HINT,
    first_line,
    local_path,
    new_staging_location,
    remove_staged,
    stage_for_executors,
)

_logger = logging.getLogger(__name__)

NATIVE_MODEL_FILE = "sparkml.zip"
_METADATA_FILE = re.compile(r"metadata/part-00000[^/]*")
_STAGE_METADATA_FILE = re.compile(r"stages/\d+_([^/]+)/metadata/part-00000[^/]*")


@contextmanager
def written_by_spark(writable: Any, spark: Any, dfs_tmpdir: str | None = None) -> Iterator[tuple[str, str]]:
    """Save a Spark ML model or stage (``writable.write()``); yield where Spark reads it and a local copy.

    Yields ``(location, local_dir)``: ``location`` is what ``PipelineModel.load`` takes in this
    session, ``local_dir`` a folder on this machine with the same files. A local session writes
    ``local_dir`` directly; any other session writes to a staging folder on the server's side whose
    files are fetched into ``local_dir`` through Spark. Both are removed afterwards.
    """
    workdir = tempfile.mkdtemp(prefix="sparkonnx-native-")
    local_dir = os.path.join(workdir, "model")
    remote = None
    try:
        if is_local_session(spark):
            location = f"file://{local_dir}"
            writable.write().overwrite().save(location)
        else:
            remote = location = new_staging_location(dfs_tmpdir)
            writable.write().overwrite().save(remote)
            _fetch_files(spark, remote, local_dir)
        yield location, local_dir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if remote is not None:
            remove_staged(spark, remote)


def _fetch_files(spark: Any, remote: str, local_dir: str) -> None:
    """Copy every file under ``remote`` (on the server's file system) into ``local_dir``.

    Spark's file sources skip names starting with ``_`` or ``.`` (``_SUCCESS``, CRC files), which
    a model does not need to load.
    """
    marker = "/" + remote.rstrip("/").rsplit("/", 1)[-1] + "/"
    rows = (
        spark.read.format("binaryFile")
        .option("recursiveFileLookup", "true")
        .load(remote)
        .select("path", "length", "content")
        .collect()
    )
    if not rows:
        where = "the server" if is_connect_session(spark) else "the executors"
        raise ArtifactIntegrityError(
            f"Spark wrote no files at '{remote}' that this driver can read: {where} wrote the native model "
            f"there and it is read back through Spark; {STAGING_HINT}."
        )
    for row in rows:
        relative = row["path"].split(marker, 1)[-1]
        target = os.path.join(local_dir, *relative.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as f:
            f.write(row["content"])
        if os.path.getsize(target) != row["length"]:
            raise ArtifactIntegrityError(
                f"'{relative}' arrived with {os.path.getsize(target)} of {row['length']} bytes."
            )


def write_native_archive(pipeline: Any, archive: str, spark: Any, dfs_tmpdir: str | None = None) -> None:
    """Write ``pipeline`` as a zip at ``archive``; raise unless the zip is whole.

    Files fetched from a server's staging folder are also loaded back by Spark there before they
    are zipped; a local session's files are the ones Spark wrote, checked in the zip alone (a
    reload would cost about a third of ``save_model``).
    """
    from pyspark.ml import PipelineModel

    stage_uids = [stage.uid for stage in pipeline.stages]
    with written_by_spark(pipeline, spark, dfs_tmpdir) as (location, local_dir):
        if not is_local_session(spark):
            loaded = [stage.uid for stage in PipelineModel.load(location).stages]
            if loaded != stage_uids:
                raise ArtifactIntegrityError(
                    f"Spark wrote the native model with stages {loaded}, not the pipeline's {stage_uids}."
                )
        zip_directory(local_dir, archive)
    check_native_archive(archive, stage_uids)


def check_native_archive(archive: str, stage_uids: list[str]) -> None:
    """Refuse an empty or partial archive: the pipeline's metadata and each stage's must be there,
    and each ``data`` folder must hold a part file.

    Spark writes a metadata folder per model (``metadata/part-00000``, ``part-00000-<id>.txt`` from
    Spark 4 on) and one per stage under ``stages/<index>_<uid>/``.
    """
    try:
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
            damaged = zf.testzip()
            pipeline_metadata = [n for n in names if _METADATA_FILE.fullmatch(n)]
            metadata = json.loads(zf.read(pipeline_metadata[0])) if pipeline_metadata else None
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ArtifactIntegrityError(f"The native model archive '{archive}' is unreadable: {exc}") from exc
    if not names:
        raise ArtifactIntegrityError(f"The native model archive '{archive}' is empty.")
    if damaged is not None:
        raise ArtifactIntegrityError(f"The native model archive '{archive}' is damaged at '{damaged}'.")
    if metadata is None:
        raise ArtifactIntegrityError(f"The native model archive '{archive}' has no pipeline metadata.")
    recorded = metadata.get("paramMap", {}).get("stageUids", [])
    if recorded != stage_uids:
        raise ArtifactIntegrityError(
            f"The native model archive '{archive}' lists stages {recorded}, not the pipeline's {stage_uids}."
        )
    present = {m.group(1) for m in map(_STAGE_METADATA_FILE.fullmatch, names) if m}
    missing = [uid for uid in stage_uids if uid not in present]
    if missing:
        raise ArtifactIntegrityError(
            f"The native model archive '{archive}' lacks the metadata of stages {missing}."
        )
    empty = _data_folders_without_parts(names)
    if empty:
        raise ArtifactIntegrityError(
            f"The native model archive '{archive}' has data folders without a part file: {empty}."
        )


def _data_folders_without_parts(names: list[str]) -> list[str]:
    """Folders named ``data`` (a stage's fitted values) in which Spark's part files are missing."""
    folders: dict[str, bool] = {}
    for name in names:
        folder, _, file = name.rpartition("/")
        if folder == "data" or folder.endswith("/data"):
            folders[folder] = folders.get(folder, False) or file.startswith("part-")
    return sorted(folder for folder, has_part in folders.items() if not has_part)


def load_native_pipeline(
    local_path: str, contract: ModelContract, spark: Any, dfs_tmpdir: str | None = None
) -> Any:
    """The saved ``PipelineModel``, restricted to the stages the outputs need (``contract.stage_uids``).

    ``local_path`` is the downloaded model directory and ``contract`` what its MLmodel records.
    """
    from pyspark.ml import PipelineModel

    from mlflow_sparkonnx.sparkml.pipeline import as_pipeline_model

    location = _location_for(spark, local_path, contract, dfs_tmpdir)
    try:
        native = PipelineModel.load(location)
    except Exception as exc:
        raise _load_error(exc, contract, spark, location) from exc
    finally:
        if is_connect_session(spark):  # the server has read it (Spark ML models load eagerly)
            remove_staged(spark, location)
    by_uid = {stage.uid: stage for stage in as_pipeline_model(native).stages}
    return PipelineModel(stages=[by_uid[uid] for uid in contract.stage_uids])


def extract_native_model(local_path: str, contract: ModelContract) -> str:
    """Check and unzip ``sparkml.zip`` into a fresh temporary directory; return that directory.

    The directory is removed when the process exits, not before: some loaded stages keep reading
    their files (ALSModel's factors, DistributedLDAModel's graph are lazy DataFrames and RDDs).
    """
    archive = os.path.join(local_path, contract.native_model)
    verify_checksum(archive, contract.native_model_sha256)
    target = temporary_dir_until_exit("sparkonnx-native-")
    extract_zip(archive, target)
    return target


def _location_for(spark: Any, model_path: str, contract: ModelContract, dfs_tmpdir: str | None) -> str:
    """Where ``spark`` can read the model's native pipeline from (extracted, and staged if need be)."""
    if is_local_session(spark):
        return f"file://{extract_native_model(model_path, contract)}"
    if is_connect_session(spark):
        staged = new_staging_location(dfs_tmpdir)
        shutil.copytree(extract_native_model(model_path, contract), local_path(staged))
        return staged
    # A classic cluster: the executors read the stages' files from the cluster's file system (a model
    # staged already in this application is not extracted again).
    sha256 = contract.native_model_sha256 or ""
    return stage_for_executors(spark, lambda: extract_native_model(model_path, contract), sha256, dfs_tmpdir)


def _load_error(exc: Exception, contract: ModelContract, spark: Any, location: str) -> Exception:
    """Say why Spark could not load the model: an older Spark, or a server that cannot see the files."""
    saved_with = contract.pyspark_version
    running = spark.version
    if saved_with and _older(running, saved_with):
        hint = "Score it with runtime='onnx' (its graph is verified), or" if contract.verified else "Use"
        return RuntimeUnavailableError(
            f"This model was saved with Spark {saved_with} and this Spark is {running}, which cannot read "
            f"it ({type(exc).__name__}: {first_line(exc)}). {hint} Spark {saved_with} or newer."
        )
    if is_connect_session(spark):
        return RuntimeUnavailableError(
            f"The Spark Connect server could not load the native model staged at '{location}' "
            f"({type(exc).__name__}: {first_line(exc)}). The client copies it there and the server reads "
            "it: set MLFLOW_DFS_TMP (or dfs_tmpdir=) to a folder both can read, such as a shared volume."
        )
    if not is_local_session(spark):
        return RuntimeUnavailableError(
            f"Spark could not load the native model staged at '{location}' for the cluster's executors "
            f"({type(exc).__name__}: {first_line(exc)}); {STAGING_HINT}."
        )
    return exc


def _older(running: str, saved_with: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(running).release[:2] < Version(saved_with).release[:2]
    except InvalidVersion:
        return False
