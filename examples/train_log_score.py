"""End to end: train a Spark ML pipeline, log it as a sparkonnx model, load it, score it.

Runs from a clean clone: the data ships in examples/data, MLflow tracks to a local sqlite file.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "output"
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK", "true")

CATEGORICAL = ["workclass", "education", "marital_status", "occupation", "relationship", "sex"]
NUMERIC = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]


def train(spark, data: pd.DataFrame):
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import OneHotEncoder, StringIndexer, VectorAssembler

    indexed = [f"{c}_idx" for c in CATEGORICAL]
    encoded = [f"{c}_ohe" for c in CATEGORICAL]
    pipeline = Pipeline(
        stages=[
            StringIndexer(inputCols=CATEGORICAL, outputCols=indexed, handleInvalid="keep"),
            OneHotEncoder(inputCols=indexed, outputCols=encoded, handleInvalid="keep"),
            VectorAssembler(inputCols=encoded + NUMERIC, outputCol="features"),
            StringIndexer(inputCol="income", outputCol="label"),
            LogisticRegression(maxIter=50, regParam=0.01),
        ]
    )
    return pipeline.fit(spark.createDataFrame(data))


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("mlflow_sparkonnx").setLevel(logging.INFO)

    import mlflow
    from pyspark.sql import SparkSession

    import mlflow_sparkonnx

    logging.getLogger("mlflow.models.utils").setLevel(logging.ERROR)  # "extra inputs ignored" notes
    OUTPUT.mkdir(exist_ok=True)
    mlflow.set_tracking_uri(f"sqlite:///{OUTPUT / 'mlflow.db'}")
    if mlflow.get_experiment_by_name("sparkonnx-example") is None:
        mlflow.create_experiment("sparkonnx-example", artifact_location=(OUTPUT / "artifacts").as_uri())
    mlflow.set_experiment("sparkonnx-example")

    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    data = pd.read_csv(HERE / "data" / "adult_sample.csv")
    train_rows, new_rows = data.iloc[:1600], data.iloc[1600:].drop(columns=["income"])

    model = train(spark, train_rows)
    with mlflow.start_run():
        info = mlflow_sparkonnx.log_model(
            model,
            name="model",
            input_example=train_rows.drop(columns=["income"]),  # raw rows, as a caller sends them
            registered_model_name="adult-income",
        )
    conf = info.flavors["sparkonnx"]
    print(f"logged {info.model_uri} as version {info.registered_model_version} of 'adult-income'")
    print(f"ONNX status: {conf['onnx_status']} ({conf['onnx_reason']})")
    for name, figures in (conf["parity"] or {}).get("outputs", {}).items():
        print(
            f"  parity {name}: max abs diff {figures['max_abs_diff']:.2e}, "
            f"mismatched rows {figures['mismatched_rows']}"
        )

    uri = f"models:/adult-income/{info.registered_model_version}"
    scores = {}
    for runtime in ("onnx", "spark"):
        started = time.perf_counter()
        loaded = mlflow.pyfunc.load_model(uri, model_config={"runtime": runtime})
        predictions = loaded.predict(new_rows)
        single = new_rows.head(1)
        loaded.predict(single)
        t0 = time.perf_counter()
        for _ in range(20):
            loaded.predict(single)
        per_row_ms = (time.perf_counter() - t0) / 20 * 1000
        print(
            f"{runtime:>5} runtime: loaded and scored {len(predictions)} rows in "
            f"{time.perf_counter() - started:.2f} s; single-row predict {per_row_ms:.2f} ms"
        )
        scores[runtime] = predictions

    agree = (scores["onnx"]["prediction"] == scores["spark"]["prediction"]).mean()
    print(f"labels agree between runtimes on {agree:.1%} of {len(new_rows)} new rows")
    print(scores["onnx"].head(5).to_string())
    spark.stop()


if __name__ == "__main__":
    main()
