"""Doubles beyond float32's range: refused by the ONNX runtime where its graph computes in float32,
scored (as Spark scores them) where the graph keeps doubles."""

from __future__ import annotations

import re

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from mlmodel import flavor_block
from pyspark.ml import Pipeline
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import StandardScaler, VectorAssembler
from pyspark.ml.linalg import Vectors
from pyspark.ml.regression import DecisionTreeRegressor

import mlflow_sparkonnx


def training_rows(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    x = rng.normal(size=n)
    v = [Vectors.dense(rng.normal(size=2).tolist()) for _ in range(n)]
    label = (x + np.array([e[1] for e in v]) > 0).astype(float)
    return pd.DataFrame({"x": x, "v": v, "label": label})


@pytest.fixture(scope="module")
def linear_model_path(spark, tmp_path_factory) -> str:
    """VectorAssembler(x, v) → StandardScaler → LogisticRegression: float32 arithmetic (onnxmltools)."""
    frame = training_rows()
    pipeline = Pipeline(
        stages=[
            VectorAssembler(inputCols=["x", "v"], outputCol="raw"),
            StandardScaler(inputCol="raw", outputCol="features"),
            LogisticRegression(maxIter=10),
        ]
    ).fit(spark.createDataFrame(frame))
    path = str(tmp_path_factory.mktemp("float32") / "model")
    example = frame[["x", "v"]].head(200).copy()
    example["v"] = [e.toArray().tolist() for e in example["v"]]
    mlflow_sparkonnx.save_model(pipeline, path, input_example=example, onnx="require")
    return path


def frame_with(x: float, v: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"x": [0.5, 0.25, x], "v": [[0.1, 0.2], [0.3, -0.4], v]})


def test_float32_inputs_are_recorded_and_their_beyond_range_probes_refused(linear_model_path):
    block = flavor_block(linear_model_path)
    assert block["onnx_status"] == "verified"
    assert block["float32_inputs"] == ["x", "v"]
    # four doubles beyond float32's range for 'x', each refused by the ONNX runtime alone
    assert block["parity"]["edge_probes"]["refused"] >= 4


@pytest.mark.parametrize(
    ("x", "v", "message"),
    [
        (1e300, [0.0, 0.0], "Column 'x' row 2 holds 1e+300, beyond float32's range"),
        (-3.5e38, [0.0, 0.0], "Column 'x' row 2 holds -3.5e+38, beyond float32's range"),
        (0.0, [0.0, -1e39], "Column 'v' row 2 holds -1e+39 (element 1), beyond float32's range"),
    ],
)
def test_onnx_refuses_a_double_beyond_float32_that_spark_scores(linear_model_path, x, v, message):
    frame = frame_with(x, v)
    onnx_model = mlflow.pyfunc.load_model(linear_model_path, model_config={"runtime": "onnx"})
    with pytest.raises(mlflow_sparkonnx.InvalidInputError, match=re.escape(message)):
        onnx_model.predict(frame)
    spark_model = mlflow.pyfunc.load_model(linear_model_path, model_config={"runtime": "spark"})
    scored = spark_model.predict(frame)
    assert len(scored) == 3 and scored["prediction"].notna().all()


def test_infinities_score_on_onnx_and_an_in_range_overflow_is_refused(linear_model_path):
    onnx_model = mlflow.pyfunc.load_model(linear_model_path, model_config={"runtime": "onnx"})
    for x in (float("inf"), float("-inf")):
        assert len(onnx_model.predict(frame_with(x, [0.0, 0.0]))) == 3
    # 3.4e38 fits float32, but the scaler divides it by a standard deviation below 1: an infinity in
    # the graph's float32, a finite double in Spark
    with pytest.raises(mlflow_sparkonnx.InvalidInputError, match=r"'features' .*row 2 .*overflows float32"):
        onnx_model.predict(frame_with(3.4e38, [0.0, 0.0]))
    spark_model = mlflow.pyfunc.load_model(linear_model_path, model_config={"runtime": "spark"})
    assert spark_model.predict(frame_with(3.4e38, [0.0, 0.0]))["prediction"].notna().all()


def test_a_graph_keeping_doubles_scores_them_as_spark_does(spark, tmp_path):
    """The exact trees compare doubles: no float32 input, and 1e300 lands in Spark's leaf."""
    rng = np.random.default_rng(9)
    frame = pd.DataFrame({"x": rng.normal(scale=1e3, size=300)})
    frame["label"] = np.where(frame["x"] > 10.0, 5.0, -5.0) + rng.normal(size=300)
    pipeline = Pipeline(
        stages=[VectorAssembler(inputCols=["x"], outputCol="features"), DecisionTreeRegressor(maxDepth=3)]
    ).fit(spark.createDataFrame(frame))
    path = str(tmp_path / "tree")
    mlflow_sparkonnx.save_model(pipeline, path, input_example=frame[["x"]], onnx="require")
    assert flavor_block(path)["float32_inputs"] == []

    edges = pd.DataFrame({"x": [-1e300, -3.5e38, 3.5e38, 1e300, 1.7976931348623157e308]})
    onnx_values = mlflow.pyfunc.load_model(path, model_config={"runtime": "onnx"}).predict(edges)[
        "prediction"
    ]
    spark_values = [
        r["prediction"]
        for r in pipeline.transform(spark.createDataFrame(edges)).select("prediction").collect()
    ]
    assert onnx_values.tolist() == spark_values


def test_a_category_lookup_scores_doubles_beyond_float32_as_spark_does(spark, tmp_path):
    """A numeric StringIndexer looks its keys up through a float32 LabelEncoder, but keeps a match only
    where the float32 value is the double: no float32 input, and 1e300 is an unseen value (the
    ``keep`` index) as in Spark, while 3.0 (a key) still finds its index."""
    from pyspark.ml.feature import StringIndexer

    frame = pd.DataFrame({"n": [1.0, 2.0, 3.0, 2.0, 3.0, 3.0] * 20})
    pipeline = Pipeline(stages=[StringIndexer(inputCol="n", outputCol="i", handleInvalid="keep")])
    model = pipeline.fit(spark.createDataFrame(frame))
    path = str(tmp_path / "indexer")
    mlflow_sparkonnx.save_model(model, path, input_example=frame, output_cols=["i"], onnx="require")
    assert flavor_block(path)["float32_inputs"] == []

    edges = pd.DataFrame({"n": [3.0, 1e300, -3.5e38, 3.0000001, 1.7976931348623157e308]})
    onnx_values = mlflow.pyfunc.load_model(path, model_config={"runtime": "onnx"}).predict(edges)["i"]
    spark_values = [r["i"] for r in model.transform(spark.createDataFrame(edges)).select("i").collect()]
    assert onnx_values.tolist() == spark_values
    assert spark_values[0] != spark_values[1]
