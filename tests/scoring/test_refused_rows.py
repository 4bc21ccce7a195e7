"""Rows Spark refuses mid-job (k-means on NaN, one-hot of an unseen index) and OneVsRest's "no winner".

Each edge row is scored alone by Spark's ``transform`` and by the pyfunc in both runtimes; the
outcome (the value, or a refusal) must be the same, and a refusal is an ``InvalidInputError``
naming the column and the row. A property test draws batches of edge rows and asserts both
runtimes refuse the same first row or give the same values.
"""

from __future__ import annotations

import math
import re

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from mlmodel import flavor_block
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import LogisticRegression, OneVsRest
from pyspark.ml.clustering import BisectingKMeans, KMeans
from pyspark.ml.feature import OneHotEncoder, StringIndexer, VectorAssembler

import mlflow_sparkonnx

REFUSED = "refused"


def spark_outcome(pipeline, spark, frame: pd.DataFrame, column: str):
    """Spark's value for the one row of ``frame``, or REFUSED when the job fails."""
    schema = ", ".join(f"`{c}` double" for c in frame.columns)
    rows = [tuple(float(v) for v in row) for row in frame.itertuples(index=False)]
    try:
        (row,) = pipeline.transform(spark.createDataFrame(rows, schema)).select(column).collect()
    except Exception:
        return REFUSED
    value = row[0]
    if isinstance(value, str):
        return value
    return value.toArray().tolist() if hasattr(value, "toArray") else float(value)


def pyfunc_outcome(model, frame: pd.DataFrame, column: str, row_in_error: int = 0):
    try:
        value = model.predict(frame)[column][0]
    except mlflow_sparkonnx.InvalidInputError as exc:
        assert re.search(rf"\brow {row_in_error}\b", str(exc), re.IGNORECASE), str(exc)
        return REFUSED
    if isinstance(value, str):
        return value
    return list(value) if isinstance(value, (list, np.ndarray)) else float(value)


def assert_same_outcomes(pipeline, spark, path, frames: list[pd.DataFrame], column: str, loaded_differs=()):
    """Each one-row frame: Spark's outcome (the fitted pipeline) == the pyfunc's, in both runtimes.

    The ONNX runtime scores each frame alone. The Spark runtime scores each frame Spark refuses alone
    and the others in one batch (a Spark job per row is what makes this slow; the values of a
    row-wise pipeline do not depend on the batch).
    ``loaded_differs``: indices of frames where the Spark runtime, which scores the pipeline as
    loaded from disk, gives a value although the fitted pipeline refuses the row (see below).
    """
    models = {r: mlflow.pyfunc.load_model(path, model_config={"runtime": r}) for r in ("onnx", "spark")}
    expected = [spark_outcome(pipeline, spark, frame, column) for frame in frames]
    scored = []
    for i, (frame, wanted) in enumerate(zip(frames, expected, strict=True)):
        assert pyfunc_outcome(models["onnx"], frame, column) == wanted, ("onnx", frame.to_dict("records"))
        if wanted != REFUSED:
            scored.append(i)
            continue
        outcome = pyfunc_outcome(models["spark"], frame, column)
        if i in loaded_differs:
            assert outcome != REFUSED, frame.to_dict("records")
        else:
            assert outcome == REFUSED, ("spark", frame.to_dict("records"))
    if scored:
        batch = pd.concat([frames[i] for i in scored], ignore_index=True)
        values = models["spark"].predict(batch)[column]
        for i, value in zip(scored, values, strict=True):
            got = (
                value
                if isinstance(value, str)
                else (list(value) if isinstance(value, (list, np.ndarray)) else float(value))
            )
            assert got == expected[i], ("spark", frames[i].to_dict("records"))


#: Values at the edges of what a double holds (1e308 is left out: float32 converters overflow it).
EDGE_VALUES = (math.nan, math.inf, -math.inf, 0.0, -0.0, 1e-300, 5e-324)


