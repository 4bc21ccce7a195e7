"""Batch scoring on Spark: native ``PipelineModel.transform`` vs our ONNX path (and, for the forest,
``transform(runtime="spark")`` and ``mlflow.pyfunc.spark_udf``), on three pipelines.

One run on local[2]. Pipelines, each fitted on the Adult data (or documents made here) and saved
with ``onnx="require"``:

- ``forest``: StringIndexer → OneHotEncoder → VectorAssembler → RandomForestClassifier(50 trees, depth 8);
- ``linear``: the same features → LogisticRegression;
- ``text``: Tokenizer → HashingTF (2^18 features) → LogisticRegression.

Each scores N rows (default 1,000,000 for the Adult pipelines, drawn from each column's empirical
distribution; 200,000 documents for text) read from parquet and cached, over 8 partitions. Every
path writes the input columns plus its outputs to Spark's ``noop`` sink, so every row and output is
computed. Each path is warmed up on every partition first (Python workers started, graph loaded),
then the paths run in turn, ``--runs`` times (interleaved, so a slow spell of the machine hits
every path alike). Reported per path: each run's seconds, the median, the spread (min–max), and
the median's ratio to native; then every path's predictions are joined to native ones by row id
and the differing labels counted (target: 0).

Usage: ``python benchmarks/bench_spark_scoring.py [--rows 1000000] [--runs 5]``; run it alone
(``flock /tmp/spark.lock ...``): it is timing. Writes ``benchmarks/results/spark_scoring.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK", "true")
ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "adult.csv"
if not DEFAULT_DATA.exists():
    DEFAULT_DATA = ROOT / "examples" / "data" / "adult_sample.csv"
CATEGORICAL = ["workclass", "education", "marital_status", "occupation", "sex"]
NUMERIC = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
FEATURES = CATEGORICAL + NUMERIC
WORDS = ["spark", "onnx", "mlflow", "model", "serve", "fast", "slow", "jvm", "python", "data", "the", "a"]
WORDS += ["of", "and", "is", "not", "école", "Straße", "naïve", "日本語", "数据", "café", "batch", "rows"]


def generate(adult: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """``n`` rows, each column drawn independently from its empirical distribution in ``adult``."""
    rng = np.random.default_rng(seed)
    data = {"row_id": np.arange(n, dtype="int64")}
    for column in FEATURES:
        counts = adult[column].value_counts()
        data[column] = rng.choice(counts.index.to_numpy(), size=n, p=(counts / counts.sum()).to_numpy())
    frame = pd.DataFrame(data)
    frame[NUMERIC] = frame[NUMERIC].astype("int64")
    return frame


def documents(n: int, seed: int) -> pd.DataFrame:
    """``n`` documents of 0-60 words joined by single spaces, a tenth of the words in upper case."""
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(0, 60))]
        texts.append(" ".join(w.upper() if rng.random() < 0.1 else w for w in words))
    return pd.DataFrame({"row_id": np.arange(n, dtype="int64"), "text": texts})


def fit_pipelines(spark: Any, adult: pd.DataFrame) -> dict[str, tuple[Any, pd.DataFrame]]:
    """name → (fitted PipelineModel, input example)."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression, RandomForestClassifier
    from pyspark.ml.feature import HashingTF, OneHotEncoder, StringIndexer, Tokenizer, VectorAssembler

    adult = adult.assign(label=(adult["income"] == ">50K").astype("float64"))
    idx = [f"{c}_idx" for c in CATEGORICAL]
    ohe = [f"{c}_ohe" for c in CATEGORICAL]

    def features() -> list[Any]:
        return [
            StringIndexer(inputCols=CATEGORICAL, outputCols=idx, handleInvalid="keep"),
            OneHotEncoder(inputCols=idx, outputCols=ohe, handleInvalid="keep"),
            VectorAssembler(inputCols=ohe + NUMERIC, outputCol="features"),
        ]

    train = spark.createDataFrame(adult[[*FEATURES, "label"]])
    forest_stage = RandomForestClassifier(numTrees=50, maxDepth=8, seed=3)
    forest = Pipeline(stages=[*features(), forest_stage]).fit(train)
    linear = Pipeline(stages=[*features(), LogisticRegression(maxIter=30, regParam=0.01)]).fit(train)
    docs = documents(5000, seed=1)
    docs["label"] = docs["text"].str.lower().str.contains("fast|数据").astype("float64")
    text = Pipeline(
        stages=[
            Tokenizer(inputCol="text", outputCol="words"),
            HashingTF(inputCol="words", outputCol="tf"),
            LogisticRegression(featuresCol="tf", maxIter=20, regParam=0.01),
        ]
    ).fit(spark.createDataFrame(docs[["text", "label"]]))
    return {
        "forest": (forest, adult[FEATURES].head(300)),
        "linear": (linear, adult[FEATURES].head(300)),
        "text": (text, docs[["text"]].head(300)),
    }


def run_to_sink(scored: Any) -> float:
    started = time.perf_counter()
    scored.write.format("noop").mode("overwrite").save()
    return time.perf_counter() - started


