"""Inputs Spark refuses or drops (unseen categories, out-of-range buckets): same in both runtimes."""

from __future__ import annotations

import math

import mlflow.pyfunc
import pandas as pd
import pytest
import yaml
from adult_data import NUMERIC
from pyspark.ml import Pipeline
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import OneHotEncoder, StringIndexer, VectorAssembler

import mlflow_sparkonnx

CATS = ["workclass", "sex"]


def fit(spark, adult_train, handle_invalid: str):
    stages = [
        StringIndexer(inputCols=CATS, outputCols=[f"{c}_i" for c in CATS], handleInvalid=handle_invalid),
        OneHotEncoder(
            inputCols=[f"{c}_i" for c in CATS], outputCols=[f"{c}_o" for c in CATS], handleInvalid="keep"
        ),
        VectorAssembler(inputCols=[f"{c}_o" for c in CATS] + NUMERIC, outputCol="features"),
        StringIndexer(inputCol="income", outputCol="label"),
        LogisticRegression(maxIter=10),
    ]
    return Pipeline(stages=stages).fit(spark.createDataFrame(adult_train))


@pytest.fixture(scope="module")
def saved(spark, adult_train, tmp_path_factory):
    """One fit; the "skip" model is the "error" one with its StringIndexer's mode changed (the mode
    plays no part in fitting)."""
    from pyspark.ml import PipelineModel

    fitted = fit(spark, adult_train, "error")
    paths = {}
    for mode in ("error", "skip"):
        paths[mode] = str(tmp_path_factory.mktemp("categories") / mode)
        example = adult_train.drop(columns=["income"]).head(200).copy()
        example.loc[3, "workclass"] = "Astronaut"  # left out of the parity rows, not a failure
        indexer, *rest = fitted.stages
        model = PipelineModel(stages=[indexer.copy().setHandleInvalid(mode), *rest])
        mlflow_sparkonnx.save_model(model, paths[mode], input_example=example)
    return paths


def test_closed_categories_are_recorded(saved):
    with open(f"{saved['error']}/MLmodel") as f:
        conf = yaml.safe_load(f)["flavors"]["sparkonnx"]
    assert conf["onnx_status"] == "verified", conf["onnx_reason"]
    assert set(conf["closed_categories"]) == {"workclass", "sex"}
    assert conf["closed_categories"]["sex"]["handle_invalid"] == "error"
    assert sorted(conf["closed_categories"]["sex"]["labels"]) == ["Female", "Male"]


@pytest.mark.parametrize("runtime", ["onnx", "spark"])
def test_error_mode_refuses_an_unseen_category_naming_column_row_and_value(saved, adult_holdout, runtime):
    model = mlflow.pyfunc.load_model(saved["error"], model_config={"runtime": runtime})
    frame = adult_holdout.head(5).copy()
    frame.loc[2, "workclass"] = "Astronaut"
    with pytest.raises(mlflow_sparkonnx.InvalidInputError, match=r"'workclass' row 2 holds 'Astronaut'"):
        model.predict(frame)


def test_skip_mode_gives_null_outputs_for_that_row_in_both_runtimes(saved, adult_holdout):
    frame = adult_holdout.head(6).copy()
    frame.loc[4, "sex"] = "Unknown"
    results = {
        runtime: mlflow.pyfunc.load_model(saved["skip"], model_config={"runtime": runtime}).predict(frame)
        for runtime in ("onnx", "spark")
    }
    for result in results.values():
        assert len(result) == 6
        assert math.isnan(result["prediction"][4]) and result["probability"][4] is None
        assert not result.drop(index=4)["prediction"].isna().any()
    assert (
        results["onnx"]["prediction"].drop(index=4).tolist()
        == results["spark"]["prediction"].drop(index=4).tolist()
    )


