"""Batch scoring on Spark: native ``PipelineModel.transform`` vs our ONNX path vs ``mlflow.pyfunc.spark_udf``.

One run on local[2]: the Adult pipeline StringIndexer → OneHotEncoder → VectorAssembler →
RandomForestClassifier(50 trees) scores N rows (default 1,000,000) drawn from the Adult data's
column distributions, read from parquet. Each path writes the input columns plus prediction and
probability to Spark's ``noop`` sink, so every row and every output is computed; each is warmed up
on a small slice first (Python workers started, graph loaded), then timed ``--repeats`` times
(median reported): rows/s is the run to the sink; ``prepare_seconds`` is building the scored
DataFrame (for ``transform``, reading the model from its URI; the native path's model is in
memory). Then every path's predictions are joined to native ones by row id and the differing
labels counted (target: 0).

Usage: ``python benchmarks/bench_spark_scoring.py [--rows 1000000] [--repeats 2]``; run it alone
(``flock /tmp/spark.lock ...``): it is timing. Writes ``benchmarks/results/spark_scoring.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

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


def timed(score, frame, repeats: int) -> tuple[list[float], list[float]]:
    """Per repeat: seconds to build the scored DataFrame (model loading), and to run it to the sink."""
    prepare, run = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        scored = score(frame)
        prepare.append(time.perf_counter() - started)
        started = time.perf_counter()
        scored.write.format("noop").mode("overwrite").save()
        run.append(time.perf_counter() - started)
    return prepare, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    args = parser.parse_args()

    import mlflow.pyfunc
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import RandomForestClassifier
    from pyspark.ml.feature import OneHotEncoder, StringIndexer, VectorAssembler
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    import mlflow_sparkonnx
    from mlflow_sparkonnx.contract import ModelContract
    from mlflow_sparkonnx.scoring.spark_scoring import transform

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
    adult["label"] = (adult["income"] == ">50K").astype("float64")
    idx = [f"{c}_idx" for c in CATEGORICAL]
    ohe = [f"{c}_ohe" for c in CATEGORICAL]
    started = time.perf_counter()
    model = Pipeline(
        stages=[
            StringIndexer(inputCols=CATEGORICAL, outputCols=idx, handleInvalid="keep"),
            OneHotEncoder(inputCols=idx, outputCols=ohe, handleInvalid="keep"),
            VectorAssembler(inputCols=ohe + NUMERIC, outputCol="features"),
            RandomForestClassifier(numTrees=50, maxDepth=8, seed=3),
        ]
    ).fit(spark.createDataFrame(adult[[*FEATURES, "label"]]))
    fit_seconds = time.perf_counter() - started
    model_path = str(workdir / "model")
    started = time.perf_counter()
    mlflow_sparkonnx.save_model(model, model_path, input_example=adult[FEATURES].head(300), onnx="require")
    save_seconds = time.perf_counter() - started

    generate(adult, args.rows, seed=4).to_parquet(workdir / "rows.parquet", row_group_size=50_000)
    frame = spark.read.parquet(str(workdir / "rows.parquet")).repartition(args.partitions).cache()
    frame.count()
    warmup = frame.limit(20_000)

    udf = mlflow.pyfunc.spark_udf(spark, model_path)
    paths = {
        "native_transform": lambda df: model.transform(df).select(*df.columns, "prediction", "probability"),
        "ours_spark": lambda df: transform(df, model_path, runtime="spark"),
        "ours_onnx": lambda df: transform(df, model_path, runtime="onnx"),
        "spark_udf": lambda df: df.withColumn("scores", udf(*[F.col(c) for c in FEATURES])).select(
            *df.columns, "scores.prediction", "scores.probability"
        ),
    }
    results = {}
    for name, score in paths.items():
        score(warmup).write.format("noop").mode("overwrite").save()
        prepare, seconds = timed(score, frame, args.repeats)
        results[name] = {
            "seconds": [round(s, 2) for s in seconds],
            "rows_per_second": round(args.rows / statistics.median(seconds)),
            "prepare_seconds": round(statistics.median(prepare), 2),
        }
        print(f"{name}: {results[name]}", flush=True)

    native = (
        paths["native_transform"](frame)
        .select(
            "row_id",
            F.col("prediction").alias("native_prediction"),
            vector_to_array("probability").alias("native_probability"),
        )
        .cache()
    )
    native.count()  # computed once, compared three times
    for name in ("ours_spark", "ours_onnx", "spark_udf"):
        ours = paths[name](frame).select("row_id", "prediction", "probability")
        joined = native.join(ours, "row_id")
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
        assert row["rows"] == args.rows, f"{name}: {row['rows']} rows joined, expected {args.rows}"
        results[name]["differing_labels"] = int(row["differing"])
        results[name]["max_probability_abs_diff"] = float(row["max_probability_diff"])

    native_rate = results["native_transform"]["rows_per_second"]
    for name in ("ours_spark", "ours_onnx", "spark_udf"):
        results[name]["vs_native"] = round(results[name]["rows_per_second"] / native_rate, 2)
    report = {
        "rows": args.rows,
        "partitions": args.partitions,
        "master": "local[2]",
        "pipeline": "StringIndexer → OneHotEncoder → VectorAssembler → RandomForestClassifier(50, depth 8)",
        "fit_seconds": round(fit_seconds, 1),
        "save_model_seconds": round(save_seconds, 1),
        "onnx_status": ModelContract.read(model_path).onnx_status.value,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "results": results,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "spark_scoring.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print("| path | rows/s (median) | vs native | labels differing from native |\n|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {name} | {r['rows_per_second']:,} | {r.get('vs_native', 1.0)}× | "
            f"{r.get('differing_labels', '–')} |"
        )
    spark.stop()


if __name__ == "__main__":
    main()
