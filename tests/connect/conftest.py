"""Spark Connect sessions for the tests in this folder (marked ``connect``; run apart from the main
suite, whose classic SparkSession must not share a process with a Connect client).

Two kinds of server, one per pytest run (``SPARKONNX_CONNECT_SERVER``; ``scripts/compat.sh`` runs
both): ``local`` (the default) is pyspark's own ``remote("local[2]")``, a server on this machine's
disk; ``separate`` is a Connect server started with ``spark-submit`` in its own mount namespace with
an empty tmpfs over ``/tmp``, so it cannot see the client's temporary folders (where pytest puts
models), as on a managed cluster. Both sides see ``STAGING`` (inside the checkout), the folder a user
would point ``MLFLOW_DFS_TMP`` at. (One process, one server: a pyspark client does not switch from a
local server to another cleanly.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tracking_server import free_port, stop_server

ROOT = Path(__file__).resolve().parents[2]
STAGING = ROOT / "build" / "connect-staging"
START_TIMEOUT_S = 180


def _start_separate_server(log_path: Path) -> tuple[subprocess.Popen, str]:
    """A Connect server whose /tmp is a tmpfs of its own (needs root and util-linux's unshare)."""
    import pyspark

    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("a server with a file system of its own needs root and unshare")
    spark_home = os.path.dirname(pyspark.__file__)
    port = free_port()
    submit = [
        os.path.join(spark_home, "bin", "spark-submit"),
        "--class",
        "org.apache.spark.sql.connect.service.SparkConnectServer",
        "--name",
        "sparkonnx-tests-connect",
        "--master",
        "local[2]",
        "--conf",
        f"spark.connect.grpc.binding.port={port}",
        "--conf",
        "spark.connect.grpc.binding.address=127.0.0.1",
        "--conf",
        "spark.driver.host=127.0.0.1",
        "--conf",
        "spark.driver.bindAddress=127.0.0.1",
        "--conf",
        "spark.ui.enabled=false",
        "--conf",
        "spark.sql.shuffle.partitions=2",
    ]
    command = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        'mount -t tmpfs tmpfs /tmp && exec "$@"',
    ]
    env = {**os.environ, "SPARK_HOME": spark_home, "PYSPARK_PYTHON": sys.executable}
    log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [*command, "connect-server", *submit],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"the Connect server exited with {process.returncode}: {log_path.read_text()[-3000:]}"
            )
        if _listening(port):
            return process, f"sc://127.0.0.1:{port}"
        time.sleep(0.5)
    stop_server(process)
    raise RuntimeError(
        f"the Connect server did not start in {START_TIMEOUT_S} s: {log_path.read_text()[-3000:]}"
    )


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def connect(tmp_path_factory):
    """(kind, a Spark Connect session) for the server ``SPARKONNX_CONNECT_SERVER`` names."""
    from pyspark.sql import SparkSession

    kind = os.environ.get("SPARKONNX_CONNECT_SERVER", "local")
    if kind not in ("local", "separate"):
        raise ValueError(f"SPARKONNX_CONNECT_SERVER must be 'local' or 'separate', not {kind!r}")
    os.environ.pop("MLFLOW_DFS_TMP", None)
    process = None
    if kind == "local":
        session = SparkSession.builder.remote("local[2]").getOrCreate()
    else:
        process, url = _start_separate_server(tmp_path_factory.mktemp("connect-server") / "server.log")
        session = SparkSession.builder.remote(url).getOrCreate()
    try:
        yield kind, session
    finally:
        session.stop()
        if process is not None:
            stop_server(process)


@pytest.fixture
def shared_staging(monkeypatch):
    """``MLFLOW_DFS_TMP`` pointed at a folder the client and both servers see."""
    STAGING.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("MLFLOW_DFS_TMP", str(STAGING))
    return STAGING