def labels_differing(native: Any, ours: Any, n_rows: int) -> dict[str, Any]:
    """Rows whose prediction differs from native's, and the largest probability difference."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    reference = native.select(
        "row_id",
        F.col("prediction").alias("native_prediction"),
        vector_to_array("probability").alias("native_probability"),
    )
    joined = reference.join(ours.select("row_id", "prediction", "probability"), "row_id")
    diff = F.aggregate(
        F.zip_with("probability", "native_probability", lambda a, b: F.abs(a - b)),
        F.lit(0.0),
        lambda acc, x: F.greatest(acc, x),
    )
    row = joined.agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum((F.col("prediction") != F.col("native_prediction")).cast("int")).alias("differing"),
        F.max(diff).alias("max_probability_diff"),
    ).first()
    assert row["rows"] == n_rows, f"{row['rows']} rows joined, expected {n_rows}"
    return {
        "differing_labels": int(row["differing"]),
        "max_probability_abs_diff": float(row["max_probability_diff"]),
    }


def bench_pipeline(
    spark: Any, name: str, model: Any, model_path: str, frame: Any, n_rows: int, runs: int
) -> dict[str, Any]:
    import mlflow.pyfunc
    from pyspark.sql import functions as F

    from mlflow_sparkonnx.scoring.spark_scoring import transform

    inputs = [c for c in frame.columns if c != "row_id"]
    paths = {
        "native_transform": lambda df: model.transform(df).select(*df.columns, "prediction", "probability"),
        "ours_onnx": lambda df: transform(df, model_path, runtime="onnx"),
    }
    if name == "forest":
        udf = mlflow.pyfunc.spark_udf(spark, model_path)
        paths["ours_spark"] = lambda df: transform(df, model_path, runtime="spark")
        paths["spark_udf"] = lambda df: df.withColumn("scores", udf(*[F.col(c) for c in inputs])).select(
            *df.columns, "scores.prediction", "scores.probability"
        )
    for score in paths.values():  # every partition: each Python worker starts and loads the graph
        run_to_sink(score(frame.sample(fraction=0.02, seed=1)))
    seconds: dict[str, list[float]] = {path: [] for path in paths}
    for _ in range(runs):
        for path, score in paths.items():
            seconds[path].append(run_to_sink(score(frame)))
    results = {}
    native_median = statistics.median(seconds["native_transform"])
    for path, values in seconds.items():
        median = statistics.median(values)
        results[path] = {
            "seconds": [round(s, 2) for s in values],
            "median_seconds": round(median, 2),
            "spread_seconds": [round(min(values), 2), round(max(values), 2)],
            "rows_per_second": round(n_rows / median),
            "vs_native": round(native_median / median, 2),
        }
        print(f"{name} {path}: {results[path]}", flush=True)
    native = paths["native_transform"](frame).cache()
    native.count()
    for path in paths:
        if path != "native_transform":
            results[path].update(labels_differing(native, paths[path](frame), n_rows))
    native.unpersist()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--text-rows", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--pipelines", default="forest,linear,text")
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    args = parser.parse_args()

    import pyspark
    from pyspark.sql import SparkSession

    import mlflow_sparkonnx

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("bench-spark-scoring")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "4g")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    workdir = Path(tempfile.mkdtemp(prefix="bench-spark-scoring-"))
    adult = pd.read_csv(args.data, skipinitialspace=True)
    pipelines = fit_pipelines(spark, adult)
    rows_data = workdir / "rows.parquet"
    generate(adult, args.rows, seed=4).to_parquet(rows_data, row_group_size=50_000)
    docs_data = workdir / "docs.parquet"
    documents(args.text_rows, seed=4).to_parquet(docs_data, row_group_size=50_000)

    report: dict[str, Any] = {
        "master": "local[2]",
        "partitions": args.partitions,
        "runs": args.runs,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "pyspark": pyspark.__version__,
        "pipelines": {},
    }
    for name in args.pipelines.split(","):
        model, example = pipelines[name]
        model_path = str(workdir / name)
        started = time.perf_counter()
        mlflow_sparkonnx.save_model(model, model_path, input_example=example, onnx="require")
        save_seconds = time.perf_counter() - started
        data, n_rows = (docs_data, args.text_rows) if name == "text" else (rows_data, args.rows)
        frame = spark.read.parquet(str(data)).repartition(args.partitions).cache()
        frame.count()
        report["pipelines"][name] = {
            "stages": " → ".join(type(s).__name__.removesuffix("Model") for s in model.stages),
            "rows": n_rows,
            "save_model_seconds": round(save_seconds, 1),
            "results": bench_pipeline(spark, name, model, model_path, frame, n_rows, args.runs),
        }
        frame.unpersist()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "spark_scoring.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print("| pipeline | path | median s (min–max) | rows/s | vs native | labels differing |")
    print("|---|---|---|---|---|---|")
    for name, entry in report["pipelines"].items():
        for path, r in entry["results"].items():
            low, high = r["spread_seconds"]
            print(
                f"| {name} | {path} | {r['median_seconds']} ({low}–{high}) | {r['rows_per_second']:,} | "
                f"{r['vs_native']}× | {r.get('differing_labels', '–')} |"
            )
    spark.stop()


if __name__ == "__main__":
    main()
