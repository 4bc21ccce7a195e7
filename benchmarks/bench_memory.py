"""Peak memory of scoring large frames through the pyfunc's ONNX runtime.

For each frame size, a fresh interpreter loads the model, builds the frame from the Adult data
(rows repeated), and scores it once; the report gives the interpreter's peak RSS before and after
``predict``, and the size of the input frame and of the result, so the scoring overhead can be
seen apart from the data itself. The ONNX runtime runs the graph in chunks of ``onnx_batch_rows``
rows (10,000 by default), so what grows with the frame is the input and the output, not the graph's
intermediates.

Usage: ``python benchmarks/bench_memory.py --model PATH [--rows 10000,100000,1000000]``;
writes ``benchmarks/results/memory.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "adult.csv"

CHILD = """
import json, resource, sys
import pandas as pd, mlflow.pyfunc

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

model_path, data_path, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
model = mlflow.pyfunc.load_model(model_path, model_config={"runtime": "onnx"})
adult = pd.read_csv(data_path, skipinitialspace=True).drop(columns=["income"])
frame = pd.concat([adult] * (rows // len(adult) + 1), ignore_index=True).head(rows)
model.predict(frame.head(10))
before = peak_mb()
out = model.predict(frame)
after = peak_mb()
print(json.dumps({
    "rows": rows,
    "input_frame_mb": frame.memory_usage(deep=True).sum() / 2**20,
    "output_frame_mb": out.memory_usage(deep=True).sum() / 2**20,
    "peak_rss_before_predict_mb": before,
    "peak_rss_after_predict_mb": after,
    "rows_out": len(out),
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--rows", default="10000,100000,1000000")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "memory.json"))
    args = parser.parse_args()
    results = []
    for rows in [int(r) for r in args.rows.split(",")]:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, args.model, args.data, str(rows)],
            check=True,
            capture_output=True,
            text=True,
            env={"MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK": "true", "PATH": str(Path(sys.executable).parent)},
        )
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result["predict_growth_mb"] = (
            result["peak_rss_after_predict_mb"] - result["peak_rss_before_predict_mb"]
        )
        results.append(result)
        r = result
        print(
            f"{rows:>9,} rows: input {r['input_frame_mb']:.0f} MB, output {r['output_frame_mb']:.0f} MB, "
            f"peak RSS {r['peak_rss_before_predict_mb']:.0f} -> {r['peak_rss_after_predict_mb']:.0f} MB",
            flush=True,
        )
    Path(args.out).write_text(json.dumps({"model": args.model, "results": results}, indent=2))


if __name__ == "__main__":
    main()