def edge_rows(base: pd.Series, column: str) -> list[pd.DataFrame]:
    """One-row frames: ``base`` with ``column`` set to each edge value in turn, then all zeros."""
    frames = []
    for value in EDGE_VALUES:
        row = base.copy()
        row[column] = value
        frames.append(row.to_frame().T.astype("float64").reset_index(drop=True))
    zero = base.copy()
    zero[:] = 0.0
    frames.append(zero.to_frame().T.astype("float64").reset_index(drop=True))
    return frames


def save(pipeline, path, example, **kwargs) -> dict:
    mlflow_sparkonnx.save_model(pipeline, str(path), input_example=example, onnx="require", **kwargs)
    return flavor_block(path)


#: Each measure and each class once (both share one refusal rule, `_refuse_invalid_points`); cosine
#: KMeans has the loading quirk below.
@pytest.mark.parametrize(("kind", "measure"), [(KMeans, "cosine"), (BisectingKMeans, "euclidean")])
def test_kmeans_refuses_the_rows_spark_refuses(spark, adult_train, tmp_path, kind, measure):
    estimator = kind(k=4, seed=1, distanceMeasure=measure)
    columns = ["age", "hours_per_week", "capital_gain"]
    frame = adult_train[columns].astype("float64").head(400)
    assembler = VectorAssembler(inputCols=columns, outputCol="features", handleInvalid="keep")
    pipeline = Pipeline(stages=[assembler, estimator]).fit(spark.createDataFrame(frame))
    conf = save(pipeline, tmp_path / "model", frame)
    checks = conf["row_checks"]
    assert [c["column"] for c in checks] == ["features"] * len(checks)
    assert len(checks) == (2 if measure == "cosine" else 1)
    # Spark quirk: a cosine KMeansModel loaded from disk scores a zero vector (its parent model
    # records "euclidean"); the fitted one refuses it, as the ONNX runtime does.
    zero_row = len(EDGE_VALUES)
    loaded_differs = (zero_row,) if measure == "cosine" and kind is KMeans else ()
    assert_same_outcomes(
        pipeline,
        spark,
        str(tmp_path / "model"),
        edge_rows(frame.iloc[0], "capital_gain"),
        "prediction",
        loaded_differs,
    )


def test_kmeans_refusal_names_the_computed_column_and_row(spark, tmp_path):
    frame = pd.DataFrame({"x": np.linspace(-3, 3, 300), "y": np.cos(np.linspace(0, 9, 300))})
    assembler = VectorAssembler(inputCols=["x", "y"], outputCol="features", handleInvalid="keep")
    pipeline = Pipeline(stages=[assembler, KMeans(k=3, seed=2, distanceMeasure="cosine")]).fit(
        spark.createDataFrame(frame)
    )
    save(pipeline, tmp_path / "model", frame)
    model = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    batch = frame.head(4).copy()
    batch.loc[2, ["x", "y"]] = 0.0
    with pytest.raises(mlflow_sparkonnx.InvalidInputError, match=r"Column 'features' .* row 2 .*zero-length"):
        model.predict(batch)


@pytest.fixture(scope="module")
def education_one_hot(spark, adult_train):
    """A OneHotEncoder (handleInvalid='error', Spark's default) reading a raw numeric index column."""
    frame = adult_train[["education_num"]].astype("float64")
    encoder = OneHotEncoder(inputCols=["education_num"], outputCols=["education_vec"])
    return PipelineModel(stages=[encoder.fit(spark.createDataFrame(frame))]), frame.head(300)


@pytest.fixture(scope="module")
def education_one_hot_path(education_one_hot, tmp_path_factory):
    pipeline, frame = education_one_hot
    path = tmp_path_factory.mktemp("one_hot") / "model"
    conf = save(pipeline, path, frame)
    assert [c["column"] for c in conf["row_checks"]] == ["education_num"]
    return str(path)


def test_one_hot_encoder_error_mode_refuses_what_spark_refuses(
    spark, education_one_hot, education_one_hot_path
):
    pipeline, _ = education_one_hot
    size = float(pipeline.stages[0].categorySizes[0])
    values = [0.0, -0.0, 1.5, size - 1.0, size - 0.5, size, size + 1.0, -1.0, -0.5, math.nan, math.inf, 1e308]
    frames = [pd.DataFrame({"education_num": [v]}) for v in values]
    assert_same_outcomes(pipeline, spark, education_one_hot_path, frames, "education_vec")


