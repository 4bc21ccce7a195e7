"""The native model as one portable file: zipping, safe extraction, checksums, and the temporary
folders its files are unpacked into."""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path

from mlflow_sparkonnx.exceptions import ArtifactIntegrityError

#: Refuse archives that would expand beyond this (a zip bomb), in bytes.
MAX_UNCOMPRESSED_BYTES = 8 * 1024**3


def zip_directory(source: str | os.PathLike[str], archive: str | os.PathLike[str]) -> None:
    """Zip every file under ``source`` with paths relative to it (Spark's CRC files included)."""
    source = Path(source)
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(source).as_posix())


def extract_zip(archive: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Extract ``archive`` into ``target``, refusing entries that would land outside it.

    Absolute paths, ``..`` components, symbolic links and archives whose total uncompressed
    size exceeds ``MAX_UNCOMPRESSED_BYTES`` raise ``ArtifactIntegrityError``.
    """
    target = Path(target).resolve()
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArtifactIntegrityError(f"'{archive}' is not a readable zip archive: {exc}") from exc
    with zf:
        entries = zf.infolist()
        total = sum(e.file_size for e in entries)
        if total > MAX_UNCOMPRESSED_BYTES:
            raise ArtifactIntegrityError(
                f"'{archive}' would expand to {total} bytes (limit {MAX_UNCOMPRESSED_BYTES}); refused."
            )
        for entry in entries:
            mode = entry.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise ArtifactIntegrityError(
                    f"'{archive}' holds a symbolic link '{entry.filename}'; refused."
                )
            destination = (target / entry.filename).resolve()
            if entry.filename.startswith(("/", "\\")) or not destination.is_relative_to(target):
                raise ArtifactIntegrityError(
                    f"'{archive}' entry '{entry.filename}' would extract outside {target}; refused."
                )
        try:
            zf.extractall(target)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ArtifactIntegrityError(f"'{archive}' is damaged: {exc}") from exc


def sha256_of(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_checksum(path: str | os.PathLike[str], expected: str | None) -> None:
    """Raise ``ArtifactIntegrityError`` if ``path`` is missing or its sha256 differs."""
    if expected is None:
        return
    if not os.path.exists(path):
        raise ArtifactIntegrityError(f"Model file '{path}' is missing.")
    actual = sha256_of(path)
    if actual != expected:
        raise ArtifactIntegrityError(
            f"Model file '{os.path.basename(path)}' is damaged or altered: sha256 {actual}, "
            f"MLmodel records {expected}."
        )


def temporary_dir_until_exit(prefix: str) -> str:
    """A new temporary directory, removed when the process exits (for files Spark may read until then)."""
    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, True)
    return path
