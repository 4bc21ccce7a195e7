"""Zipping the native model and extracting it safely."""

from __future__ import annotations

import os
import zipfile

import pytest

from mlflow_sparkonnx.artifacts import extract_zip, sha256_of, verify_checksum, zip_directory
from mlflow_sparkonnx.exceptions import ArtifactIntegrityError


def test_zip_round_trip(tmp_path):
    src = tmp_path / "src"
    (src / "stages" / "0_x").mkdir(parents=True)
    (src / "metadata").write_text("{}")
    (src / "stages" / "0_x" / "part-0").write_bytes(b"\x00\x01data")
    zip_directory(src, tmp_path / "m.zip")
    extract_zip(tmp_path / "m.zip", tmp_path / "out")
    assert (tmp_path / "out" / "stages" / "0_x" / "part-0").read_bytes() == b"\x00\x01data"


@pytest.mark.parametrize("name", ["../evil.txt", "/abs/evil.txt", "a/../../evil.txt"])
def test_entries_outside_the_target_are_refused(tmp_path, name):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(name, "x")
    with pytest.raises(ArtifactIntegrityError, match="outside|refused"):
        extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


def test_symlink_entries_are_refused(tmp_path):
    archive = tmp_path / "link.zip"
    info = zipfile.ZipInfo("link")
    info.external_attr = 0o120777 << 16
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(ArtifactIntegrityError, match="symbolic link"):
        extract_zip(archive, tmp_path / "out")


def test_checksum_mismatch_names_the_file(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"graph")
    digest = sha256_of(path)
    verify_checksum(path, digest)
    path.write_bytes(b"graph!")
    with pytest.raises(ArtifactIntegrityError, match="model.onnx"):
        verify_checksum(path, digest)
    os.remove(path)
    with pytest.raises(ArtifactIntegrityError, match="missing"):
        verify_checksum(path, digest)


def test_altered_onnx_file_is_refused_at_load(saved_models, tmp_path):
    import shutil

    import mlflow.pyfunc

    copy = tmp_path / "copy"
    shutil.copytree(saved_models["lr"], copy)
    with open(copy / "model.onnx", "ab") as f:
        f.write(b"\x00")
    with pytest.raises(ArtifactIntegrityError, match="model.onnx"):
        mlflow.pyfunc.load_model(str(copy))