@pytest.mark.parametrize("runtime", ["onnx", "spark"])
def test_one_hot_encoder_refusal_names_column_row_and_value(
    education_one_hot, education_one_hot_path, runtime
):
    _, frame = education_one_hot
    model = mlflow.pyfunc.load_model(education_one_hot_path, model_config={"runtime": runtime})
    batch = frame.head(5).copy()
    batch.loc[3, "education_num"] = 40.0
    with pytest.raises(mlflow_sparkonnx.InvalidInputError, match=r"'education_num' row 3"):
        model.predict(batch)


def test_one_vs_rest_gives_minus_one_when_no_class_wins(spark, adult_train, tmp_path):
    columns = ["age", "hours_per_week", "education_num"]
    frame = adult_train[[*columns, "race"]].head(600)
    fitted = Pipeline(
        stages=[
            StringIndexer(inputCol="race", outputCol="label"),
            VectorAssembler(inputCols=columns, outputCol="features", handleInvalid="keep"),
            OneVsRest(classifier=LogisticRegression(maxIter=8)),
        ]
    ).fit(spark.createDataFrame(frame))
    pipeline = PipelineModel(stages=fitted.stages[1:])  # scoring needs no label
    example = frame[columns].astype("float64")
    save(pipeline, tmp_path / "model", example, output_cols=["prediction"])
    frames = edge_rows(example.iloc[0], "hours_per_week")
    assert_same_outcomes(pipeline, spark, str(tmp_path / "model"), frames, "prediction")
    nan_row = frames[0]
    assert spark_outcome(pipeline, spark, nan_row, "prediction") == -1.0


@pytest.fixture(scope="module")
def clustering_and_one_hot(spark, tmp_path_factory):
    """KMeans (euclidean) over two assembled columns (NaN kept) and a one-hot of a raw index, both
    refusing rows mid-job in Spark; loaded in both runtimes."""
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {"x": rng.normal(size=300), "y": rng.normal(size=300), "idx": rng.integers(0, 4, 300) * 1.0}
    )
    pipeline = Pipeline(
        stages=[
            VectorAssembler(inputCols=["x", "y"], outputCol="features", handleInvalid="keep"),
            KMeans(k=3, seed=4),
            OneHotEncoder(inputCols=["idx"], outputCols=["idx_vec"]),
        ]
    ).fit(spark.createDataFrame(frame))
    path = tmp_path_factory.mktemp("refusing") / "model"
    save(pipeline, path, frame, output_cols=["prediction", "idx_vec"])
    return {r: mlflow.pyfunc.load_model(str(path), model_config={"runtime": r}) for r in ("onnx", "spark")}


edge_numbers = st.one_of(
    st.floats(min_value=-5, max_value=5),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, 5e-324, 1e-300]),
)
indices = st.one_of(
    st.integers(min_value=-1, max_value=5).map(float), st.sampled_from([math.nan, 1.5, 3.999])
)


@st.composite
def refusable_frames(draw) -> pd.DataFrame:
    n = draw(st.integers(min_value=1, max_value=8))
    return pd.DataFrame(
        {
            "x": [draw(edge_numbers) for _ in range(n)],
            "y": [draw(edge_numbers) for _ in range(n)],
            "idx": [draw(indices) for _ in range(n)],
        }
    )


def first_row_named(error: Exception) -> int:
    return int(re.search(r"\brow (\d+)\b", str(error), re.IGNORECASE).group(1))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=refusable_frames())
