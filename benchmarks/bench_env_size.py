"""Size on disk of the two serving environments a sparkonnx model can need.

- JVM-free: the requirements a model with a verified ONNX graph records (no pyspark), plus this
  package from the checkout.
- Spark: the requirements of a model without a verified graph (pyspark added), plus the Java
  runtime pyspark needs (measured as the installed JRE's directory).

Each environment is a fresh virtualenv built with pip, measured with ``du``. Usage:
``python benchmarks/bench_env_size.py [--keep DIR]``; writes ``benchmarks/results/env_size.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build_env(where: Path, requirements: list[str]) -> float:
    """A virtualenv with ``requirements`` and this package (no deps); returns seconds taken."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    pip = [str(where / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, *requirements], check=True)
    subprocess.run([*pip, "--no-deps", str(ROOT)], check=True)
    return time.perf_counter() - started


def size_mb(path: Path) -> float:
    out = subprocess.run(["du", "-sk", str(path)], check=True, capture_output=True, text=True).stdout
    return int(out.split()[0]) / 1024


def java_home() -> Path | None:
    java = shutil.which("java")
    if java is None:
        return None
    # .../jvm/java-17-openjdk-amd64/bin/java → .../jvm/java-17-openjdk-amd64
    return Path(java).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", default=None, help="build the environments here and keep them")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "env_size.json"))
    args = parser.parse_args()

    from mlflow_sparkonnx.flavor.model import get_default_pip_requirements

    workdir = Path(args.keep or tempfile.mkdtemp(prefix="bench-env-"))
    results: dict = {"python": sys.version.split()[0], "environments": {}}
    for name, with_pyspark in (("jvm_free", False), ("spark", True)):
        requirements = [
            r for r in get_default_pip_requirements(include_pyspark=with_pyspark) if "sparkonnx" not in r
        ]
        env_dir = workdir / name
        seconds = build_env(env_dir, requirements)
        results["environments"][name] = {
            "requirements": requirements,
            "venv_mb": round(size_mb(env_dir), 1),
            "build_s": round(seconds, 1),
        }
        print(f"{name}: {results['environments'][name]['venv_mb']:.0f} MB ({seconds:.0f} s)", flush=True)
    home = java_home()
    jre_mb = round(size_mb(home), 1) if home else None
    results["jre"] = {"path": str(home) if home else None, "mb": jre_mb}
    free = results["environments"]["jvm_free"]["venv_mb"]
    spark_total = results["environments"]["spark"]["venv_mb"] + (jre_mb or 0)
    results["spark_plus_jre_mb"] = round(spark_total, 1)
    results["ratio_spark_plus_jre_to_jvm_free"] = round(spark_total / free, 2)
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"JRE ({home}): {jre_mb} MB")
    print(f"JVM-free {free:.0f} MB vs Spark + JRE {spark_total:.0f} MB: {spark_total / free:.1f}x")
    print(f"Written to {out}")


if __name__ == "__main__":
    main()
