"""The native model archive: what a save checks before it reports success, and what loading says."""

from __future__ import annotations

import json
import os
import shutil
import zipfile

import pytest
import yaml

from mlflow_sparkonnx.artifacts import sha256_of
from mlflow_sparkonnx.contract import ModelContract
from mlflow_sparkonnx.exceptions import ArtifactIntegrityError, RuntimeUnavailableError
from mlflow_sparkonnx.sparkml.native_model import check_native_archive, load_native_pipeline


@pytest.fixture(scope="module")
def archive(saved_models) -> tuple[str, list[str]]:
    """The LR model's sparkml.zip and its stage uids (every stage, the dropped label indexer too)."""
    path = os.path.join(saved_models["lr"], "sparkml.zip")
    with zipfile.ZipFile(path) as zf:
        metadata = next(n for n in zf.namelist() if n.startswith("metadata/part-"))
        uids = json.loads(zf.read(metadata))["paramMap"]["stageUids"]
    return path, uids


def _copy_without(source: str, target, drop) -> str:
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for info in src.infolist():
            if not drop(info.filename):
                dst.writestr(info, src.read(info))
    return str(target)


def test_a_whole_archive_passes(archive):
    path, uids = archive
    check_native_archive(path, uids)


def test_an_empty_archive_is_refused(archive, tmp_path):
    _, uids = archive
    empty = tmp_path / "empty.zip"
    zipfile.ZipFile(empty, "w").close()
    with pytest.raises(ArtifactIntegrityError, match="empty"):
        check_native_archive(str(empty), uids)


def test_an_archive_without_a_stage_is_refused_naming_it(archive, tmp_path):
    path, uids = archive
    partial = _copy_without(path, tmp_path / "partial.zip", lambda name: f"_{uids[2]}/metadata/" in name)
    with pytest.raises(ArtifactIntegrityError, match=uids[2]):
        check_native_archive(partial, uids)


def test_an_archive_whose_stage_data_lost_its_part_files_is_refused_naming_the_folder(archive, tmp_path):
    path, uids = archive
    with zipfile.ZipFile(path) as zf:
        data_folder = next(n.rpartition("/")[0] for n in zf.namelist() if "/data/part-" in n)
    partial = _copy_without(
        path, tmp_path / "partial.zip", lambda name: name.startswith(data_folder + "/part-")
    )
    with pytest.raises(ArtifactIntegrityError, match=f"without a part file: \\['{data_folder}'\\]"):
        check_native_archive(partial, uids)


def test_an_archive_without_the_pipeline_metadata_is_refused(archive, tmp_path):
    path, uids = archive
    partial = _copy_without(path, tmp_path / "partial.zip", lambda name: name.startswith("metadata/"))
    with pytest.raises(ArtifactIntegrityError, match="no pipeline metadata"):
        check_native_archive(partial, uids)


def test_an_archive_of_another_pipeline_is_refused(archive):
    path, uids = archive
    with pytest.raises(ArtifactIntegrityError, match="lists stages"):
        check_native_archive(path, list(reversed(uids)))


def test_a_truncated_archive_is_refused(archive, tmp_path):
    path, uids = archive
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(open(path, "rb").read()[: os.path.getsize(path) // 2])
    with pytest.raises(ArtifactIntegrityError, match="unreadable"):
        check_native_archive(str(truncated), uids)


def test_a_model_spark_cannot_read_names_both_versions_when_saved_by_a_newer_spark(
    saved_models, spark, tmp_path
):
    """A model recorded as saved by a newer Spark, whose native files this Spark cannot read: the
    error names both versions and points to the ONNX runtime, instead of Spark's raw error."""
    model = tmp_path / "model"
    shutil.copytree(saved_models["rf"], model)
    archive = model / "sparkml.zip"
    # A forest's tree data this Spark cannot read (as Spark 4's layout is to Spark 3.5).
    damaged = _copy_without(
        str(archive), tmp_path / "d.zip", lambda name: "/data/" in name and "Random" in name
    )
    shutil.move(damaged, archive)
    mlmodel = yaml.safe_load((model / "MLmodel").read_text())
    conf = mlmodel["flavors"]["sparkonnx"]
    conf["pyspark_version"], conf["native_model_sha256"] = "9.9.0", sha256_of(archive)
    (model / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    with pytest.raises(RuntimeUnavailableError) as caught:
        load_native_pipeline(str(model), ModelContract.from_flavor(conf), spark)
    message = str(caught.value)
    assert "9.9.0" in message and spark.version in message and "runtime='onnx'" in message
    # Saved by this Spark, the same damage is Spark's own error: no version story is made up.
    conf["pyspark_version"] = spark.version
    with pytest.raises(Exception) as raw:
        load_native_pipeline(str(model), ModelContract.from_flavor(conf), spark)
    assert not isinstance(raw.value, RuntimeUnavailableError)
