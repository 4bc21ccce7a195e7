"""Serving benchmark: our pyfunc (ONNX and Spark runtimes) against MLflow's built-in mlflow.spark pyfunc.

Three pipelines (``--models``, default all): ``lr``, Adult data through StringIndexer → OneHotEncoder →
VectorAssembler → LogisticRegression; ``rf``, Adult data through VectorAssembler(numeric) →
RandomForestClassifier(50 trees); ``text``, the article's Tokenizer → HashingTF(2^18) →
LogisticRegression on the generated documents of ``bench_text_memory.py``. For each, in one run:

- in process, each variant in a fresh subprocess: cold load (python start → first prediction, imports
  included), single-row ``predict`` p50/p99, batch throughput (10k rows; 1k for ``text``, whose
  HashingTF row is a dense 1 MiB inside the graph), and the peak RSS of the subprocess and its
  children (the JVM for Spark), sampled every 50 ms from /proc;
- cold load of ours-onnx again in ``--cold-repeats`` more fresh processes (the median is reported), and,
  with ``--serving-python PATH``, in fresh processes of that interpreter: the JVM-free serving
  environment (mlflow-skinny, no pyspark; see ``bench_env_size.py``), where ``import mlflow`` does not
  pull in pyspark. Both are divided into the mlflow.spark cold load of the same run;
- raw ``InferenceSession.run`` on prebuilt feeds (the floor under the ONNX pyfunc), in runs of the
  model's ``onnx_batch_rows`` as our runtime does (10k for ``lr``/``rf``, 16 for ``text``);
- every variant is given the model's input columns only (what a client sends: the signature's
  columns; extra columns would make MLflow log a warning on every call);
- ``mlflow models serve``: single-row request p50/p99 over HTTP (``dataframe_split``, keep-alive) and
  the server's process-tree RSS, for ours (onnx, and spark via MLFLOW_SPARKONNX_RUNTIME), mlflow.spark
  and mlflow.onnx serving the same graph with tensor ``inputs``.

Usage: ``python benchmarks/bench_serving.py [--models lr,rf,text] [--single-calls 300]
[--serving-python /path/to/venv/bin/python] [--out FILE]``. The serving interpreter needs this package
installed (``pip install --no-deps <checkout>``) and the same pandas major version (the held-out rows
are pickled).
Prints a markdown table and writes ``benchmarks/results/serving.json`` (all three models in one run:
each ratio in docs/benchmarks.md comes from one run). Run it alone on the machine: it is timing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "adult.csv"
CATEGORICAL = ["workclass", "education", "marital_status", "occupation", "sex"]
NUMERIC = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
MODELS = ("lr", "rf", "text")
VARIANTS = ("ours_onnx", "ours_spark", "mlflow_spark")
_CHILD_ENV = {"MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK": "true", "PYSPARK_PYTHON": sys.executable}


# ---- process trees ---------------------------------------------------------------------------


def tree_pids(pid: int) -> list[int]:
    """``pid`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(children.get(current, []))
    return found


def tree_rss_mb(pid: int) -> float:
    """Summed resident set size of ``pid``'s process tree, in MiB."""
    total_kb = 0
    for member in tree_pids(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024


class PeakRss:
    """Samples a process tree's RSS in a thread until stopped; ``peak_mb`` is the maximum seen."""

    def __init__(self, pid: int, interval_s: float = 0.05) -> None:
        self.pid, self.interval_s, self.peak_mb = pid, interval_s, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, tree_rss_mb(self.pid))
            time.sleep(self.interval_s)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_mb


def percentiles_ms(seconds: list[float]) -> dict[str, float]:
    import numpy as np

    values = np.asarray(seconds) * 1000
    return {"p50_ms": float(np.percentile(values, 50)), "p99_ms": float(np.percentile(values, 99))}


# ---- stage 1: train and save (a subprocess, so the parent holds no JVM) ------------------------


def holdout_path(workdir: Path, name: str) -> Path:
    """The held-out feature rows a model is scored on: Adult rows, or documents for ``text``."""
    return Path(workdir) / ("holdout-text.pkl" if name == "text" else "holdout.pkl")


def adult_data(args: argparse.Namespace):
    """(training rows with a float ``label``, held-out feature rows) from the Adult CSV."""
    import pandas as pd

    adult = pd.read_csv(args.data, skipinitialspace=True)
    # The label is made in pandas, so the PipelineModel is the same for every flavor (no label indexer
    # that mlflow.spark would run on 'income' at predict time).
    adult["label"] = (adult["income"].str.strip() == ">50K").astype("float64")
    train = adult.sample(n=min(args.train_rows, len(adult) - 2000), random_state=1)
    features = adult.drop(index=train.index).drop(columns=["income", "label"])
    return train.drop(columns=["income"]).reset_index(drop=True), features.reset_index(drop=True)


def text_data():
    """The article's data as ``bench_text_memory.py`` makes it: 600 generated documents (0-60 words,
    unicode included) labelled by whether they contain "fast"; 2,000 new documents held out."""
    import pandas as pd

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_text_memory import texts

    docs = texts(600, seed=1)
    train = pd.DataFrame({"text": docs, "label": [float("fast" in d) for d in docs]})
    return train, pd.DataFrame({"text": texts(2000, seed=3)})


def pipelines() -> dict:
    """The unfitted pipelines by model name, with the input columns each one reads."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression, RandomForestClassifier
    from pyspark.ml.feature import HashingTF, OneHotEncoder, StringIndexer, Tokenizer, VectorAssembler

    idx = [f"{c}_idx" for c in CATEGORICAL]
    ohe = [f"{c}_ohe" for c in CATEGORICAL]
    lr = [
        StringIndexer(inputCols=CATEGORICAL, outputCols=idx, handleInvalid="keep"),
        OneHotEncoder(inputCols=idx, outputCols=ohe, handleInvalid="keep"),
        VectorAssembler(inputCols=ohe + NUMERIC, outputCol="features"),
        LogisticRegression(maxIter=30, regParam=0.01),
    ]
    rf = [
        VectorAssembler(inputCols=NUMERIC, outputCol="features"),
        RandomForestClassifier(numTrees=50, maxDepth=8, seed=3),
    ]
    text = [  # the article's pipeline: HashingTF keeps Spark's default numFeatures = 2^18
        Tokenizer(inputCol="text", outputCol="words"),
        HashingTF(inputCol="words", outputCol="features"),
        LogisticRegression(maxIter=20, regParam=0.01),
    ]
    return {
        "lr": (Pipeline(stages=lr), CATEGORICAL + NUMERIC),
        "rf": (Pipeline(stages=rf), NUMERIC),
        "text": (Pipeline(stages=text), ["text"]),
    }


def prepare(args: argparse.Namespace) -> None:
    """Fit and save each model of ``args.models`` into ``args.workdir``, adding to its prepared.json."""
    import mlflow.onnx
    import mlflow.spark
    import onnx
    from pyspark.sql import SparkSession

    import mlflow_sparkonnx
    from mlflow_sparkonnx.contract import ModelContract

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("bench-serving-prepare")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    workdir = Path(args.workdir)
    prepared_path = workdir / "prepared.json"
    info = json.loads(prepared_path.read_text()) if prepared_path.exists() else {}
    unfitted = pipelines()
    datasets: dict = {}
    for name in args.models:
        data = "text" if name == "text" else "adult"
        if data not in datasets:
            train, holdout = text_data() if data == "text" else adult_data(args)
            holdout.to_pickle(holdout_path(workdir, name))
            datasets[data] = (train, spark.createDataFrame(train))
        train, train_df = datasets[data]
        pipeline, used = unfitted[name]
        example = train.drop(columns=["label"]).head(300).reset_index(drop=True)
        started = time.perf_counter()
        fitted = pipeline.fit(train_df)
        fit_s = time.perf_counter() - started
        ours, builtin = workdir / f"{name}-sparkonnx", workdir / f"{name}-mlflow-spark"
        started = time.perf_counter()
        mlflow_sparkonnx.save_model(fitted, str(ours), input_example=example)
        save_s = time.perf_counter() - started
        mlflow.spark.save_model(fitted, str(builtin), input_example=example[used].head(5))
        contract = ModelContract.read(str(ours))
        builtin_onnx = None
        if contract.verified:  # the same graph, served by MLflow's own onnx flavor
            builtin_onnx = workdir / f"{name}-mlflow-onnx"
            mlflow.onnx.save_model(onnx.load(str(ours / str(contract.onnx_model))), str(builtin_onnx))
        info[name] = {
            "fit_s": fit_s,
            "sparkonnx_save_s": save_s,
            "onnx_status": contract.onnx_status.value,
            "onnx_reason": contract.onnx_reason,
            "onnx_batch_rows": contract.onnx_batch_rows,
            "ours": str(ours),
            "mlflow_spark": str(builtin),
            "mlflow_onnx": str(builtin_onnx) if builtin_onnx else None,
            "graph_inputs": [c.name for c in contract.inputs],
        }
        print(
            f"{name}: fitted in {fit_s:.1f} s, saved in {save_s:.1f} s, ONNX {contract.onnx_status}",
            flush=True,
        )
    prepared_path.write_text(json.dumps(info, indent=2))


# ---- stage 2: one variant in a fresh interpreter ----------------------------------------------


def measure_variant(spec: dict) -> dict:
    """Runs in the subprocess; ``spec["t0"]`` is the parent's clock just before it started us."""
    import mlflow.pyfunc
    import pandas as pd

    frame = pd.read_pickle(spec["holdout"])[spec["columns"]]  # what a client sends: the signature's columns
    if spec["variant"] == "mlflow_spark":
        model = mlflow.pyfunc.load_model(spec["path"])
    else:
        runtime = spec["variant"].removeprefix("ours_")
        model = mlflow.pyfunc.load_model(spec["path"], model_config={"runtime": runtime})
    model.predict(frame.head(1))
    result = {"cold_load_s": time.time() - spec["t0"], "rss_after_first_mb": tree_rss_mb(os.getpid())}
    if spec.get("cold_only"):
        result["python"] = sys.executable
        result["pyspark_imported"] = "pyspark" in sys.modules
        return result

    rows = [frame.iloc[[i % len(frame)]] for i in range(spec["single_calls"])]
    for row in rows[:5]:
        model.predict(row)
    latencies = []
    for row in rows:
        started = time.perf_counter()
        model.predict(row)
        latencies.append(time.perf_counter() - started)
    result["single"] = percentiles_ms(latencies)

    batch = frame.sample(n=spec["batch_rows"], replace=len(frame) < spec["batch_rows"], random_state=0)
    batch = batch.reset_index(drop=True)
    model.predict(batch)  # warm-up
    timings = []
    for _ in range(spec["batch_repeats"]):
        started = time.perf_counter()
        model.predict(batch)
        timings.append(time.perf_counter() - started)
    result["batch_rows_per_s"] = spec["batch_rows"] / min(timings)

    if spec["variant"] == "ours_onnx":
        from mlflow_sparkonnx.scoring.schema import coerce_inputs

        raw_model = model.get_raw_model()
        latencies = []
        for row in rows:  # our predict without MLflow's PyFuncModel wrapper (schema enforcement)
            started = time.perf_counter()
            raw_model.predict(row)
            latencies.append(time.perf_counter() - started)
        result["raw_model_single"] = percentiles_ms(latencies)
        runtime_impl = raw_model.runtime_impl
        feeds = [runtime_impl.feeds(coerce_inputs(row, raw_model.inputs)) for row in rows]
        latencies = []
        for feed in feeds:
            started = time.perf_counter()
            runtime_impl.run_feeds(feed)
            latencies.append(time.perf_counter() - started)
        # The batch in runs of the model's onnx_batch_rows, as our runtime does (one run for lr/rf,
        # runs of 16 rows for text: one run of 1k dense 2^18 rows would need over 2 GB).
        step = runtime_impl.batch_rows
        whole = runtime_impl.feeds(coerce_inputs(batch, raw_model.inputs))
        batch_feeds = [{k: v[i : i + step] for k, v in whole.items()} for i in range(0, len(batch), step)]
        for feed in batch_feeds:
            runtime_impl.run_feeds(feed)
        timings = []
        for _ in range(spec["batch_repeats"]):
            started = time.perf_counter()
            for feed in batch_feeds:
                runtime_impl.run_feeds(feed)
            timings.append(time.perf_counter() - started)
        result["raw_onnx"] = {
            **percentiles_ms(latencies),
            "batch_rows_per_s": spec["batch_rows"] / min(timings),
            "rows_per_run": step,
        }
    return result


def run_variant(spec: dict, python: str = sys.executable) -> dict:
    """``measure_variant(spec)`` in a fresh ``python`` process (the clock starts just before it)."""
    spec = {**spec, "t0": time.time()}
    process = subprocess.Popen(
        [python, __file__, "--worker", json.dumps(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **_CHILD_ENV},
    )
    sampler = PeakRss(process.pid)
    stdout, stderr = process.communicate(timeout=1800)
    peak = sampler.stop()
    if process.returncode != 0:
        raise RuntimeError(f"{spec['variant']} on {spec['path']} with {python} failed:\n{stderr[-4000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_rss_mb"] = peak
    return result


_PROBE = """
import json, sys
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
def v(p):
    try:
        return version(p)
    except PackageNotFoundError:
        return None
packages = ("mlflow", "mlflow-skinny", "mlflow-sparkonnx", "onnxruntime", "pandas", "pyspark")
print(json.dumps({"python": sys.executable, "version": sys.version.split()[0],
                  "pyspark_installed": find_spec("pyspark") is not None, **{p: v(p) for p in packages}}))
"""


def shown_path(path: str) -> str:
    """An interpreter's path as the results record it: relative to the repository, else its last parts
    (a result file holds no path of the machine that made it)."""
    resolved = Path(path).absolute()
    if resolved.is_relative_to(ROOT):
        return str(resolved.relative_to(ROOT))
    return str(Path("...", *resolved.parts[-3:]))


def without_machine_paths(value: Any) -> Any:
    """``value`` with every absolute path shown as :func:`shown_path` does (results are committed)."""
    if isinstance(value, dict):
        return {k: without_machine_paths(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_machine_paths(v) for v in value]
    if isinstance(value, str) and value.startswith("/"):
        return shown_path(value)
    return value


def describe_interpreter(python: str) -> dict:
    """Which packages an interpreter has (does it hold full mlflow, pyspark?)."""
    out = subprocess.run([python, "-c", _PROBE], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def cold_loads(spec: dict, python: str, repeats: int) -> list[float]:
    """Cold load (fresh ``python`` process → first prediction) of ``spec``'s model, ``repeats`` times."""
    return [run_variant({**spec, "cold_only": True}, python)["cold_load_s"] for _ in range(repeats)]


def cold_load_summary(samples: list[float], python: str, mlflow_spark_s: float) -> dict:
    import statistics

    median = statistics.median(samples)
    return {
        "python": python,
        "samples_s": samples,
        "median_s": median,
        "mlflow_spark_s": mlflow_spark_s,
        "mlflow_spark_over_ours": mlflow_spark_s / median,
    }


# ---- stage 3: mlflow models serve ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request_bodies(frame, calls: int, tensor_inputs: list[str] | None) -> list[str]:
    """One single-row JSON body per call: ``dataframe_split``, or (for mlflow.onnx) tensor ``inputs``."""
    bodies = []
    for i in range(calls):
        row = frame.iloc[[i % len(frame)]]
        if tensor_inputs is None:
            split = json.loads(row.to_json(orient="split", index=False))
            bodies.append(json.dumps({"dataframe_split": split}))
        else:  # shape [1, 1] per graph input; numbers as floats (the graph's inputs are doubles)
            values = {c: row[c].iloc[0] for c in tensor_inputs}
            cells = {c: [[v if isinstance(v, str) else float(v)]] for c, v in values.items()}
            bodies.append(json.dumps({"inputs": cells}))
    return bodies


@contextlib.contextmanager
def served(model_path: str, env: dict[str, str], log_path: Path) -> Iterator[tuple[str, int, float]]:
    """``mlflow models serve`` on a free loopback port: yields (url, server pid, start-up seconds)."""
    import requests

    port = free_port()
    bin_dir = os.path.dirname(sys.executable)
    full_env = {k: v for k, v in os.environ.items() if k != "MLFLOW_SPARKONNX_RUNTIME"}
    full_env.update(_CHILD_ENV, PATH=f"{bin_dir}{os.pathsep}{full_env.get('PATH', '')}", **env)
    command = [os.path.join(bin_dir, "mlflow"), "models", "serve", "-m", model_path, "--env-manager", "local"]
    command += ["-h", "127.0.0.1", "-p", str(port)]
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"server for {model_path} exited; see {log_path}")
                if time.perf_counter() - started > 300:
                    raise RuntimeError(f"server for {model_path} did not start; see {log_path}")
                try:
                    if requests.get(f"{url}/ping", timeout=2).status_code == 200:
                        break
                except requests.ConnectionError:
                    pass
                time.sleep(0.2)
            yield url, process.pid, time.perf_counter() - started
        finally:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
            except ProcessLookupError:
                pass


def measure_server(
    model_path: str,
    env: dict[str, str],
    frame,
    calls: int,
    log_path: Path,
    tensor_inputs: list[str] | None = None,
) -> dict:
    import requests

    with served(model_path, env, log_path) as (url, pid, startup_s):
        session = requests.Session()
        bodies = request_bodies(frame, calls, tensor_inputs)
        headers = {"Content-Type": "application/json"}
        for body in bodies[:5]:
            response = session.post(f"{url}/invocations", data=body, headers=headers, timeout=120)
            response.raise_for_status()
        latencies = []
        for body in bodies:
            t = time.perf_counter()
            response = session.post(f"{url}/invocations", data=body, headers=headers, timeout=120)
            latencies.append(time.perf_counter() - t)
            response.raise_for_status()
        return {"startup_s": startup_s, **percentiles_ms(latencies), "server_rss_mb": tree_rss_mb(pid)}


# ---- report -----------------------------------------------------------------------------------


def ratios(result: dict) -> dict:
    """mlflow.spark figure ÷ ours-onnx figure (throughput: ours ÷ theirs), so > 1 means ours is better."""
    ours, theirs = result["in_process"]["ours_onnx"], result["in_process"]["mlflow_spark"]
    out = {
        "single_p50": theirs["single"]["p50_ms"] / ours["single"]["p50_ms"],
        "single_p99": theirs["single"]["p99_ms"] / ours["single"]["p99_ms"],
        "batch_throughput": ours["batch_rows_per_s"] / theirs["batch_rows_per_s"],
        "cold_load": theirs["cold_load_s"] / ours["cold_load_s"],
        "peak_rss": theirs["peak_rss_mb"] / ours["peak_rss_mb"],
    }
    http = result.get("http", {})
    if "ours_onnx" in http and "mlflow_spark" in http:
        out["http_p50"] = http["mlflow_spark"]["p50_ms"] / http["ours_onnx"]["p50_ms"]
        out["http_p99"] = http["mlflow_spark"]["p99_ms"] / http["ours_onnx"]["p99_ms"]
        out["server_rss"] = http["mlflow_spark"]["server_rss_mb"] / http["ours_onnx"]["server_rss_mb"]
    if "ours_onnx" in http and "mlflow_onnx" in http:  # targets: <= 1.5 and <= 1.2
        out["http_p50_ours_over_mlflow_onnx"] = http["ours_onnx"]["p50_ms"] / http["mlflow_onnx"]["p50_ms"]
        out["server_rss_ours_over_mlflow_onnx"] = (
            http["ours_onnx"]["server_rss_mb"] / http["mlflow_onnx"]["server_rss_mb"]
        )
    for where, cold in result.get("cold_load", {}).items():  # target: >= 8, medians of fresh processes
        out[f"cold_load_median_{where}"] = cold["mlflow_spark_over_ours"]
    raw = result["in_process"]["ours_onnx"].get("raw_onnx")
    if raw:  # targets: p50 <= floor + 0.15 ms; throughput >= 0.8x the floor
        out["single_p50_over_floor_ms"] = ours["single"]["p50_ms"] - raw["p50_ms"]
        out["raw_single_p50_over_floor_ms"] = ours["raw_model_single"]["p50_ms"] - raw["p50_ms"]
        out["batch_throughput_vs_floor"] = ours["batch_rows_per_s"] / raw["batch_rows_per_s"]
    return out


def markdown(results: dict) -> str:
    lines = []
    header = (
        "| model | variant | single p50 ms | single p99 ms | batch rows/s | cold load s | peak RSS MB "
        "| HTTP p50 ms | HTTP p99 ms | server RSS MB |"
    )
    lines += [header, "|" + "---|" * 10]
    for name, result in results["models"].items():
        label = f"{name} ({result['onnx_status']}; batches of {result.get('batch_rows', 10000):,} rows)"
        raw = result["in_process"]["ours_onnx"].get("raw_onnx")
        if raw:
            lines.append(
                f"| {label} | raw onnxruntime run | {raw['p50_ms']:.3f} | {raw['p99_ms']:.3f} "
                f"| {raw['batch_rows_per_s']:,.0f} | | | | | |"
            )
        for variant in (*VARIANTS, "mlflow_onnx"):
            m = result["in_process"].get(variant)
            h = result.get("http", {}).get(variant)
            if m is None and h is not None:  # served only: mlflow.onnx with tensor inputs
                lines.append(
                    f"| {label} | {variant.replace('_', ' ')} (tensor `inputs`) | | | | | "
                    f"| {h['p50_ms']:.2f} | {h['p99_ms']:.2f} | {h['server_rss_mb']:.0f} |"
                )
            if m is None:
                continue
            if variant == "ours_onnx":
                w = m["raw_model_single"]
                lines.append(
                    f"| {label} | ours onnx, without MLflow's wrapper | {w['p50_ms']:.3f} "
                    f"| {w['p99_ms']:.3f} | | | | | | |"
                )
            http_cells = f"{h['p50_ms']:.2f} | {h['p99_ms']:.2f} | {h['server_rss_mb']:.0f}" if h else " | | "
            single = m["single"]
            lines.append(
                f"| {label} | {variant.replace('_', ' ')} | {single['p50_ms']:.2f} | {single['p99_ms']:.2f} "
                f"| {m['batch_rows_per_s']:,.0f} | {m['cold_load_s']:.1f} | {m['peak_rss_mb']:.0f} "
                f"| {http_cells} |"
            )
        r = result["ratios"]
        lines.append(
            f"| {label} | **mlflow.spark ÷ ours-onnx** | {r['single_p50']:.0f}× | {r['single_p99']:.0f}× "
            f"| {r['batch_throughput']:.1f}× (ours ÷ theirs) | {r['cold_load']:.1f}× | {r['peak_rss']:.1f}× "
            f"| {r.get('http_p50', float('nan')):.1f}× | {r.get('http_p99', float('nan')):.1f}× "
            f"| {r.get('server_rss', float('nan')):.1f}× |"
        )
        if "http_p50_ours_over_mlflow_onnx" in r:
            lines.append(
                f"| {label} | **ours-onnx ÷ mlflow.onnx (tensor inputs)** | | | | | "
                f"| {r['http_p50_ours_over_mlflow_onnx']:.2f}× | "
                f"| {r['server_rss_ours_over_mlflow_onnx']:.2f}× |"
            )
    return "\n".join(lines)


def describe(info: dict) -> str:
    """``/path/bin/python (mlflow-skinny 3.17.2, no pyspark)``: what an interpreter's figures came from."""
    if info.get("mlflow"):
        mlflow = f"mlflow {info['mlflow']}"
    else:
        mlflow = f"mlflow-skinny {info.get('mlflow-skinny')}"
    pyspark = f"pyspark {info['pyspark']}" if info.get("pyspark_installed") else "no pyspark"
    return f"`{info['python']}` ({mlflow}, {pyspark})"


def cold_load_markdown(results: dict) -> str:
    """Cold load of ours-onnx per interpreter, each divided into mlflow.spark's (dev venv, same run)."""
    lines = [
        "| model | ours-onnx cold load: interpreter | median s (samples) | mlflow.spark (dev venv) s "
        "| mlflow.spark ÷ ours |",
        "|" + "---|" * 5,
    ]
    interpreters = results.get("interpreters", {})
    for name, result in results["models"].items():
        for where, c in result.get("cold_load", {}).items():
            samples = ", ".join(f"{x:.2f}" for x in c["samples_s"])
            who = describe(interpreters[where]) if where in interpreters else f"`{c['python']}`"
            lines.append(
                f"| {name} | {where}: {who} | {c['median_s']:.2f} ({samples}) | {c['mlflow_spark_s']:.1f} "
                f"| {c['mlflow_spark_over_ours']:.1f}× |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="the Adult CSV")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated, of: lr, rf, text")
    parser.add_argument("--train-rows", type=int, default=20000)
    parser.add_argument("--single-calls", type=int, default=300, help="single-row predictions (ONNX)")
    parser.add_argument("--spark-single-calls", type=int, default=100, help="single-row predictions (Spark)")
    parser.add_argument("--batch-rows", type=int, default=10000, help="rows per timed batch (lr, rf)")
    parser.add_argument("--text-batch-rows", type=int, default=1000, help="rows per timed batch (text)")
    parser.add_argument("--batch-repeats", type=int, default=3, help="timed batches (best is reported)")
    parser.add_argument("--http-calls", type=int, default=200, help="single-row requests (ONNX server)")
    parser.add_argument("--spark-http-calls", type=int, default=100, help="single-row requests (Spark)")
    parser.add_argument("--no-http", action="store_true", help="skip the mlflow models serve part")
    parser.add_argument(
        "--cold-repeats",
        type=int,
        default=3,
        help="fresh processes measuring ours-onnx cold load per interpreter (the median is reported; "
        "in this interpreter the full-variant process is one of them)",
    )
    parser.add_argument(
        "--serving-python",
        default=None,
        help="also measure ours-onnx cold load with this interpreter (e.g. a JVM-free venv's bin/python)",
    )
    parser.add_argument("--workdir", default=None, help="where models go (default: a temporary directory)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "serving.json"))
    parser.add_argument("--stage", default="all", choices=["all", "prepare"], help=argparse.SUPPRESS)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(args.models) - set(MODELS))
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")

    if args.worker:
        print(json.dumps(measure_variant(json.loads(args.worker))))
        return
    if args.stage == "prepare":
        prepare(args)
        return

    os.environ.update(_CHILD_ENV)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-serving-"))
    workdir.mkdir(parents=True, exist_ok=True)
    prepared_path = workdir / "prepared.json"
    prepared = json.loads(prepared_path.read_text()) if prepared_path.exists() else {}
    missing = [name for name in args.models if name not in prepared]
    if missing:
        forwarded = [
            "--data",
            args.data,
            "--models",
            ",".join(missing),
            "--train-rows",
            str(args.train_rows),
        ]
        subprocess.run(
            [sys.executable, __file__, "--stage", "prepare", "--workdir", str(workdir), *forwarded],
            check=True,
            env={**os.environ, **_CHILD_ENV},
            stderr=subprocess.DEVNULL,
        )
        prepared = json.loads(prepared_path.read_text())

    import pandas as pd

    results: dict = {
        "machine": machine_info(),
        "config": {k: v for k, v in vars(args).items() if k != "worker"},
        "interpreters": {"dev": describe_interpreter(sys.executable)},
    }
    if args.serving_python:
        results["interpreters"]["serving"] = describe_interpreter(args.serving_python)
    results["models"] = {}
    for name in args.models:
        info = prepared[name]
        result: dict = {k: v for k, v in info.items() if k not in ("ours", "mlflow_spark")}
        result["batch_rows"] = args.text_batch_rows if name == "text" else args.batch_rows
        result["in_process"] = {}
        for variant in VARIANTS:
            if variant == "ours_onnx" and info["onnx_status"] != "verified":
                continue
            spark = variant != "ours_onnx"
            spec = {
                "variant": variant,
                "path": info["mlflow_spark"] if variant == "mlflow_spark" else info["ours"],
                "holdout": str(holdout_path(workdir, name)),
                "columns": info["graph_inputs"],
                "single_calls": args.spark_single_calls if spark else args.single_calls,
                "batch_rows": result["batch_rows"],
                "batch_repeats": 1 if spark else args.batch_repeats,
            }
            print(f"{name}: {variant} in process ...", flush=True)
            result["in_process"][variant] = run_variant(spec)
        ours = result["in_process"].get("ours_onnx")
        if ours is not None and "mlflow_spark" in result["in_process"]:
            spark_s = result["in_process"]["mlflow_spark"]["cold_load_s"]
            spec = {
                "variant": "ours_onnx",
                "path": info["ours"],
                "holdout": str(holdout_path(workdir, name)),
                "columns": info["graph_inputs"],
            }
            print(f"{name}: ours_onnx cold load x{args.cold_repeats} ...", flush=True)
            samples = [ours["cold_load_s"], *cold_loads(spec, sys.executable, args.cold_repeats - 1)]
            result["cold_load"] = {"dev": cold_load_summary(samples, sys.executable, spark_s)}
            if args.serving_python:
                print(f"{name}: ours_onnx cold load x{args.cold_repeats} with {args.serving_python} ...")
                samples = cold_loads(spec, args.serving_python, args.cold_repeats)
                result["cold_load"]["serving"] = cold_load_summary(samples, args.serving_python, spark_s)
        if not args.no_http:
            result["http"] = {}
            servers = {
                "ours_onnx": (info["ours"], {}, args.http_calls),
                "ours_spark": (info["ours"], {"MLFLOW_SPARKONNX_RUNTIME": "spark"}, args.spark_http_calls),
                "mlflow_spark": (info["mlflow_spark"], {}, args.spark_http_calls),
                "mlflow_onnx": (info.get("mlflow_onnx"), {}, args.http_calls),
            }
            for variant, (path, env, calls) in servers.items():
                if path is None or (variant != "mlflow_onnx" and variant not in result["in_process"]):
                    continue
                print(f"{name}: {variant} over HTTP ...", flush=True)
                log_path = workdir / f"serve-{name}-{variant}.log"
                tensors = info["graph_inputs"] if variant == "mlflow_onnx" else None
                holdout = pd.read_pickle(holdout_path(workdir, name))[info["graph_inputs"]]
                result["http"][variant] = measure_server(path, env, holdout, calls, log_path, tensors)
        result["ratios"] = ratios(result)
        results["models"][name] = result

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(without_machine_paths(results), indent=2))
    print()
    print(markdown(results))
    print()
    print(cold_load_markdown(results))
    print(f"\nWritten to {out}")


def machine_info() -> dict:
    from importlib.metadata import version

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        **{p: version(p) for p in ("mlflow", "pyspark", "onnxruntime", "pandas")},
    }


if __name__ == "__main__":
    main()