def test_both_runtimes_refuse_the_same_first_row_or_give_the_same_values(clustering_and_one_hot, frame):
    outcomes = {}
    for runtime, model in clustering_and_one_hot.items():
        try:
            outcomes[runtime] = model.predict(frame)
        except mlflow_sparkonnx.InvalidInputError as exc:
            outcomes[runtime] = exc
    onnx, spark = outcomes["onnx"], outcomes["spark"]
    event("refused" if isinstance(spark, Exception) else "scored")
    if isinstance(onnx, Exception) or isinstance(spark, Exception):
        assert isinstance(onnx, Exception) and isinstance(spark, Exception), (onnx, spark)
        assert first_row_named(onnx) == first_row_named(spark), (str(onnx), str(spark))
        return
    assert onnx["prediction"].tolist() == spark["prediction"].tolist()
    assert onnx["idx_vec"].tolist() == spark["idx_vec"].tolist()


def test_negative_zero_below_a_zero_lowest_split_is_refused_as_spark_refuses_it(spark, tmp_path):
    """Spark's Bucketizer searches its splits in Java's order, where -0.0 < 0.0: with 0.0 as the
    lowest split it raises "Feature value -0.0 out of Bucketizer bounds" (found by edge probes)."""
    from pyspark.ml.feature import Bucketizer

    from mlflow_sparkonnx.scoring.spark_scoring import transform

    pipeline = PipelineModel(stages=[Bucketizer(splits=[0.0, 10.0, 30.0], inputCol="y", outputCol="bucket")])
    example = pd.DataFrame({"y": np.linspace(0.0, 30.0, 300)})
    save(pipeline, tmp_path / "m", example)
    frames = [pd.DataFrame({"y": [value]}) for value in (-0.0, 0.0, 5e-324, -5e-324, 30.0)]
    assert [spark_outcome(pipeline, spark, f, "bucket") for f in frames] == [REFUSED, 0.0, 0.0, REFUSED, 1.0]
    assert_same_outcomes(pipeline, spark, tmp_path / "m", frames, "bucket")
    for runtime in ("onnx", "spark"):  # the Spark-side copy of the rule, too
        rows = spark.createDataFrame(pd.DataFrame({"y": [3.0, -0.0]}))
        with pytest.raises(Exception, match=r"-0\.0, outside its Bucketizer's splits \[0\.0, 30\.0\]"):
            transform(rows, str(tmp_path / "m"), runtime=runtime).collect()


def test_an_unseen_number_under_a_numeric_string_indexer_in_error_mode_is_refused(spark, tmp_path):
    """Spark indexes a double column by its text and raises on an unseen one (NaN included); the
    graph mapped it to -1 and scored on (found by edge probes): now a row check refuses it."""
    train = pd.DataFrame({"w": [0.5, 1.5, 2.5] * 100})
    pipeline = PipelineModel(
        stages=[StringIndexer(inputCol="w", outputCol="w_idx").fit(spark.createDataFrame(train))]
    )
    save(pipeline, tmp_path / "m", train)
    frames = [pd.DataFrame({"w": [value]}) for value in (1.5, 7.0, math.nan, -0.0, 2.5)]
    assert [spark_outcome(pipeline, spark, f, "w_idx") for f in frames] == [
        1.0,
        REFUSED,
        REFUSED,
        REFUSED,
        2.0,
    ]
    onnx = mlflow.pyfunc.load_model(str(tmp_path / "m"), model_config={"runtime": "onnx"})
    spark_runtime = mlflow.pyfunc.load_model(str(tmp_path / "m"), model_config={"runtime": "spark"})
    for frame, expected in zip(frames, [1.0, REFUSED, REFUSED, REFUSED, 2.0], strict=True):
        assert pyfunc_outcome(onnx, frame, "w_idx") == expected, frame
        try:
            assert float(spark_runtime.predict(frame)["w_idx"][0]) == expected, frame
        except mlflow_sparkonnx.InvalidInputError as exc:
            assert expected == REFUSED and "not seen when the pipeline was fitted" in str(exc), frame
    with pytest.raises(
        mlflow_sparkonnx.InvalidInputError, match=r"'w' row 1 holds 7.0, which StringIndexerModel"
    ):
        onnx.predict(pd.DataFrame({"w": [0.5, 7.0]}))
    # The Spark runtime names the column and the row too (Spark's message holds only the value).
    with pytest.raises(mlflow_sparkonnx.InvalidInputError, match=r"Column 'w' row 1 holds 7.0, a category"):
        spark_runtime.predict(pd.DataFrame({"w": [0.5, 7.0]}))
    with pytest.raises(mlflow_sparkonnx.InvalidInputError, match=r"Column 'w' row 2 holds nan, a category"):
        spark_runtime.predict(pd.DataFrame({"w": [0.5, 1.5, math.nan]}))


