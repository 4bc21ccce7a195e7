"""A Spark standalone cluster for the tests in this folder (marked ``cluster``; run apart from the main
suite by ``scripts/compat.sh cluster``, since a process holds one SparkContext and the main suite's is
``local``).

One master and two workers, started from the pyspark package (``spark-class``, bound to 127.0.0.1,
stopped at the end). Each worker runs in a mount namespace of its own with an empty tmpfs over
``/tmp``, as a node with its own disk: its executors see neither the driver's temporary folders
(where pytest and the package put models) nor each other's. ``STAGING`` (inside the checkout) is the
one folder all of them see, what a user would point ``MLFLOW_DFS_TMP`` at. The session fixture
``spark`` replaces the main suite's local one, so the shared fixtures fit their pipelines here.
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
STAGING = ROOT / "build" / "cluster-staging"
START_TIMEOUT_S = 120
WORKERS = 2


def _start(command: list[str], log_path: Path, env: dict[str, str]) -> subprocess.Popen:
    log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _wait_for_workers(master_ui: int, processes: list[subprocess.Popen], logs: list[Path]) -> None:
    """Until the master's status page lists every worker ALIVE (a worker exiting fails at once)."""
    import requests

    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        for process, log in zip(processes, logs, strict=True):
            if process.poll() is not None:
                raise RuntimeError(f"{log.name} exited with {process.returncode}: {log.read_text()[-3000:]}")
        try:
            status = requests.get(f"http://127.0.0.1:{master_ui}/json/", timeout=5).json()
            if sum(w.get("state") == "ALIVE" for w in status.get("workers", [])) == WORKERS:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the cluster did not start in {START_TIMEOUT_S} s: {logs[-1].read_text()[-3000:]}")


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """The master's URL, once the master and every worker are up (needs root and util-linux's unshare)."""
    import pyspark

    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("workers with a file system of their own need root and unshare")
    logs_dir = tmp_path_factory.mktemp("cluster-logs")
    spark_home = os.path.dirname(pyspark.__file__)
    spark_class = os.path.join(spark_home, "bin", "spark-class")
    env = {**os.environ, "SPARK_HOME": spark_home, "SPARK_LOCAL_IP": "127.0.0.1"}
    env["PYSPARK_PYTHON"] = sys.executable
    port, master_ui = free_port(), free_port()
    master = [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1"]
    master += ["--port", str(port), "--webui-port", str(master_ui)]
    processes, logs = [_start(master, logs_dir / "master.log", env)], [logs_dir / "master.log"]
    try:
        for i in range(WORKERS):
            worker = [spark_class, "org.apache.spark.deploy.worker.Worker", f"spark://127.0.0.1:{port}"]
            worker += ["--host", "127.0.0.1", "--cores", "1", "--memory", "2g"]
            worker += ["--work-dir", "/tmp/work", "--webui-port", str(free_port())]
            # A private tmpfs over /tmp: the worker, its executors and their Python workers see only it.
            private = ["unshare", "--mount", "--propagation", "private", "sh", "-c"]
            private += ['mount -t tmpfs tmpfs /tmp && exec "$@"', f"worker-{i}"]
            logs.append(logs_dir / f"worker-{i}.log")
            processes.append(_start(private + worker, logs[-1], env))
        _wait_for_workers(master_ui, processes, logs)
        yield f"spark://127.0.0.1:{port}"
    finally:
        for process in reversed(processes):
            stop_server(process)


@pytest.fixture(scope="session")
def spark(cluster):
    """The driver: this process, with one executor on each worker (1 core, 1 GB)."""
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master(cluster)
        .appName("mlflow-sparkonnx-cluster-tests")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.executor.memory", "1g")
        .config("spark.executor.cores", "1")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.task.maxFailures", "1")  # a task that cannot read a file fails the job at once
        # The workers share a host name but not a disk: shuffle blocks come over the network.
        .config("spark.shuffle.readHostLocalDisk", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session", autouse=True)
def shared_staging():
    """``MLFLOW_DFS_TMP`` pointed at the folder the driver and the workers share (a test may unset it)."""
    STAGING.mkdir(parents=True, exist_ok=True)
    previous = os.environ.get("MLFLOW_DFS_TMP")
    os.environ["MLFLOW_DFS_TMP"] = str(STAGING)
    yield STAGING
    if previous is None:
        os.environ.pop("MLFLOW_DFS_TMP", None)
    else:
        os.environ["MLFLOW_DFS_TMP"] = previous
