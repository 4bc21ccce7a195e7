"""Save-time edge probes: how many probe rows, their outcomes, and their share of save_model's time.

Measures, in one run on local[2], for the Adult logistic-regression pipeline (StringIndexer →
OneHotEncoder → VectorAssembler → LogisticRegression on 6 string and 5 integer inputs), the same
with a Bucketizer on age, and a 100-tree RandomForest on 8 doubles: ``save_model``'s wall time, the
time spent in ``probe_edges`` within it (timed by wrapping the function the analysis calls), and the
probe counts recorded in MLmodel. Each pipeline is saved twice and the second save is reported
(the first warms the JVM).

Usage: python benchmarks/bench_edge_probes.py
Writes benchmarks/results/edge_probes.json and prints a markdown table.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK", "true")
ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ADULT = ROOT.parent / "shared" / "data" / "adult.csv"
CATEGORICAL = ["workclass", "education", "marital_status", "occupation", "relationship", "sex"]
NUMERIC = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
AGE_SPLITS = [-float("inf"), 25, 35, 45, 55, 65, float("inf")]


def adult_pipelines(spark, data: pd.DataFrame) -> dict:
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import Bucketizer, OneHotEncoder, StringIndexer, VectorAssembler

    indexed = [f"{c}_idx" for c in CATEGORICAL]
    encoded = [f"{c}_ohe" for c in CATEGORICAL]
    front = [
        StringIndexer(inputCols=CATEGORICAL, outputCols=indexed, handleInvalid="keep"),
        OneHotEncoder(inputCols=indexed, outputCols=encoded, handleInvalid="keep"),
    ]
    label = StringIndexer(inputCol="income", outputCol="label")
    tail = [label, LogisticRegression(maxIter=50, regParam=0.01)]
    lr = Pipeline(stages=[*front, VectorAssembler(inputCols=encoded + NUMERIC, outputCol="features"), *tail])
    bucketed = Pipeline(
        stages=[
            *front,
            Bucketizer(splits=AGE_SPLITS, inputCol="age", outputCol="age_b"),
            VectorAssembler(inputCols=[*encoded, "age_b", *NUMERIC[1:]], outputCol="features"),
            *tail,
        ]
    )
    frame = spark.createDataFrame(data)
    return {"adult_lr": lr.fit(frame), "adult_lr_bucketized": bucketed.fit(frame)}


def forest(spark):
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import RandomForestClassifier
    from pyspark.ml.feature import VectorAssembler

    rng = np.random.default_rng(0)
    names = [f"x{i}" for i in range(8)]
    frame = pd.DataFrame(rng.normal(size=(5000, 8)), columns=names)
    frame["label"] = (frame.sum(axis=1) > 0).astype(float)
    stages = [
        VectorAssembler(inputCols=names, outputCol="features"),
        RandomForestClassifier(numTrees=100, seed=1),
    ]
    return Pipeline(stages=stages).fit(spark.createDataFrame(frame)), frame[names]


def main() -> None:
    from pyspark.sql import SparkSession

    import mlflow_sparkonnx
    from mlflow_sparkonnx.flavor import analysis

    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    probe_seconds: list[float] = []
    original = analysis.probe_edges

    def timed_probe_edges(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            probe_seconds.append(time.perf_counter() - started)

    analysis.probe_edges = timed_probe_edges

    data = pd.read_csv(ADULT, skipinitialspace=True).head(5000)
    example = data.drop(columns=["income"]).head(300)
    models = {name: (model, example) for name, model in adult_pipelines(spark, data).items()}
    rf_model, rf_frame = forest(spark)
    models["rf_100_trees"] = (rf_model, rf_frame.head(300))

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (model, input_example) in models.items():
            for attempt in range(2):
                path = os.path.join(tmp, f"{name}-{attempt}")
                started = time.perf_counter()
                mlflow_sparkonnx.save_model(model, path, input_example=input_example)
                seconds = time.perf_counter() - started
            with open(os.path.join(path, "MLmodel")) as f:
                flavor = yaml.safe_load(f)["flavors"]["sparkonnx"]
            results[name] = {
                "save_model_seconds": round(seconds, 2),
                "probe_seconds": round(probe_seconds[-1], 2),
                "probe_share": round(probe_seconds[-1] / seconds, 3),
                "added_to_save": round(probe_seconds[-1] / (seconds - probe_seconds[-1]), 3),
                "onnx_status": flavor["onnx_status"],
                "edge_probes": flavor["parity"]["edge_probes"],
            }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "edge_probes.json").write_text(json.dumps(results, indent=2) + "\n")
    print(
        "| pipeline | save_model | of which probes | added to save_model | probes (scored/dropped/refused) "
        "| status |"
    )
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        p = r["edge_probes"]
        print(
            f"| {name} | {r['save_model_seconds']:.2f} s | {r['probe_seconds']:.2f} s | "
            f"+{r['added_to_save']:.0%} | {p['rows']} ({p['scored']} / {p['dropped']} / {p['refused']}) | "
            f"{r['onnx_status']} |"
        )


if __name__ == "__main__":
    main()
