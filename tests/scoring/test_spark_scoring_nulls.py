"""transform(runtime="onnx") with nulls in numeric columns: never silently different from Spark.

A null reaches the graph as NaN. Rows holding one in a column that a null-sensitive stage reads
(SQL on a double column, Bucketizer, FeatureHasher, ...) are scored by Spark; a pipeline whose
numeric columns feed only null-safe stages (VectorAssembler, Binarizer) keeps the plain ONNX plan.
"""

from __future__ import annotations

import logging
import math

import pytest

from mlflow_sparkonnx.scoring.spark_scoring import transform

ROWS = 300
X_VALUES = [None, math.nan, math.inf, -math.inf, 0.0, -0.0, 0.5, 1.0, -2.5, 3.75, 0.25]
I_VALUES = [None, 0, 1, -3, 7, 2]  # a period prime to X_VALUES': every pairing occurs
SCHEMA = "row_id int, x double, i int"


def _frame(spark, x_values: list, i_values: list) -> object:
    rows = [(n, x_values[n % len(x_values)], i_values[n % len(i_values)]) for n in range(ROWS)]
    return spark.createDataFrame(rows, SCHEMA).repartition(3, "row_id")


@pytest.fixture(scope="module")
def frame(spark):
    """Nulls, NaN, ±inf, ±0 in ``x``; nulls in ``i``; cached over 3 partitions."""
    df = _frame(spark, X_VALUES, I_VALUES).cache()
    df.count()
    yield df
    df.unpersist()


def _fit_and_save(spark, stages: list, outputs: list[str], path: str) -> object:
    """Fit on clean rows, save with a verified graph recording ``outputs``; the fitted pipeline."""
    from pyspark.ml import Pipeline

    import mlflow_sparkonnx

    clean = _frame(spark, [v for v in X_VALUES if v is not None and math.isfinite(v)], I_VALUES[1:])
    fitted = Pipeline(stages=stages).fit(clean.withColumn("label", clean["x"] * 2.0 + 1.0))
    example = clean.select("x", "i").limit(100)
    mlflow_sparkonnx.save_model(fitted, path, input_example=example, output_cols=outputs, onnx="require")
    return fitted


