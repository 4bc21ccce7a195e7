"""A model that carries this package's wheel, for serving environments without an index that has it.

``save_model(..., package_wheel="dist/mlflow_sparkonnx-X-py3-none-any.whl")`` copies the wheel into
the model's ``wheels/`` folder and writes ``--find-links wheels`` above the ``mlflow-sparkonnx==X``
pin in ``requirements.txt`` and in ``conda.yaml``'s pip section. pip resolves a relative
``--find-links`` in a requirements file against that file's folder, so every tool that installs the
model's requirements from its own files (``mlflow models serve``/``predict`` with a virtualenv or
conda, ``mlflow models generate-dockerfile``/``build-docker``, ``pip install -r requirements.txt``)
finds the wheel; the other requirements still come from the usual index.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from mlflow_sparkonnx._version import __version__
from mlflow_sparkonnx.exceptions import SparkOnnxError

#: The model's folder holding the wheel, relative to ``requirements.txt``.
WHEELS_DIR = "wheels"
PACKAGE_NAME = "mlflow-sparkonnx"
FIND_LINKS_LINE = f"--find-links {WHEELS_DIR}"


def check_package_wheel(wheel: str | os.PathLike[str]) -> str:
    """The wheel's absolute path, after checking it is this package's wheel, at this version."""
    path = os.path.abspath(os.fspath(wheel))
    if not os.path.isfile(path):
        raise SparkOnnxError(f"package_wheel '{path}' does not exist (pass the path of a .whl file).")
    try:
        name, version, _, _ = parse_wheel_filename(os.path.basename(path))
    except InvalidWheelFilename as e:
        raise SparkOnnxError(f"package_wheel '{path}' is not named like a wheel: {e}") from e
    if name != canonicalize_name(PACKAGE_NAME):
        raise SparkOnnxError(f"package_wheel '{path}' is a wheel of '{name}', not of '{PACKAGE_NAME}'.")
    if str(version) != __version__:
        raise SparkOnnxError(
            f"package_wheel '{path}' is {PACKAGE_NAME} {version}, but this model is saved by "
            f"{__version__}: pass the wheel of the version that saves it."
        )
    if not _has_package_metadata(path):
        raise SparkOnnxError(
            f"package_wheel '{path}' is not a readable wheel (no *.dist-info/METADATA in the archive)."
        )
    return path


def _has_package_metadata(path: str) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return any(n.endswith(".dist-info/METADATA") for n in archive.namelist())
    except zipfile.BadZipFile:
        return False


def copy_package_wheel(wheel: str, model_dir: str) -> str:
    """Copy the checked ``wheel`` into ``<model_dir>/wheels/``; returns the path inside the model."""
    target_dir = os.path.join(model_dir, WHEELS_DIR)
    os.makedirs(target_dir, exist_ok=True)
    return shutil.copy2(wheel, target_dir)


def requirements_with_wheel(requirements: list[str]) -> list[str]:
    """``--find-links wheels`` first, then the requirements with the package pinned to this version."""
    kept = [line for line in requirements if line.strip() != FIND_LINKS_LINE and not _is_package_line(line)]
    return [FIND_LINKS_LINE, *kept, f"{PACKAGE_NAME}=={__version__}"]


def conda_env_with_wheel(conda_env: dict[str, Any]) -> dict[str, Any]:
    """The conda environment with its pip section rewritten by :func:`requirements_with_wheel`."""
    dependencies = list(conda_env.get("dependencies", []))
    pip_index = next((i for i, d in enumerate(dependencies) if isinstance(d, dict) and "pip" in d), None)
    if pip_index is None:
        dependencies.append({"pip": requirements_with_wheel([])})
    else:
        pip_section = dict(dependencies[pip_index])
        pip_section["pip"] = requirements_with_wheel(list(pip_section["pip"]))
        dependencies[pip_index] = pip_section
    return {**conda_env, "dependencies": dependencies}


def _is_package_line(line: str) -> bool:
    try:
        return canonicalize_name(Requirement(line.strip()).name) == canonicalize_name(PACKAGE_NAME)
    except InvalidRequirement:
        return False
