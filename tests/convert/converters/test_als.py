"""ALSModel: parity with Spark (bit for bit: the float32 dot product in Spark's order), unknown ids
giving NaN, the ids Spark refuses refused in both runtimes, and ``coldStartStrategy="drop"`` served
by Spark."""

from __future__ import annotations

import math

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
import yaml
from parity import assert_onnx_matches_spark
from pyspark.ml import PipelineModel
from pyspark.ml.feature import SQLTransformer
from pyspark.ml.recommendation import ALS

import mlflow_sparkonnx

USERS, ITEMS = 40, 60


def ratings(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    users, items = rng.integers(0, USERS, n), rng.integers(0, ITEMS, n)
    return pd.DataFrame({"user": users, "item": items, "rating": ((users % 5 + items % 3) % 5 + 1.0)})


@pytest.fixture(scope="module")
def fitted(spark):
    """Rank 7 (f2j's five-way unrolled sum and its remainder) and rank 3."""
    data = spark.createDataFrame(ratings(1500, seed=1))
    return {rank: ALS(rank=rank, maxIter=4, seed=2).fit(data) for rank in (3, 7)}


def scoring_frame(n: int, dtype: str) -> pd.DataFrame:
    """Known pairs, unknown users and items (NaN in Spark), and both unknown."""
    rng = np.random.default_rng(9)
    frame = pd.DataFrame({"user": rng.integers(0, USERS, n), "item": rng.integers(0, ITEMS, n)})
    frame.loc[:9, "user"] = USERS + 5
    frame.loc[10:19, "item"] = ITEMS + 7
    frame.loc[20:24, ["user", "item"]] = [-3, 10**6]
    return frame.astype(dtype)


@pytest.mark.parametrize(("rank", "dtype"), [(3, "int64"), (7, "float64")])
def test_predictions_equal_sparks_bit_for_bit(spark, tmp_path, fitted, rank, dtype):
    frame = scoring_frame(300, dtype)
    if dtype == "float64":
        frame.loc[30, "user"] = -0.0
    model = PipelineModel(stages=[fitted[rank]])
    conf = assert_onnx_matches_spark(model, frame, spark, tmp_path, abs_tol=0.0, rel_tol=0.0)
    assert conf["parity"]["outputs"]["prediction"]["mismatched_rows"] == 0


@pytest.fixture(scope="module")
def loaded_with_double_ids(fitted, tmp_path_factory) -> dict:
    """The rank-3 model saved from double ids, loaded in each runtime."""
    path = tmp_path_factory.mktemp("als") / "model"
    example = scoring_frame(50, "float64")
    mlflow_sparkonnx.save_model(PipelineModel(stages=[fitted[3]]), str(path), input_example=example)
    return {r: mlflow.pyfunc.load_model(str(path), model_config={"runtime": r}) for r in ("onnx", "spark")}


@pytest.mark.parametrize("runtime", ["onnx", "spark"])
@pytest.mark.parametrize("bad", [1.5, math.nan, math.inf, 3e9, -(2.0**31) - 1])
def test_ids_spark_refuses_are_refused_naming_column_and_row(loaded_with_double_ids, runtime, bad):
    model = loaded_with_double_ids[runtime]
    frame = scoring_frame(4, "float64")
    frame.loc[2, "item"] = bad
    with pytest.raises(mlflow_sparkonnx.InvalidInputError, match=r"'item' row 2"):
        model.predict(frame)


def test_cold_start_drop_gives_null_outputs_where_spark_drops_the_row(spark, tmp_path, fitted):
    """coldStartStrategy="drop": Spark filters out the rows of unknown ids. Both pyfunc runtimes and
    both transform runtimes return every row, with every output null where Spark dropped it (the
    columns of the stages before and after ALS too), and Spark's values elsewhere. A stage after ALS
    that would refuse the NaN prediction (VectorAssembler, handleInvalid="error") never sees those
    rows, as in Spark; a StringIndexer skipping an unseen kind drops rows in the same batch."""
    from pyspark.ml.feature import StringIndexerModel, VectorAssembler

    dropping = fitted[3].copy().setColdStartStrategy("drop")
    sql = SQLTransformer(statement="SELECT *, user * 2 AS user_twice FROM __THIS__")
    kinds = StringIndexerModel.from_labels(["a", "b"], "kind", "kind_index", handleInvalid="skip")
    assembler = VectorAssembler(inputCols=["prediction", "kind_index"], outputCol="features")
    model = PipelineModel(stages=[sql, kinds, dropping, assembler])
    frame = scoring_frame(300, "int64").assign(kind=["a", "b", "a"] * 100)
    frame.loc[[5, 40, 41], "kind"] = "unseen"  # row 5 is also an unknown user
    path = tmp_path / "model"
    outputs = ["user_twice", "prediction", "features"]
    mlflow_sparkonnx.save_model(model, str(path), input_example=frame, output_cols=outputs, onnx="require")
    conf = yaml.safe_load((path / "MLmodel").read_text())["flavors"]["sparkonnx"]
    actions = [(c["stage"].split()[0], c.get("action", "refuse")) for c in conf["row_checks"]]
    assert ("ALSModel", "drop") in actions and actions[-1] == ("VectorAssembler", "refuse"), actions
    assert conf["parity"]["edge_probes"]["dropped"] > 0

    with_ids = spark.createDataFrame(frame.assign(row=range(len(frame))))
    kept = {r["row"]: r for r in model.transform(with_ids).select("row", *outputs).collect()}
    dropped = np.array([i not in kept for i in range(len(frame))])
    assert 20 <= dropped.sum() < len(frame)  # the unknown users and items, and the unseen kinds
    for runtime in ("onnx", "spark"):
        got = mlflow.pyfunc.load_model(str(path), model_config={"runtime": runtime}).predict(frame)
        assert len(got) == len(frame)
        for column in ("user_twice", "prediction"):
            assert np.isnan(got[column][dropped]).all(), (runtime, column)
            expected = [float(kept[i][column]) for i in np.flatnonzero(~dropped)]
            assert got[column][~dropped].tolist() == expected, (runtime, column)
        assert got["features"][dropped].isna().all(), runtime
        scored = mlflow_sparkonnx.transform(with_ids, str(path), runtime=runtime).orderBy("row").collect()
        assert len(scored) == len(frame)
        for column in outputs:
            assert [r[column] is None for r in scored] == dropped.tolist(), (runtime, column)
        assert [list(r["features"]) for r in scored if r["features"] is not None] == [
            kept[i]["features"].toArray().tolist() for i in np.flatnonzero(~dropped)
        ], runtime
