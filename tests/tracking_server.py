"""A real ``mlflow server`` for tests that need the HTTP API (registry, proxied artifacts).

``start_server`` runs one on 127.0.0.1 (a free port, a sqlite backend store and a local artifact
root under tmp). The ``tracking_server`` fixture in conftest.py starts one per session and gives
each module an experiment of its own, the in-process client pointed at the server, and on
teardown the previous tracking and registry URIs back. Modules share the registry, so each uses
registered-model names of its own.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

START_TIMEOUT_S = 90


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class TrackingServer:
    url: str
    experiment_id: str
    root: Path
    process: subprocess.Popen

    def env(self) -> dict[str, str]:
        """Environment for a subprocess (a CLI call) that should use this server."""
        dropped = ("MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_NAME")
        env = {k: v for k, v in os.environ.items() if k not in dropped}
        env.update(
            MLFLOW_TRACKING_URI=self.url,
            MLFLOW_EXPERIMENT_ID=self.experiment_id,
            MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK="true",
            PYSPARK_PYTHON=sys.executable,
            PYSPARK_DRIVER_PYTHON=sys.executable,
        )
        return env


def start_server(root: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    bin_dir = os.path.dirname(sys.executable)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    log = open(root / "server.log", "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [
            os.path.join(bin_dir, "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination",
            (root / "artifacts").as_uri(),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log_text = (root / "server.log").read_text()
            raise RuntimeError(f"mlflow server exited with {process.returncode}: {log_text}")
        try:
            if requests.get(f"{url}/health", timeout=5).status_code == 200:
                return process, url
        except requests.RequestException:  # not listening yet, or still starting up
            pass
        time.sleep(0.5)
    stop_server(process)
    log_text = (root / "server.log").read_text()
    raise RuntimeError(f"mlflow server did not answer /health in {START_TIMEOUT_S} s: {log_text}")


def stop_server(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)  # the server's own process group (start_new_session)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