def test_vector_indexer_error_mode_refuses_what_spark_refuses(spark, tmp_path):
    """VectorIndexer(handleInvalid='error') on a raw categorical column: Spark raises on a value it was
    not fitted on (NaN included); both runtimes refuse the same rows and score the others alike."""
    from pyspark.ml.feature import VectorIndexer
    from pyspark.ml.regression import DecisionTreeRegressor

    rng = np.random.default_rng(6)
    frame = pd.DataFrame({"kind": rng.integers(0, 4, 300).astype(float), "x": rng.normal(size=300)})
    frame["label"] = frame["kind"] * 2.0 + frame["x"]
    pipeline = Pipeline(
        stages=[
            VectorAssembler(inputCols=["kind", "x"], outputCol="raw", handleInvalid="keep"),
            VectorIndexer(inputCol="raw", outputCol="features", maxCategories=5),
            DecisionTreeRegressor(maxDepth=3),
        ]
    ).fit(spark.createDataFrame(frame))
    example = frame[["kind", "x"]]
    conf = save(pipeline, tmp_path / "model", example)
    assert [c["column"] for c in conf["row_checks"]] == ["raw"]
    frames = edge_rows(example.iloc[0], "kind")
    for value in (3.0, 4.0, 2.5, -1.0):  # seen; then three values never seen
        row = example.iloc[[0]].reset_index(drop=True).astype("float64")
        row.loc[0, "kind"] = value
        frames.append(row)
    assert_same_outcomes(pipeline, spark, str(tmp_path / "model"), frames, "prediction")
    assert spark_outcome(pipeline, spark, frames[-1], "prediction") == REFUSED
    batch = pd.concat([frames[-5], frames[-1]], ignore_index=True)  # row 1 holds -1.0
    for runtime in ("onnx", "spark"):
        model = mlflow.pyfunc.load_model(str(tmp_path / "model"), model_config={"runtime": runtime})
        with pytest.raises(mlflow_sparkonnx.InvalidInputError, match=r"\brow 1\b") as caught:
            model.predict(batch)
        assert "'kind'" in str(caught.value) or "'raw'" in str(caught.value), (runtime, str(caught.value))


def test_index_to_string_on_a_raw_index_refuses_what_spark_refuses(spark, tmp_path):
    """Spark raises "Unseen index" for an index outside the labels (after toInt): both runtimes refuse
    that row, naming the column, and agree on the others (NaN and infinity: CAST_OVERFLOW)."""
    from pyspark.ml import PipelineModel
    from pyspark.ml.feature import IndexToString

    pipeline = PipelineModel(stages=[IndexToString(inputCol="index", outputCol="label", labels=["a", "b"])])
    example = pd.DataFrame({"index": [0.0, 1.0, 1.5, -0.5] * 20})
    conf = save(pipeline, tmp_path / "model", example)
    assert [c["column"] for c in conf["row_checks"]] == ["index"]
    frames = edge_rows(example.iloc[0], "index")
    for value in (1.9, 2.0, -1.0, 3e9):  # in range; then three outside
        frames.append(pd.DataFrame({"index": [value]}))
    assert_same_outcomes(pipeline, spark, str(tmp_path / "model"), frames, "label")
    assert spark_outcome(pipeline, spark, frames[-3], "label") == REFUSED
    batch = pd.DataFrame({"index": [1.0, 2.0]})
    for runtime in ("onnx", "spark"):
        model = mlflow.pyfunc.load_model(str(tmp_path / "model"), model_config={"runtime": runtime})
        with pytest.raises(
            mlflow_sparkonnx.InvalidInputError, match=r"'index'.*\brow 1\b|\brow 1\b.*'index'"
        ):
            model.predict(batch)