@pytest.fixture(scope="module")
def bucketed(spark, adult_train, tmp_path_factory):
    """Bucketizer(age, finite splits, handleInvalid='skip') → VectorAssembler → LogisticRegression."""
    from pyspark.ml.feature import Bucketizer

    stages = [
        Bucketizer(
            splits=[17.0, 30.0, 45.0, 60.0, 91.0],
            inputCol="age",
            outputCol="age_bucket",
            handleInvalid="skip",
        ),
        VectorAssembler(inputCols=["age_bucket", "hours_per_week"], outputCol="features"),
        StringIndexer(inputCol="income", outputCol="label"),
        LogisticRegression(maxIter=10),
    ]
    model = Pipeline(stages=stages).fit(spark.createDataFrame(adult_train))
    path = str(tmp_path_factory.mktemp("bucketed") / "model")
    mlflow_sparkonnx.save_model(model, path, input_example=adult_train.drop(columns=["income"]).head(200))
    return path


def test_numeric_guards_are_recorded(bucketed):
    with open(f"{bucketed}/MLmodel") as f:
        conf = yaml.safe_load(f)["flavors"]["sparkonnx"]
    assert conf["onnx_status"] == "verified", conf["onnx_reason"]
    assert conf["numeric_guards"]["age"] == {"low": 17.0, "high": 91.0, "nan": "skip"}
    # The VectorAssembler reads hours_per_week raw, with Spark's default handleInvalid='error'.
    assert conf["numeric_guards"]["hours_per_week"] == {"low": -math.inf, "high": math.inf, "nan": "error"}


@pytest.mark.parametrize("runtime", ["onnx", "spark"])
def test_value_outside_bucketizer_splits_is_refused(bucketed, adult_holdout, runtime):
    model = mlflow.pyfunc.load_model(bucketed, model_config={"runtime": runtime})
    frame = adult_holdout.head(4).copy()
    frame.loc[1, "age"] = 120
    with pytest.raises(mlflow_sparkonnx.InvalidInputError, match=r"'age' row 1 holds 120.0, outside"):
        model.predict(frame)


def test_nan_under_skip_gives_null_outputs_in_both_runtimes(bucketed, adult_holdout):
    frame = adult_holdout.head(5).astype({"age": "float64"})
    frame.loc[3, "age"] = float("nan")
    results = {
        runtime: mlflow.pyfunc.load_model(bucketed, model_config={"runtime": runtime})
        .get_raw_model()
        .predict(frame)
        for runtime in ("onnx", "spark")
    }
    for result in results.values():
        assert math.isnan(result["prediction"][3]) and not result.drop(index=3)["prediction"].isna().any()
    assert (
        results["onnx"]["prediction"].drop(index=3).tolist()
        == results["spark"]["prediction"].drop(index=3).tolist()
    )


@pytest.mark.parametrize("runtime", ["onnx", "spark"])
def test_nan_into_a_default_vector_assembler_is_refused(saved_models, adult_holdout, runtime):
    """Spark's VectorAssembler (handleInvalid='error') fails on NaN; the graph would score it."""
    model = mlflow.pyfunc.load_model(saved_models["lr"], model_config={"runtime": runtime}).get_raw_model()
    frame = adult_holdout.head(4).astype({"capital_gain": "float64"})
    frame.loc[2, "capital_gain"] = float("nan")
    with pytest.raises(
        mlflow_sparkonnx.InvalidInputError, match=r"'capital_gain' row 2 holds nan, a null/NaN"
    ):
        model.predict(frame)


@pytest.mark.parametrize(
    ("value", "runtime"),
    [(30.5, "onnx"), (float("inf"), "onnx"), (float("-inf"), "onnx"), (1e300, "onnx"), (30.5, "spark")],
)
def test_integral_column_refuses_what_spark_cannot_hold(saved_models, adult_holdout, value, runtime):
    """A bigint input (age) cannot hold 30.5, ±inf or 1e300: Spark would refuse or truncate it, the graph
    would score it as a float; both runtimes refuse it, naming the column, row and value."""
    model = mlflow.pyfunc.load_model(saved_models["lr"], model_config={"runtime": runtime}).get_raw_model()
    frame = adult_holdout.head(3).astype({"age": "float64"})
    frame.loc[1, "age"] = value
    refusal = r"'age' \(bigint\) row 1 holds .*whole number"
    with pytest.raises(mlflow_sparkonnx.InvalidInputError, match=refusal):
        model.predict(frame)
    frame.loc[1, "age"] = 31.0  # a whole number in a float column is fine
    assert len(model.predict(frame)) == 3


