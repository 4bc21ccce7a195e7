"""save_model(package_wheel=...): which wheels are accepted, and how the requirements name them.

The fresh-environment deployment of such a model (and its requirements files) is tested in
tests/scoring/test_serving_env.py.
"""

from __future__ import annotations

import zipfile

import pytest

import mlflow_sparkonnx
from mlflow_sparkonnx.exceptions import SparkOnnxError
from mlflow_sparkonnx.flavor.package_wheel import conda_env_with_wheel, requirements_with_wheel

VERSION = mlflow_sparkonnx.__version__


def fake_wheel(folder, name: str, metadata: bool = True):
    path = folder / name
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mlflow_sparkonnx/__init__.py", "")
        if metadata:
            archive.writestr(f"mlflow_sparkonnx-{VERSION}.dist-info/METADATA", "Name: mlflow-sparkonnx\n")
    return path


@pytest.mark.parametrize(
    ("name", "metadata", "message"),
    [
        ("missing.whl", None, "does not exist"),
        ("mlflow_sparkonnx.zip", True, "is not named like a wheel"),
        (f"other_package-{VERSION}-py3-none-any.whl", True, "is a wheel of 'other-package'"),
        (
            "mlflow_sparkonnx-9.9.9-py3-none-any.whl",
            True,
            "is mlflow-sparkonnx 9.9.9, but this model is saved by",
        ),
        (f"mlflow_sparkonnx-{VERSION}-py3-none-any.whl", False, "no *.dist-info/METADATA"),
    ],
)
def test_a_wrong_wheel_is_refused_before_anything_is_written(tmp_path, name, metadata, message):
    wheel = tmp_path / name if metadata is None else fake_wheel(tmp_path, name, metadata)
    target = tmp_path / "model"
    with pytest.raises(SparkOnnxError, match="package_wheel") as raised:
        mlflow_sparkonnx.save_model(None, str(target), package_wheel=wheel)  # checked before the model
    assert message in str(raised.value)
    assert not target.exists()


def test_the_package_pin_is_replaced_and_the_find_links_line_comes_first():
    given = ["mlflow-skinny==3.1.0", "mlflow_sparkonnx>=0.0.1", "--find-links wheels", "onnx==1.23.0"]
    assert requirements_with_wheel(given) == [
        "--find-links wheels",
        "mlflow-skinny==3.1.0",
        "onnx==1.23.0",
        f"mlflow-sparkonnx=={VERSION}",
    ]
    assert requirements_with_wheel(["pandas"])[-1] == f"mlflow-sparkonnx=={VERSION}"  # added when absent


def test_the_conda_environment_lists_the_wheel_in_its_pip_section():
    env = {"name": "e", "dependencies": ["python=3.11", "pip", {"pip": ["mlflow-sparkonnx==0.0.1", "onnx"]}]}
    rewritten = conda_env_with_wheel(env)
    assert rewritten["dependencies"][:2] == ["python=3.11", "pip"]
    assert rewritten["dependencies"][2] == {
        "pip": ["--find-links wheels", "onnx", f"mlflow-sparkonnx=={VERSION}"]
    }
    assert env["dependencies"][2]["pip"] == [
        "mlflow-sparkonnx==0.0.1",
        "onnx",
    ]  # the caller's dict is untouched
    no_pip = conda_env_with_wheel({"dependencies": ["python=3.11"]})
    assert no_pip["dependencies"][1] == {"pip": ["--find-links wheels", f"mlflow-sparkonnx=={VERSION}"]}
