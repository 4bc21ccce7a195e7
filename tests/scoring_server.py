"""A real ``mlflow models serve --env-manager local`` subprocess for the tests that send HTTP requests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

START_TIMEOUT_S = 240
REQUEST_TIMEOUT_S = 120
_OVERRIDE_VARS = ("MLFLOW_SPARKONNX_RUNTIME", "MLFLOW_PYFUNC_INFERENCE_CONFIG")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, command name) of every process below ``pid``, read from /proc."""
    children: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
        names[int(entry.name)] = name
    found, stack = [], list(children.get(pid, []))
    while stack:
        child = stack.pop()
        found.append((child, names[child]))
        stack.extend(children.get(child, []))
    return found


class ScoringServer:
    """One ``mlflow models serve --env-manager local`` subprocess; logs go to files.

    Constructing it launches the process; :meth:`wait_until_up` waits for ``/ping``.
    """

    def __init__(
        self, model_path: str, log_dir: Path, env: dict[str, str] | None = None, python: str | None = None
    ) -> None:
        self.model_path = model_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stderr_path = log_dir / f"serve-{self.port}.stderr"
        python = python or sys.executable  # another virtualenv's python serves with that environment
        bin_dir = os.path.dirname(python)
        full_env = {k: v for k, v in os.environ.items() if k not in _OVERRIDE_VARS}
        full_env.update(
            PATH=f"{bin_dir}{os.pathsep}{full_env.get('PATH', '')}",  # uvicorn is found on PATH
            MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK="true",
            PYSPARK_PYTHON=python,
            PYSPARK_DRIVER_PYTHON=python,
        )
        full_env.update(env or {})
        mlflow_cli = os.path.join(bin_dir, "mlflow")
        command = [mlflow_cli] if os.path.exists(mlflow_cli) else [python, "-m", "mlflow"]
        command += ["models", "serve", "-m", model_path, "--env-manager", "local"]
        command += ["-h", "127.0.0.1", "-p", str(self.port)]
        self._stderr = open(self.stderr_path, "wb")  # closed in stop()
        self.process = subprocess.Popen(
            command,
            env=full_env,
            stdout=self._stderr,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: uvicorn and the JVM stop with it
        )
        self._launched_at = time.monotonic()
        self.started_in_s: float | None = None

    def wait_until_up(self) -> ScoringServer:
        if self.started_in_s is None:
            self.started_in_s = self._wait_until_up()
        return self

    def _wait_until_up(self) -> float:
        start = self._launched_at
        while time.monotonic() - start < START_TIMEOUT_S:
            if self.process.poll() is not None:
                self.stop()
                raise AssertionError(f"server exited with {self.process.returncode}:\n{self.log()[-4000:]}")
            try:
                if requests.get(f"{self.url}/ping", timeout=2).status_code == 200:
                    return time.monotonic() - start
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still loading
                pass
            time.sleep(0.25)
        self.stop()
        raise AssertionError(f"server did not answer /ping in {START_TIMEOUT_S} s:\n{self.log()[-4000:]}")

    def log(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def ping(self) -> int:
        return requests.get(f"{self.url}/ping", timeout=10).status_code

    def post(self, body: str | bytes, content_type: str = "application/json") -> requests.Response:
        return requests.post(
            f"{self.url}/invocations",
            data=body,
            headers={"Content-Type": content_type},
            timeout=REQUEST_TIMEOUT_S,
        )

    def runs_java(self) -> bool:
        return any(name == "java" for _, name in descendants(self.process.pid))

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
            except ProcessLookupError:
                pass
        self._stderr.close()