@pytest.mark.parametrize("runtime", ["onnx", "spark"])
def test_bools_in_a_numeric_column_are_numbers(saved_models, adult_holdout, runtime):
    """JSON gives true/false: a numeric column takes them as 1 and 0."""
    model = mlflow.pyfunc.load_model(saved_models["lr"], model_config={"runtime": runtime}).get_raw_model()
    numbers = adult_holdout.head(4).assign(capital_loss=[1, 0, 1, 0])
    bools = numbers.assign(capital_loss=[True, False, True, False])
    pd.testing.assert_frame_equal(model.predict(bools), model.predict(numbers))


@pytest.mark.parametrize(
    ("value", "problem", "runtime"),
    [
        (None, "a null", "onnx"),
        (float("nan"), r"a null \(NaN\)", "onnx"),
        (7, "int 7", "onnx"),
        (None, "a null", "spark"),
    ],
)
def test_a_string_column_refuses_what_is_not_a_string(saved_models, adult_holdout, runtime, value, problem):
    model = mlflow.pyfunc.load_model(saved_models["lr"], model_config={"runtime": runtime}).get_raw_model()
    frame = adult_holdout.head(3).astype({"workclass": object})
    frame.loc[2, "workclass"] = value
    with pytest.raises(
        mlflow_sparkonnx.InvalidInputError, match=rf"'workclass' must hold strings but row 2 holds {problem}"
    ):
        model.predict(frame)


# ---- NaiveBayes: Spark raises on negative/NaN features (multinomial, complement), on anything but 0/1
# (bernoulli); gaussian checks nothing. Both runtimes refuse those rows naming the raw column. ----------

NB_FEATURES = ["f0", "f1", "f2"]
NB_MODELS = ["multinomial", "bernoulli", "scaled", "complement_vector"]


def _nb_frame(model_type: str, rows: int = 120, seed: int = 3):
    import numpy as np

    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, rows)
    if model_type == "bernoulli":
        x = (rng.uniform(size=(rows, len(NB_FEATURES))) < np.where(label[:, None] == 1, 0.7, 0.3)).astype(
            float
        )
    else:
        x = rng.poisson(np.where(label[:, None] == 1, 4.0, 1.5), (rows, len(NB_FEATURES))).astype(float)
    return pd.DataFrame(x, columns=NB_FEATURES).assign(label=label.astype(float))