def _plain(value: object, nan_as_null: bool) -> object:
    """A collected value comparable with ==: NaN as a marker or as None, vectors as lists."""
    if hasattr(value, "toArray"):
        value = value.toArray().tolist()
    if isinstance(value, list):
        return [_plain(v, nan_as_null) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None if nan_as_null else "NaN"
    if isinstance(value, bool):
        return float(value)
    return value


def _rows(spark_df, outputs: list[str], nan_as_null: bool = False, n_rows: int = ROWS) -> dict[int, tuple]:
    """``row_id`` → the outputs, NaN told from null unless ``nan_as_null``: the ONNX path returns
    a NaN that a SQLTransformer's output holds as null (its graph writes SQL nulls as NaN)."""
    rows = spark_df.select("row_id", *outputs).collect()
    by_id = {r["row_id"]: tuple(_plain(r[c], nan_as_null) for c in outputs) for r in rows}
    assert len(by_id) == len(rows) == n_rows
    return by_id


def _plan(spark_df) -> str:
    return spark_df._jdf.queryExecution().optimizedPlan().toString()


def _close(ours: object, theirs: object) -> bool:
    """Equal, floats within 1e-4 (float32 graph arithmetic); NaN only matches NaN, None only None."""
    if isinstance(ours, list) and isinstance(theirs, list):
        return len(ours) == len(theirs) and all(map(_close, ours, theirs))
    if isinstance(ours, float) and isinstance(theirs, float) and math.isfinite(theirs):
        return ours == pytest.approx(theirs, rel=1e-4, abs=1e-4)
    return ours == theirs


def _assert_same(
    ours: dict[int, tuple], theirs: dict[int, tuple], outputs: list[str], frame, tolerant: bool = False
) -> None:
    inputs = {r["row_id"]: (r["x"], r["i"]) for r in frame.collect()}
    same = _close if tolerant else (lambda a, b: a == b)
    differing = [
        (row_id, inputs[row_id], name, ours[row_id][k], theirs[row_id][k])
        for row_id in sorted(theirs)
        for k, name in enumerate(outputs)
        if not same(ours[row_id][k], theirs[row_id][k])
    ]
    assert not differing, (
        f"{len(differing)} values differ, e.g. (row, (x, i), column, ours, Spark's): {differing[:5]}"
    )


SQL = (
    "SELECT *, COALESCE(x, 0.0) AS x_filled, IF(x IS NULL, -1.0, x) AS x_flagged, "
    "CAST(x > 0 AS DOUBLE) AS x_positive, COALESCE(i, -1) AS i_filled, "
    "CAST(i IS NULL AS DOUBLE) AS i_missing, i * 2 AS i_twice FROM __THIS__"
)
SQL_OUTPUTS = ["x_filled", "x_flagged", "x_positive", "i_filled", "i_missing", "i_twice", "x_bucket"]


@pytest.fixture(scope="module")
def sql_model(spark, tmp_path_factory):
    """SQLTransformer (null tests on double ``x`` and int ``i``) + Bucketizer(keep) on ``x``."""
    from pyspark.ml.feature import Bucketizer, SQLTransformer

    stages = [
        SQLTransformer(statement=SQL),
        Bucketizer(
            splits=[-math.inf, 0.0, 1.0, math.inf], inputCol="x", outputCol="x_bucket", handleInvalid="keep"
        ),
    ]
    path = str(tmp_path_factory.mktemp("nulls") / "sql")
    return _fit_and_save(spark, stages, SQL_OUTPUTS, path), path


def test_sql_and_bucketizer_score_nulls_as_spark_does(spark, frame, sql_model, caplog):
    fitted, path = sql_model
    with caplog.at_level(logging.INFO, logger="mlflow_sparkonnx.scoring.spark_scoring"):
        scored = transform(frame, path, runtime="onnx")
    # Rows with a null x go to Spark (x is read by a SQL on a double and by a Bucketizer); a null i
    # alone stays on the graph, whose SQL reads NaN as null in an int column.
    assert "Rows with a null in ['x'] are scored by the native pipeline" in caplog.text
    assert "Union" in _plan(scored)
    # The SQL outputs' NaN comes back as null on the ONNX path (documented): compare with NaN as null.
    ours = _rows(scored, SQL_OUTPUTS, nan_as_null=True)
    by_spark = _rows(transform(frame, path, runtime="spark"), SQL_OUTPUTS, nan_as_null=True)
    _assert_same(ours, by_spark, SQL_OUTPUTS, frame)
    native = _rows(fitted.transform(frame), SQL_OUTPUTS)
    _assert_same(_rows(transform(frame, path, runtime="spark"), SQL_OUTPUTS), native, SQL_OUTPUTS, frame)
    # The cases that differ when the graph reads a null as NaN: COALESCE, IS NULL, a comparison
    # (null for null, true for NaN, the greatest value) and the Bucketizer (null, or the extra bucket).
    xs = {r["row_id"]: r["x"] for r in frame.collect()}
    null_x = [native[n] for n, x in xs.items() if x is None]
    nan_x = [native[n] for n, x in xs.items() if x is not None and math.isnan(x)]
    assert null_x and all(row[:3] == (0.0, -1.0, None) and row[6] is None for row in null_x)
    assert nan_x and all(row[:3] == ("NaN", "NaN", 1.0) and row[6] == 3.0 for row in nan_x)
    assert scored.columns == [*frame.columns, *SQL_OUTPUTS]
    # The residual difference: a genuine NaN from SQL reads as null (the graph's null is NaN).
    exact = _rows(scored, SQL_OUTPUTS)
    assert all(exact[n][:2] == (None, None) for n, x in xs.items() if x is not None and math.isnan(x))


@pytest.fixture(scope="module")
def hashing_model(spark, tmp_path_factory):
    """Bucketizer(keep) on int ``i`` + FeatureHasher on ``x``: both tell null from NaN."""
    from pyspark.ml.feature import Bucketizer, FeatureHasher

    stages = [
        Bucketizer(
            splits=[-math.inf, 0.0, 2.0, math.inf], inputCol="i", outputCol="i_bucket", handleInvalid="keep"
        ),
        FeatureHasher(inputCols=["x"], outputCol="hashed", numFeatures=4),
    ]
    path = str(tmp_path_factory.mktemp("nulls") / "hashing")
    return _fit_and_save(spark, stages, ["i_bucket", "hashed"], path), path


def test_an_integral_column_given_as_double_scores_nan_as_null(spark, frame, hashing_model):
    from pyspark.sql import functions as F

    fitted, path = hashing_model
    outputs = ["i_bucket", "hashed"]
    by_spark = _rows(transform(frame, path, runtime="spark"), outputs)
    ours = _rows(transform(frame, path, runtime="onnx"), outputs)
    _assert_same(ours, by_spark, outputs, frame)
    _assert_same(by_spark, _rows(fitted.transform(frame), outputs), outputs, frame)
    # A NaN x hashes to a NaN element, kept as NaN (not null) on the way back from the graph.
    nan_x = [r["row_id"] for r in frame.collect() if r["x"] is not None and math.isnan(r["x"])]
    assert nan_x and all("NaN" in ours[n][1] and None not in ours[n][1] for n in nan_x)
    # i as a double column holding NaN where it was null: the pyfunc's rule makes NaN a null there.
    doubles = frame.withColumn("i", F.coalesce(F.col("i").cast("double"), F.lit(math.nan)))
    doubles_by_spark = _rows(transform(doubles, path, runtime="spark"), outputs)
    assert doubles_by_spark == by_spark
    _assert_same(_rows(transform(doubles, path, runtime="onnx"), outputs), by_spark, outputs, frame)


@pytest.fixture(scope="module")
def assembler_model(spark, tmp_path_factory):
    """Binarizer on ``x`` + VectorAssembler(keep) over ``x``, ``i`` → LinearRegression: null-safe only."""
    from pyspark.ml.feature import Binarizer, VectorAssembler
    from pyspark.ml.regression import LinearRegression

    stages = [
        Binarizer(threshold=0.5, inputCol="x", outputCol="x_binary"),
        VectorAssembler(inputCols=["x", "i", "x_binary"], outputCol="features", handleInvalid="keep"),
        LinearRegression(maxIter=5),
    ]
    path = str(tmp_path_factory.mktemp("nulls") / "assembler")
    return _fit_and_save(spark, stages, ["x_binary", "prediction"], path), path


def test_null_safe_stages_keep_the_plain_onnx_plan(spark, frame, assembler_model):
    fitted, path = assembler_model
    outputs = ["x_binary", "prediction"]
    scored = transform(frame, path, runtime="onnx")
    assert "Union" not in _plan(scored)
    assert "ArrowEvalPython" in scored._jdf.queryExecution().executedPlan().toString()
    by_spark = _rows(transform(frame, path, runtime="spark"), outputs)
    # Predictions from float32 graph arithmetic: compare them with a tolerance.
    ours = _rows(scored, outputs)
    _assert_same(ours, by_spark, outputs, frame, tolerant=True)
    _assert_same(by_spark, _rows(fitted.transform(frame), outputs), outputs, frame)
    # A null or NaN x gives a NaN feature (keep) and a NaN prediction, NaN on both paths.
    missing_x = [r["row_id"] for r in frame.collect() if r["x"] is None or math.isnan(r["x"])]
    assert missing_x and all(ours[n][1] == by_spark[n][1] == "NaN" for n in missing_x)
    raw = {r["row_id"]: r["prediction"] for r in scored.select("row_id", "prediction").collect()}
    assert all(isinstance(raw[n], float) and math.isnan(raw[n]) for n in missing_x)


CATEGORIES = ["a", "b", "c"]
MIXED_OUTPUTS = ["prediction", "features", "hashed", "hashed_wide"]


@pytest.fixture(scope="module")
def mixed_frame(frame):
    """``frame`` with a string ``s`` holding the label "unseen" on every fourth row."""
    from pyspark.sql import functions as F

    labels = F.array(*[F.lit(v) for v in [*CATEGORIES, "unseen"]])
    return frame.withColumn("s", F.element_at(labels, (F.col("row_id") % 4 + 1).cast("int")))


@pytest.fixture(scope="module")
def mixed_model(spark, tmp_path_factory):
    """StringIndexer(skip) on ``s``, VectorAssembler(keep) over ``x`` → LinearRegression, and two
    FeatureHashers on ``x``: 4 features (split into element columns) and 100 (crossing as lists)."""
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import FeatureHasher, StringIndexer, VectorAssembler
    from pyspark.ml.regression import LinearRegression
    from pyspark.sql import functions as F

    import mlflow_sparkonnx

    stages = [
        StringIndexer(inputCol="s", outputCol="s_index", handleInvalid="skip"),
        VectorAssembler(inputCols=["x", "s_index"], outputCol="features", handleInvalid="keep"),
        LinearRegression(maxIter=5),
        FeatureHasher(inputCols=["x"], outputCol="hashed", numFeatures=4),
        FeatureHasher(inputCols=["x"], outputCol="hashed_wide", numFeatures=100),
    ]
    clean = _frame(spark, [v for v in X_VALUES if v is not None and math.isfinite(v)], I_VALUES[1:])
    labels = F.array(*[F.lit(v) for v in CATEGORIES])
    clean = clean.withColumn("s", F.element_at(labels, (F.col("row_id") % 3 + 1).cast("int")))
    fitted = Pipeline(stages=stages).fit(clean.withColumn("label", clean["x"] * 2.0 + 1.0))
    path = str(tmp_path_factory.mktemp("nulls") / "mixed")
    example = clean.select("x", "s").limit(100)
    mlflow_sparkonnx.save_model(
        fitted, path, input_example=example, output_cols=MIXED_OUTPUTS, onnx="require"
    )
    return fitted, path


def test_nan_outputs_stay_nan_and_skipped_rows_stay_null(spark, mixed_frame, mixed_model):
    fitted, path = mixed_model
    ours = _rows(transform(mixed_frame, path, runtime="onnx"), MIXED_OUTPUTS)
    by_spark = _rows(transform(mixed_frame, path, runtime="spark"), MIXED_OUTPUTS)
    _assert_same(ours, by_spark, MIXED_OUTPUTS, mixed_frame, tolerant=True)
    inputs = {r["row_id"]: (r["x"], r["s"]) for r in mixed_frame.collect()}
    nan_seen = [n for n, (x, s) in inputs.items() if x is not None and math.isnan(x) and s != "unseen"]
    unseen = [n for n, (_, s) in inputs.items() if s == "unseen"]
    assert nan_seen and unseen
    # Native Spark drops the unseen rows; the rows it keeps are ours.
    native = _rows(fitted.transform(mixed_frame), MIXED_OUTPUTS, n_rows=ROWS - len(unseen))
    _assert_same(by_spark, native, MIXED_OUTPUTS, mixed_frame)
    for n in nan_seen:  # scored by the graph (NaN is not null): NaN everywhere it belongs
        prediction, features, hashed, wide = ours[n]
        assert prediction == "NaN" and features[0] == "NaN"
        assert hashed.count("NaN") == 1 and wide.count("NaN") == 1 and None not in hashed + wide
    # Rows the StringIndexer drops keep null outputs (NaN x among them), never NaN.
    assert any(inputs[n][0] is not None and math.isnan(inputs[n][0]) for n in unseen)
    assert all(ours[n] == (None, None, None, None) for n in unseen)


def test_an_unloadable_native_pipeline_scores_with_the_graph_and_refuses_nulls(
    spark, frame, hashing_model, tmp_path, monkeypatch, caplog
):
    """The native archive damaged (its checksum fails): the stages cannot be read, so every row is
    scored by the graph, and a row with a null in a nullable numeric input fails the job."""
    import shutil

    from mlmodel import flavor_block
    from pyspark.sql import functions as F

    from mlflow_sparkonnx.scoring import spark_scoring

    fitted, path = hashing_model
    damaged = tmp_path / "damaged"
    shutil.copytree(path, damaged)
    with open(damaged / flavor_block(path)["native_model"], "r+b") as archive:
        archive.truncate(100)
    monkeypatch.setattr(spark_scoring, "_ANALYSES", {})  # the intact copy's analysis is cached
    outputs = ["i_bucket", "hashed"]
    no_nulls = frame.filter(F.col("x").isNotNull() & F.col("i").isNotNull())  # still nullable columns
    with caplog.at_level(logging.WARNING, logger="mlflow_sparkonnx.scoring.spark_scoring"):
        scored = transform(no_nulls, str(damaged), runtime="onnx")
    assert "Could not load the native pipeline" in caplog.text
    assert "Union" not in _plan(scored)
    n_rows = no_nulls.count()
    theirs = _rows(fitted.transform(no_nulls), outputs, n_rows=n_rows)
    assert _rows(scored, outputs, n_rows=n_rows) == theirs  # NaN x among them
    null_x = frame.filter(F.col("i").isNotNull())
    with pytest.raises(Exception, match="Column 'x' holds a null, which the ONNX graph would read as NaN"):
        transform(null_x, str(damaged), runtime="onnx").collect()


def test_a_model_without_recorded_null_sensitive_inputs_reads_them_from_its_stages(
    spark, frame, hashing_model, tmp_path, monkeypatch, caplog
):
    """save_model records ``null_sensitive_inputs``; a model saved before that finds them from its stage
    list (loading the native pipeline) and routes the same rows."""
    import shutil

    import yaml

    from mlflow_sparkonnx.scoring import spark_scoring

    fitted, path = hashing_model
    recorded = yaml.safe_load(open(f"{path}/MLmodel"))["flavors"]["sparkonnx"]["null_sensitive_inputs"]
    assert recorded.keys() == {"i", "x"}  # Bucketizer(keep) on i, FeatureHasher on x
    older = tmp_path / "older"
    shutil.copytree(path, older)
    mlmodel = yaml.safe_load((older / "MLmodel").read_text())
    del mlmodel["flavors"]["sparkonnx"]["null_sensitive_inputs"]
    (older / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    monkeypatch.setattr(spark_scoring, "_ANALYSES", {})
    outputs = ["i_bucket", "hashed"]
    with caplog.at_level(logging.INFO, logger="mlflow_sparkonnx.scoring.spark_scoring"):
        scored = transform(frame, str(older), runtime="onnx")
    routed = [r.getMessage() for r in caplog.records if "are scored by the native pipeline" in r.getMessage()]
    assert len(routed) == 1 and "'x'" in routed[0] and "'i'" in routed[0]
    assert "Union" in _plan(scored)
    assert _rows(scored, outputs) == _rows(fitted.transform(frame), outputs)
