"""The JVM-free serving environment, built the way ``examples/docker/Dockerfile.onnx`` builds it.

``examples/docker/make_context.sh`` assembles the build context (the model directory, this package
as a wheel, the Dockerfile that fits the model); the test then runs the Dockerfile's install step in
a fresh virtualenv: the model's ``requirements.txt`` minus the unpublished ``mlflow-sparkonnx`` pin,
plus the wheel. pyspark must be absent and the model must score as in the training environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def make_context(model_path: str, out: Path) -> Path:
    env = {**os.environ, "PYTHON": sys.executable}
    script = ROOT / "examples" / "docker" / "make_context.sh"
    subprocess.run(["bash", str(script), model_path, str(out)], check=True, timeout=600, env=env)
    return out


def install_like_the_dockerfile(context: Path, where: Path) -> Path:
    """A virtualenv set up as Dockerfile.onnx's RUN step does; returns its python.

    The venv gets no pip of its own (ensurepip costs seconds): this interpreter's pip installs
    into it (``--python``), without byte-compiling every installed module (``--no-compile``;
    what the scoring imports compiles on import as usual).
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, timeout=300)
    python = where / "bin" / "python"
    requirements = [
        line.strip()
        for line in (context / "model" / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("mlflow-sparkonnx")
    ]
    wheel = next(context.glob("mlflow_sparkonnx-*.whl"))
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-compile"]
    pip.append("--disable-pip-version-check")
    subprocess.run([*pip, *requirements], check=True, timeout=1200, capture_output=True)
    subprocess.run([*pip, "--no-deps", str(wheel)], check=True, timeout=600, capture_output=True)
    return python


@pytest.mark.fresh_env
def test_verified_model_scores_in_a_fresh_env_without_pyspark(saved_models, adult_holdout, tmp_path):
    import mlflow.pyfunc

    model_path = saved_models["lr"]
    assert "pyspark" not in (Path(model_path) / "requirements.txt").read_text()
    context = make_context(model_path, tmp_path / "context")
    assert (context / "Dockerfile").read_text() == (ROOT / "examples/docker/Dockerfile.onnx").read_text()
    assert {"MLmodel", "model.onnx", "sparkml.zip"} <= {p.name for p in (context / "model").iterdir()}
    python = install_like_the_dockerfile(context, tmp_path / "venv")

    frame = adult_holdout.head(40)
    expected = mlflow.pyfunc.load_model(model_path).predict(frame)
    frame_path = tmp_path / "frame.json"
    frame.to_json(frame_path, orient="split")
    code = f"""
import importlib.util, json, sys
import pandas as pd, mlflow.pyfunc
model = mlflow.pyfunc.load_model({str(context / "model")!r})
out = model.predict(pd.read_json({str(frame_path)!r}, orient='split'))
print(json.dumps({{
    "pyspark": importlib.util.find_spec("pyspark") is not None,
    "runtime": model.get_raw_model().runtime,
    "prediction": out["prediction"].tolist(),
    "probability": out["probability"].tolist(),
}}))
"""
    result = subprocess.run(
        [str(python), "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": str(python.parent), "MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK": "true", "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    scored = json.loads(result.stdout.strip().splitlines()[-1])
    assert scored["pyspark"] is False
    assert scored["runtime"] == "onnx"
    assert scored["prediction"] == expected["prediction"].tolist()
    np.testing.assert_allclose(scored["probability"], expected["probability"].tolist(), rtol=0, atol=1e-12)


@pytest.mark.fresh_env
def test_model_carrying_its_wheel_installs_and_serves_from_its_own_files(
    lr_pipeline, adult_train, adult_holdout, package_wheel, tmp_path
):
    """save_model(package_wheel=...): a fresh virtualenv gets everything from the model's own
    requirements.txt (no index has mlflow-sparkonnx), and `mlflow models serve` from it answers."""
    import shutil

    import mlflow.pyfunc
    from scoring_server import ScoringServer

    import mlflow_sparkonnx

    saved = tmp_path / "saved"
    example = adult_train.drop(columns=["income"]).head(100)
    mlflow_sparkonnx.save_model(
        lr_pipeline,
        str(saved),
        input_example=example,
        extra_pip_requirements=["requests>=2"],
        package_wheel=package_wheel,
    )
    requirements = (saved / "requirements.txt").read_text().splitlines()
    assert requirements[0] == "--find-links wheels" and "requests>=2" in requirements
    assert requirements[-1] == f"mlflow-sparkonnx=={mlflow_sparkonnx.__version__}"
    conda = yaml.safe_load((saved / "conda.yaml").read_text())
    assert next(d["pip"] for d in conda["dependencies"] if isinstance(d, dict)) == requirements
    assert [p.name for p in (saved / "wheels").iterdir()] == [package_wheel.name]
    assert (saved / "wheels" / package_wheel.name).read_bytes() == package_wheel.read_bytes()

    # The model alone, somewhere else; pip runs from yet another folder, as deployment tools do.
    model = shutil.copytree(saved, tmp_path / "deployed" / "model")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-compile"]
    installed = subprocess.run(
        [*pip, "--disable-pip-version-check", "-r", str(model / "requirements.txt")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    where = subprocess.run(
        [
            str(python),
            "-c",
            "import mlflow_sparkonnx, importlib.util as u; "
            "print(mlflow_sparkonnx.__file__, u.find_spec('pyspark') is not None)",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={"PATH": str(venv / "bin")},
    ).stdout.split()
    assert where[0].startswith(f"{venv}/") and where[1] == "False", where

    frame = adult_holdout.head(20)
    expected = mlflow.pyfunc.load_model(str(saved)).predict(frame)
    server = ScoringServer(str(model), tmp_path, python=str(python), env={"PYTHONPATH": ""}).wait_until_up()
    try:
        response = server.post(json.dumps({"dataframe_split": json.loads(frame.to_json(orient="split"))}))
    finally:
        server.stop()
    assert response.status_code == 200, response.text[:2000]
    predictions = response.json()["predictions"]
    assert [p["prediction"] for p in predictions] == expected["prediction"].tolist()
    np.testing.assert_allclose(
        [p["probability"] for p in predictions], expected["probability"].tolist(), rtol=0, atol=1e-12
    )