@pytest.fixture(scope="module")
def small_models(spark, tmp_path_factory):
    """VectorAssembler(raw columns) → NaiveBayes per model type, a raw vector input, and a scaled one;
    Bucketizer and VectorAssembler with handleInvalid="keep" → LogisticRegression; a native-only
    VectorIndexer(handleInvalid="skip")."""
    import logging

    from pyspark.ml.classification import NaiveBayes
    from pyspark.ml.feature import Bucketizer, MinMaxScaler, VectorIndexer
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql import functions as F

    root = tmp_path_factory.mktemp("naive_bayes")
    counts, binary = _nb_frame("multinomial"), _nb_frame("bernoulli")
    assembled = VectorAssembler(inputCols=NB_FEATURES, outputCol="features")
    kept = VectorAssembler(inputCols=NB_FEATURES, outputCol="features", handleInvalid="keep")
    specs = {
        "multinomial": ([assembled, NaiveBayes(modelType="multinomial")], counts),
        "bernoulli": ([kept, NaiveBayes(modelType="bernoulli")], binary),
        "scaled": (
            [
                VectorAssembler(inputCols=NB_FEATURES, outputCol="raw"),
                MinMaxScaler(inputCol="raw", outputCol="features"),
                NaiveBayes(modelType="multinomial"),
            ],
            counts,
        ),
        "keep": (
            [
                Bucketizer(
                    splits=[-math.inf, 1.0, 3.0, math.inf],
                    inputCol="f0",
                    outputCol="f0_b",
                    handleInvalid="keep",
                ),
                VectorAssembler(inputCols=["f0_b", "f1", "f2"], outputCol="features", handleInvalid="keep"),
                LogisticRegression(maxIter=10),
            ],
            counts,
        ),
        "indexer_skip": (
            [
                VectorAssembler(inputCols=NB_FEATURES, outputCol="raw"),
                VectorIndexer(inputCol="raw", outputCol="features", maxCategories=30, handleInvalid="skip"),
                LogisticRegression(maxIter=10),
            ],
            counts,
        ),
    }
    paths, warnings = {}, {}
    for name, (stages, frame) in specs.items():
        model = Pipeline(stages=stages).fit(spark.createDataFrame(frame))
        paths[name] = str(root / name)
        records: list[logging.LogRecord] = []
        handler = logging.Handler()
        handler.emit = records.append  # type: ignore[method-assign]
        logging.getLogger("mlflow_sparkonnx.flavor.recorded_rules").addHandler(handler)
        try:
            example = frame[NB_FEATURES].head(60)
            onnx = "auto" if name == "indexer_skip" else "require"
            mlflow_sparkonnx.save_model(model, paths[name], input_example=example, onnx=onnx)
        finally:
            logging.getLogger("mlflow_sparkonnx.flavor.recorded_rules").removeHandler(handler)
        warnings[name] = [r.getMessage() for r in records if r.levelno >= logging.WARNING]
    # A raw vector column straight into NaiveBayes(complement).
    vectors = spark.createDataFrame(counts).select(
        array_to_vector(F.array(*NB_FEATURES)).alias("features"), "label"
    )
    model = Pipeline(stages=[NaiveBayes(modelType="complement")]).fit(vectors)
    paths["complement_vector"] = str(root / "complement_vector")
    mlflow_sparkonnx.save_model(
        model, paths["complement_vector"], input_example=vectors.select("features").limit(60), onnx="require"
    )
    return paths, warnings


def _flavor(path: str) -> dict:
    with open(f"{path}/MLmodel") as f:
        return yaml.safe_load(f)["flavors"]["sparkonnx"]


def test_naive_bayes_guards_are_recorded(small_models):
    paths, warnings = small_models
    guards = {name: _flavor(paths[name])["numeric_guards"] for name in NB_MODELS}
    assert guards["multinomial"]["f1"] == {
        "low": -math.inf,
        "high": math.inf,
        "nan": "error",
        "naive_bayes": "multinomial",
    }
    assert (
        guards["bernoulli"]["f0"]["nan"] == "keep" and guards["bernoulli"]["f0"]["naive_bayes"] == "bernoulli"
    )
    assert guards["complement_vector"] == {
        "features": {
            "low": -math.inf,
            "high": math.inf,
            "nan": "keep",
            "naive_bayes": "complement",
            "vector": True,
        }
    }
    # Behind a scaler the raw values cannot tell: nothing recorded for NaiveBayes (the graph's row
    # check refuses such rows instead), and no warning.
    assert all("naive_bayes" not in g for g in guards["scaled"].values())
    assert warnings["scaled"] == []
    assert warnings["multinomial"] == []


