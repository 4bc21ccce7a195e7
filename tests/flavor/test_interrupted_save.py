"""A save killed midway (SIGKILL, no chance to clean up) leaves nothing at the target path, and the
next save to that path removes what the killed one left beside it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import mlflow_sparkonnx

SAVE_SCRIPT = """
import sys
import pandas as pd
from pyspark.ml import Pipeline
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import VectorAssembler
from pyspark.sql import SparkSession
import mlflow_sparkonnx

spark = (SparkSession.builder.master("local[1]").config("spark.driver.host", "127.0.0.1")
         .config("spark.ui.enabled", "false").getOrCreate())
frame = pd.DataFrame({"x": [float(i % 17) for i in range(200)], "y": [float(i % 5) for i in range(200)]})
frame["label"] = (frame["x"] > 8).astype(float)
model = Pipeline(stages=[VectorAssembler(inputCols=["x", "y"], outputCol="features"),
                         LogisticRegression(maxIter=5)]).fit(spark.createDataFrame(frame))
print("fitted", flush=True)
mlflow_sparkonnx.save_model(model, sys.argv[1], input_example=frame[["x", "y"]])
print("saved", flush=True)
"""


def staging_dirs(target: Path, pid: int | None = None) -> list[Path]:
    prefix = f".{target.name}.sparkonnx-" + (f"{pid}-" if pid is not None else "")
    return [p for p in target.parent.iterdir() if p.name.startswith(prefix)]


def kill_once_staging_appears(target: Path, timeout_s: float = 600) -> bool:
    """Run the save in a child process and SIGKILL it while its staging directory exists."""
    process = subprocess.Popen(
        [sys.executable, "-c", SAVE_SCRIPT, str(target)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the JVM dies with the group
    )
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if staging_dirs(target, process.pid):
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=60)
                return True
            time.sleep(0.005)
        return False
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=60)


@pytest.mark.slow
def test_killed_save_leaves_no_model_and_the_next_save_cleans_up(tmp_path, lr_pipeline, adult_train):
    for attempt in range(3):  # the staging window is short; a save that finished first is retried
        target = tmp_path / f"model-{attempt}"
        if kill_once_staging_appears(target):
            break
        assert target.exists(), "the child neither reached staging nor saved"
    else:
        pytest.fail("never caught a save while its staging directory existed")

    assert not target.exists(), "a killed save must leave nothing at the target path"
    assert staging_dirs(target), "the killed save's staging directory is the leftover under test"

    mlflow_sparkonnx.save_model(lr_pipeline, str(target), input_example=adult_train.head(50))
    assert (target / "MLmodel").exists() and (target / "sparkml.zip").exists()
    assert staging_dirs(target) == [], "the next save removes what the killed one left"
