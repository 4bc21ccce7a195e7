"""Load on `mlflow models serve`: many concurrent clients for a fixed time, on loopback.

Serves one sparkonnx model (ONNX runtime unless ``--runtime spark``), then runs ``--clients``
threads, each with its own keep-alive session, sending single-row ``dataframe_split`` requests
(rows from the Adult data, one in twenty-five a deliberately bad request that must get HTTP 400)
for ``--seconds``. Reports requests/s, p50/p99 latency, unexpected errors (anything but 200 for a
good request and 400 for a bad one) and the server's process-tree RSS before and after.

Usage: ``python benchmarks/bench_load.py --model PATH`` (a saved sparkonnx model directory; by
default the LR model that ``bench_serving.py --stage prepare --workdir W`` writes to
``W/lr-sparkonnx``). Writes ``benchmarks/results/load.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serving import DEFAULT_DATA, ROOT, percentiles_ms, served, tree_rss_mb  # noqa: E402

BAD_EVERY = 25


def client(
    url: str, bodies: list[tuple[str, bool]], stop_at: float, results: list, lock: threading.Lock
) -> None:
    session = requests.Session()
    latencies, unexpected, count = [], [], 0
    headers = {"Content-Type": "application/json"}
    while time.perf_counter() < stop_at:
        body, good = bodies[count % len(bodies)]
        count += 1
        started = time.perf_counter()
        try:
            response = session.post(f"{url}/invocations", data=body, headers=headers, timeout=60)
            status = response.status_code
        except requests.RequestException as exc:
            status = repr(exc)
        latencies.append(time.perf_counter() - started)
        if status != (200 if good else 400):
            unexpected.append(status)
    with lock:
        results.append((latencies, unexpected))


def request_bodies(frame: pd.DataFrame, columns: list[str], n: int) -> list[tuple[str, bool]]:
    bodies = []
    for i in range(n):
        row = frame.iloc[[i % len(frame)]][columns]
        good = i % BAD_EVERY != BAD_EVERY - 1
        if not good:  # text in a numeric column: must be refused with HTTP 400, naming the column
            row = row.astype(object)
            row.iloc[0, columns.index("age")] = "forty"
        split = json.loads(row.to_json(orient="split", index=False))
        bodies.append((json.dumps({"dataframe_split": split}), good))
    return bodies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a saved sparkonnx model directory")
    parser.add_argument("--runtime", default="onnx", choices=["onnx", "spark"])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "load.json"))
    args = parser.parse_args()

    import yaml

    conf = yaml.safe_load((Path(args.model) / "MLmodel").read_text())["flavors"]["sparkonnx"]
    columns = [c["name"] for c in conf["inputs"]]
    frame = pd.read_csv(args.data, skipinitialspace=True)
    bodies = request_bodies(frame.sample(n=500, random_state=3), columns, 500)
    env = {"MLFLOW_SPARKONNX_RUNTIME": args.runtime}
    log_path = Path(tempfile.gettempdir()) / "bench-load-server.log"
    with served(args.model, env, log_path) as (url, pid, startup_s):
        for body, _good in bodies[:20]:  # warm-up, and the first RSS reading after it
            requests.post(f"{url}/invocations", data=body, headers={"Content-Type": "application/json"})
        rss_before = tree_rss_mb(pid)
        results: list = []
        lock = threading.Lock()
        stop_at = time.perf_counter() + args.seconds
        threads = [
            threading.Thread(target=client, args=(url, bodies[i:] + bodies[:i], stop_at, results, lock))
            for i in range(args.clients)
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        rss_after = tree_rss_mb(pid)
    latencies = [x for lat, _ in results for x in lat]
    unexpected = [x for _, bad in results for x in bad]
    out = {
        "model": args.model,
        "runtime": args.runtime,
        "clients": args.clients,
        "seconds": round(elapsed, 1),
        "server_startup_s": round(startup_s, 1),
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        **{k: round(v, 2) for k, v in percentiles_ms(latencies).items()},
        "unexpected_responses": len(unexpected),
        "unexpected_examples": [str(x) for x in unexpected[:5]],
        "server_rss_mb_before": round(rss_before, 1),
        "server_rss_mb_after": round(rss_after, 1),
        "server_rss_growth": round(rss_after / rss_before - 1, 4),
    }
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