@pytest.mark.parametrize("runtime", ["onnx", "spark"])
@pytest.mark.parametrize(
    ("name", "column", "value", "refusal"),
    [
        ("multinomial", "f1", -1.0, r"'f1' row 2 holds -1.0, a negative value or NaN, which its NaiveBayes "),
        ("multinomial", "f1", -math.inf, r"'f1' row 2 holds -inf, a negative value or NaN"),
        ("bernoulli", "f2", 0.5, r"'f2' row 2 holds 0.5, a value other than 0 or 1, which its NaiveBayes"),
        # VectorAssembler(handleInvalid="keep") lets NaN through; the bernoulli NaiveBayes refuses it.
        ("bernoulli", "f0", math.nan, r"'f0' row 2 holds nan, a value other than 0 or 1"),
    ],
)
def test_naive_bayes_refuses_the_same_rows_in_both_runtimes(
    small_models, name, column, value, refusal, runtime
):
    """Spark raises on these rows; before this guard the ONNX runtime answered NaN instead."""
    paths, _ = small_models
    model = mlflow.pyfunc.load_model(paths[name], model_config={"runtime": runtime})
    frame = _nb_frame(name)[NB_FEATURES].head(4).copy()
    frame.loc[2, column] = value
    with pytest.raises(mlflow_sparkonnx.InvalidInputError, match=refusal):
        model.predict(frame)
    frame.loc[2, column] = 0.0 if name == "multinomial" else 1.0  # -0.0 and 0/1 are fine
    frame.loc[1, column] = -0.0
    assert not model.predict(frame)["prediction"].isna().any()


@pytest.mark.parametrize("runtime", ["onnx", "spark"])
def test_naive_bayes_on_a_raw_vector_column_refuses_a_negative_element(small_models, runtime):
    paths, _ = small_models
    model = mlflow.pyfunc.load_model(paths["complement_vector"], model_config={"runtime": runtime})
    frame = pd.DataFrame({"features": [[1.0, 2.0, 0.0], [3.0, -2.0, 1.0], [0.0, 0.0, 5.0]]})
    with pytest.raises(
        mlflow_sparkonnx.InvalidInputError,
        match=r"'features' row 1 holds \[3.0, -2.0, 1.0\], a vector holding a negative value or NaN",
    ):
        model.predict(frame)
    assert len(model.predict(frame.drop(index=1))) == 2


def test_behind_a_scaler_both_runtimes_refuse_a_row_the_scaler_turns_negative(spark, small_models):
    """Raw values cannot tell: the graph checks the computed features (a row check) and refuses the
    row, naming the features column and the row; the Spark runtime raises Spark's error."""
    paths, _ = small_models
    frame = _nb_frame("multinomial")[NB_FEATURES].head(4).copy()
    frame.loc[1, "f0"] = -100.0  # below the training minimum: MinMaxScaler makes it negative
    onnx = mlflow.pyfunc.load_model(paths["scaled"], model_config={"runtime": "onnx"})
    refused = r"row 1 holds a value which NaiveBayesModel .* refuses"
    with pytest.raises(mlflow_sparkonnx.InvalidInputError, match=refused):
        onnx.predict(frame)
    assert not onnx.predict(frame.drop(index=1))["prediction"].isna().any()
    spark_model = mlflow.pyfunc.load_model(paths["scaled"], model_config={"runtime": "spark"})
    with pytest.raises(Exception, match="requires nonnegative feature values"):
        spark_model.predict(frame)


def test_gaussian_naive_bayes_records_nothing(spark):
    from pyspark.ml.classification import NaiveBayes

    from mlflow_sparkonnx.contract import Column
    from mlflow_sparkonnx.flavor.recorded_rules import numeric_guards

    frame = _nb_frame("multinomial", rows=30)
    kept = VectorAssembler(inputCols=NB_FEATURES, outputCol="features", handleInvalid="keep")
    model = Pipeline(stages=[kept, NaiveBayes(modelType="gaussian")]).fit(spark.createDataFrame(frame))
    assert numeric_guards(model.stages, [Column(c, "double") for c in NB_FEATURES]) == {}


