"""Tree ensembles: conversion time and label agreement with Spark at scale.

Measures, in one run on local[2]:
- the time to save a 100-tree RandomForest pipeline with a verified graph (conversion + verification),
  and the conversion alone;
- on N rows (default 1,000,000) of continuous double data (not rounded to float32), how many
  labels the ONNX graph gives that differ from Spark's ``transform`` (target: 0).

Usage: python benchmarks/bench_trees.py [--rows 1000000] [--trees 100]
Writes benchmarks/results/trees.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK", "true")
RESULTS = Path(__file__).resolve().parent / "results"
FEATURES = [f"x{i}" for i in range(8)]


def make_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = {name: rng.normal(scale=10 ** (i % 4), size=n) for i, name in enumerate(FEATURES)}
    frame = pd.DataFrame(data)
    score = sum(frame[name] / 10 ** (i % 4) for i, name in enumerate(FEATURES)) + rng.normal(size=n)
    frame["label"] = (score > 0).astype(float)
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--trees", type=int, default=100)
    args = parser.parse_args()

    import mlflow.pyfunc
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import RandomForestClassifier
    from pyspark.ml.feature import VectorAssembler
    from pyspark.sql import SparkSession

    import mlflow_sparkonnx
    from mlflow_sparkonnx.contract import Column
    from mlflow_sparkonnx.convert.to_onnx import convert_pipeline

    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "4g")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    train = spark.createDataFrame(make_frame(20_000, seed=1))
    model = Pipeline(
        stages=[
            VectorAssembler(inputCols=FEATURES, outputCol="features"),
            RandomForestClassifier(numTrees=args.trees, maxDepth=10, seed=3),
        ]
    ).fit(train)

    inputs = [Column(name, "double") for name in FEATURES]
    started = time.perf_counter()
    convert_pipeline(model, inputs, ["prediction", "probability"], spark)
    convert_seconds = time.perf_counter() - started

    workdir = tempfile.mkdtemp(prefix="bench-trees-")
    started = time.perf_counter()
    example = make_frame(300, seed=2)[FEATURES]
    mlflow_sparkonnx.save_model(model, f"{workdir}/model", input_example=example, onnx="require")
    save_seconds = time.perf_counter() - started

    frame = make_frame(args.rows, seed=4)[FEATURES]
    onnx_model = mlflow.pyfunc.load_model(
        f"{workdir}/model", model_config={"runtime": "onnx"}
    ).get_raw_model()
    started = time.perf_counter()
    onnx_labels = np.concatenate(
        [
            onnx_model.predict(frame.iloc[i : i + 100_000])["prediction"].to_numpy()
            for i in range(0, len(frame), 100_000)
        ]
    )
    onnx_seconds = time.perf_counter() - started
    spark_frame = spark.createDataFrame(frame.assign(row=np.arange(len(frame))))
    started = time.perf_counter()
    spark_labels = (
        model.transform(spark_frame)
        .select("row", "prediction")
        .toPandas()
        .sort_values("row")["prediction"]
        .to_numpy()
    )
    spark_seconds = time.perf_counter() - started
    differing = int((spark_labels != onnx_labels).sum())

    results = {
        "trees": args.trees,
        "rows": args.rows,
        "convert_seconds": round(convert_seconds, 2),
        "save_model_seconds": round(save_seconds, 2),
        "differing_labels": differing,
        "onnx_rows_per_second": round(args.rows / onnx_seconds),
        "spark_transform_seconds": round(spark_seconds, 1),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "trees.json").write_text(json.dumps(results, indent=2) + "\n")
    print("| measure | value |\n|---|---|")
    for key, value in results.items():
        print(f"| {key} | {value} |")
    spark.stop()


if __name__ == "__main__":
    main()
