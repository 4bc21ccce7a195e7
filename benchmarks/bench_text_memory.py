"""Memory of the article's text pipeline (Tokenizer → HashingTF(2^18) → LogisticRegression) on ONNX.

HashingTF's output is dense inside the graph (1 MiB of float32 per row at 2^18 features). Each
scenario runs in a fresh Python process without Spark or a JVM and reports that process's peak
RSS (``VmHWM``): imports only, then the pyfunc loaded with the ONNX runtime (session
created), then one predict of 1 row or of 1,000 rows (the runtime scores 16 rows per ``run``),
and, for comparison, one raw ``InferenceSession.run`` on 1,000 rows at once.

    python benchmarks/bench_text_memory.py   # writes benchmarks/results/text_memory.json
"""

from __future__ import annotations

import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORDS = "spark onnx mlflow model serve fast slow jvm python data école 日本語".split()
SCENARIOS = ["imports", "load", "predict_1", "predict_1000", "raw_run_1000"]


def texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 60))) for _ in range(n)]


def build_model(directory: Path) -> Path:
    """Fit and save the article's pipeline with the flavor (needs Spark); return the model path."""
    import pandas as pd
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import HashingTF, Tokenizer
    from pyspark.sql import SparkSession

    import mlflow_sparkonnx

    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    docs = texts(600, seed=1)
    train = pd.DataFrame({"text": docs, "label": [float("fast" in d) for d in docs]})
    stages = [
        Tokenizer(inputCol="text", outputCol="words"),
        HashingTF(inputCol="words", outputCol="features"),
        LogisticRegression(maxIter=20, regParam=0.01),
    ]
    model = Pipeline(stages=stages).fit(spark.createDataFrame(train))
    path = directory / "article"
    mlflow_sparkonnx.save_model(model, str(path), input_example=train[["text"]])
    spark.stop()
    return path


def peak_rss_mb() -> float:
    """This process's peak RSS since exec (``VmHWM``; ``ru_maxrss`` would include the forking parent's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_scenario(scenario: str, path: str) -> dict[str, float]:
    """One measurement in this (fresh) process."""
    import mlflow.pyfunc
    import pandas as pd

    result: dict[str, float] = {}
    if scenario == "imports":
        return {"peak_rss_mb": peak_rss_mb()}
    model = mlflow.pyfunc.load_model(path, model_config={"runtime": "onnx"})
    result["after_load_rss_mb"] = peak_rss_mb()
    if scenario == "predict_1":
        one = pd.DataFrame({"text": texts(1, seed=2)})
        model.predict(one)
        times = []
        for _ in range(200):
            start = time.perf_counter()
            model.predict(one)
            times.append(time.perf_counter() - start)
        result["single_row_p50_ms"] = sorted(times)[len(times) // 2] * 1000
    elif scenario == "predict_1000":
        frame = pd.DataFrame({"text": texts(1000, seed=3)})
        start = time.perf_counter()
        model.predict(frame)
        result["seconds"] = time.perf_counter() - start
    elif scenario == "raw_run_1000":
        runtime = model.get_raw_model()._runtime
        import numpy as np

        feeds = {"text": np.array(texts(1000, seed=3), dtype=object).reshape(-1, 1)}
        start = time.perf_counter()
        runtime.run_feeds(feeds)
        result["seconds"] = time.perf_counter() - start
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def main() -> None:
    if len(sys.argv) == 3:  # child: one scenario
        print(json.dumps(run_scenario(sys.argv[1], sys.argv[2])))
        return
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK", "true")
    with tempfile.TemporaryDirectory() as tmp:
        path = build_model(Path(tmp))
        conf_text = (path / "MLmodel").read_text()
        assert "onnx_status: verified" in conf_text, conf_text
        results = {}
        for scenario in SCENARIOS:
            out = subprocess.run(
                [sys.executable, __file__, scenario, str(path)], capture_output=True, text=True, check=True
            )
            results[scenario] = json.loads(out.stdout.strip().splitlines()[-1])
            print(scenario, results[scenario], flush=True)
    report = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "model": "Tokenizer -> HashingTF(numFeatures=2^18) -> LogisticRegression, ONNX runtime",
        "results": results,
    }
    out_path = ROOT / "benchmarks" / "results" / "text_memory.json"
    out_path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