@pytest.mark.parametrize("runtime", ["onnx", "spark"])
def test_a_vector_column_takes_lists_or_arrays_of_the_recorded_length(small_models, runtime):
    import numpy as np

    paths, _ = small_models
    model = mlflow.pyfunc.load_model(paths["complement_vector"], model_config={"runtime": runtime})
    lists = pd.DataFrame({"features": [[1.0, 2.0, 0.0], [0.0, 0.0, 5.0]]})
    arrays = pd.DataFrame({"features": [np.array([1.0, 2.0, 0.0]), np.array([0.0, 0.0, 5.0])]})
    pd.testing.assert_frame_equal(model.predict(arrays), model.predict(lists))
    short = pd.DataFrame({"features": [[1.0, 2.0, 0.0], [1.0, 2.0]]})
    with pytest.raises(
        mlflow_sparkonnx.InvalidInputError,
        match=r"'features' must hold vectors of length 3 but row 1 has length 2",
    ):
        model.predict(short)


def numbers_agree(got: pd.Series, want: pd.Series) -> bool:
    from mlflow_sparkonnx.convert.verify import ABS_TOL, REL_TOL

    return bool(((got - want).abs() <= ABS_TOL + REL_TOL * want.abs()).all())


def test_nan_under_keep_flows_on_as_in_spark(small_models):
    """Bucketizer and VectorAssembler with handleInvalid="keep": NaN is scored, not refused, and both
    runtimes give Spark's answer (the extra NaN bucket; NaN features into LogisticRegression)."""
    paths, _ = small_models
    assert _flavor(paths["keep"])["numeric_guards"] == {}
    frame = _nb_frame("multinomial")[NB_FEATURES].head(5).copy()
    frame.loc[1, "f0"] = math.nan  # → the Bucketizer's extra bucket
    frame.loc[3, "f1"] = math.nan  # → a NaN feature
    results = {
        runtime: mlflow.pyfunc.load_model(paths["keep"], model_config={"runtime": runtime}).predict(frame)
        for runtime in ("onnx", "spark")
    }
    assert results["onnx"]["prediction"].tolist() == results["spark"]["prediction"].tolist()
    for got, want in zip(results["onnx"]["probability"], results["spark"]["probability"], strict=True):
        assert pd.Series(got).isna().tolist() == pd.Series(want).isna().tolist()
        assert numbers_agree(pd.Series(got).fillna(0), pd.Series(want).fillna(0))


def test_rows_another_skip_stage_drops_get_null_outputs_from_the_spark_runtime(small_models):
    """VectorIndexer(handleInvalid="skip") has no graph (the model is native-only); Spark drops a row
    holding a category it never saw, and the Spark runtime returns that row with null outputs."""
    paths, _ = small_models
    assert _flavor(paths["indexer_skip"])["onnx_status"] != "verified"
    model = mlflow.pyfunc.load_model(paths["indexer_skip"])
    assert model.get_raw_model().runtime == "spark"
    frame = _nb_frame("multinomial")[NB_FEATURES].head(4).copy()
    frame.loc[2, "f1"] = 1000.0  # never seen when the VectorIndexer was fitted
    got = model.predict(frame)
    assert len(got) == 4
    assert math.isnan(got["prediction"][2]) and got["probability"][2] is None
    assert not got.drop(index=2)["prediction"].isna().any()


@pytest.mark.parametrize("runtime", ["spark", "onnx"])
def test_transform_refuses_a_negative_naive_bayes_feature_naming_the_column(spark, small_models, runtime):
    """On a cluster too: the job fails with the pyfunc's message, not Spark's "Naive Bayes requires"."""
    from mlflow_sparkonnx.scoring.spark_scoring import transform

    paths, _ = small_models
    frame = _nb_frame("multinomial")[NB_FEATURES].head(20).copy()
    frame.loc[9, "f1"] = -3.0
    with pytest.raises(
        Exception, match=r"Column 'f1' (row \d+ )?holds -3.0, a negative value or NaN"
    ) as caught:
        transform(spark.createDataFrame(frame), paths["multinomial"], runtime=runtime).collect()
    assert "Naive Bayes requires" not in str(caught.value)  # Spark's own words


