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


@pytest.mark.slow
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