def test_a_null_integral_input_a_keep_bucketizer_reads_is_refused_by_onnx_scored_by_spark(spark, tmp_path):
    # Spark gives a null int a null bucket and NaN the extra bucket; an integral column's NaN means
    # null here (both runtimes read it so), and the graph would put it in the extra bucket.
    from pyspark.ml.feature import Bucketizer

    from mlflow_sparkonnx.exceptions import InvalidInputError

    n = 300
    rows = [(k % 41 - 20, None if k % 17 == 0 else k % 7, k / 10) for k in range(n)]
    rows[5] = (None, 3, 0.5)  # a null i in the example: left out of the parity rows
    frame = spark.createDataFrame(rows, "i bigint, k bigint, x double")
    stages = [
        Bucketizer(
            inputCol="i", outputCol="ib", splits=[-math.inf, -10, 0, 10, math.inf], handleInvalid="keep"
        ),
        VectorAssembler(inputCols=["k", "x"], outputCol="v", handleInvalid="keep"),  # null k = NaN k
    ]
    model = Pipeline(stages=stages).fit(frame)
    path = str(tmp_path / "model")
    mlflow_sparkonnx.save_model(model, path, input_example=frame, output_cols=["ib", "v"], onnx="require")
    conf = _flavor(path)
    assert conf["null_sensitive_inputs"] == {"i": f"Bucketizer ({stages[0].uid})"}

    score = pd.DataFrame(
        {"i": [-15.0, 3.0, math.nan, 12.0], "k": [1.0, math.nan, 2.0, 3.0], "x": [0.1, 0.2, 0.3, 0.4]}
    )
    onnx = mlflow.pyfunc.load_model(path, model_config={"runtime": "onnx"}).get_raw_model()
    with pytest.raises(
        InvalidInputError, match=r"Column 'i' row 2 holds a null, which Bucketizer .* runtime='spark'"
    ):
        onnx.predict(score)
    by_spark = (
        mlflow.pyfunc.load_model(path, model_config={"runtime": "spark"}).get_raw_model().predict(score)
    )
    assert math.isnan(by_spark["ib"][2])  # Spark's null bucket, not the extra bucket 4.0
    kept = score.drop(index=2).reset_index(drop=True)
    by_onnx = onnx.predict(kept)  # a null k (read only by the VectorAssembler) is scored by both
    expected = by_spark.drop(index=2).reset_index(drop=True)
    assert list(by_onnx["ib"]) == list(expected["ib"]) == [0.0, 2.0, 3.0]
    assert math.isnan(by_onnx["v"][1][0]) and math.isnan(expected["v"][1][0])
    assert [v[1] for v in by_onnx["v"]] == [v[1] for v in expected["v"]]


def test_a_null_that_a_skip_rule_drops_first_gets_null_outputs_not_a_refusal(spark, tmp_path):
    # VectorAssembler(skip) drops a row with a null i in Spark before the Bucketizer(keep) matters:
    # both runtimes give that row null outputs (the null rule yields to the skip rule).
    from pyspark.ml.feature import Bucketizer

    rows = [(k % 41 - 20, k / 10) for k in range(300)]
    frame = spark.createDataFrame(rows, "i bigint, x double")
    stages = [
        VectorAssembler(inputCols=["i", "x"], outputCol="v", handleInvalid="skip"),
        Bucketizer(inputCol="i", outputCol="ib", splits=[-math.inf, 0, math.inf], handleInvalid="keep"),
    ]
    model = Pipeline(stages=stages).fit(frame)
    path = str(tmp_path / "model")
    mlflow_sparkonnx.save_model(model, path, input_example=frame, output_cols=["ib", "v"], onnx="require")
    conf = _flavor(path)
    assert "i" in conf["null_sensitive_inputs"] and conf["numeric_guards"]["i"]["nan"] == "skip"
    score = pd.DataFrame({"i": [-5.0, math.nan, 7.0], "x": [0.1, 0.2, 0.3]})
    for runtime in ("onnx", "spark"):
        got = mlflow.pyfunc.load_model(path, model_config={"runtime": runtime}).get_raw_model().predict(score)
        assert list(got["ib"][[0, 2]]) == [0.0, 1.0], runtime
        assert math.isnan(got["ib"][1]) and got["v"][1] is None, runtime
