"""transform(runtime="onnx") with nulls in numeric columns: never silently different from Spark.

A null reaches the graph as NaN. Rows holding one in a column that a null-sensitive stage reads
(SQL on a double column, Bucketizer, FeatureHasher, ...) are scored by Spark; a pipeline whose
numeric columns feed only null-safe stages (VectorAssembler, Binarizer) keeps the plain ONNX plan.
"""

from __future__ import annotations

import logging
import math

import pytest

from mlflow_sparkonnx.spark_scoring import transform

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


def _rows(spark_df, outputs: list[str], nan_as_null: bool = True) -> dict[int, tuple]:
    """``row_id`` → the outputs. A NaN output counts as null unless ``nan_as_null=False``: the ONNX
    path returns NaN outputs as null (pandas_udf's Arrow conversion masks NaN), the output side of
    the one-missing-value limit, which no stage in these pipelines reads afterwards."""
    rows = spark_df.select("row_id", *outputs).collect()
    by_id = {r["row_id"]: tuple(_plain(r[c], nan_as_null) for c in outputs) for r in rows}
    assert len(by_id) == len(rows) == ROWS
    return by_id


def _plan(spark_df) -> str:
    return spark_df._jdf.queryExecution().optimizedPlan().toString()


def _assert_same(ours: dict[int, tuple], theirs: dict[int, tuple], outputs: list[str], frame) -> None:
    inputs = {r["row_id"]: (r["x"], r["i"]) for r in frame.collect()}
    differing = [
        (row_id, inputs[row_id], name, ours[row_id][k], theirs[row_id][k])
        for row_id in sorted(theirs)
        for k, name in enumerate(outputs)
        if ours[row_id][k] != theirs[row_id][k]
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
    with caplog.at_level(logging.INFO, logger="mlflow_sparkonnx.spark_scoring"):
        scored = transform(frame, path, runtime="onnx")
    # Rows with a null x go to Spark (x is read by a SQL on a double and by a Bucketizer); a null i
    # alone stays on the graph, whose SQL reads NaN as null in an int column.
    assert "Rows with a null in ['x'] are scored by the native pipeline" in caplog.text
    assert "Union" in _plan(scored)
    ours = _rows(scored, SQL_OUTPUTS)
    by_spark = _rows(transform(frame, path, runtime="spark"), SQL_OUTPUTS)
    _assert_same(ours, by_spark, SQL_OUTPUTS, frame)
    native = _rows(fitted.transform(frame), SQL_OUTPUTS, nan_as_null=False)
    _assert_same(
        _rows(transform(frame, path, runtime="spark"), SQL_OUTPUTS, False), native, SQL_OUTPUTS, frame
    )
    # The cases that differ when the graph reads a null as NaN: COALESCE, IS NULL, a comparison
    # (null for null, true for NaN, the greatest value) and the Bucketizer (null, or the extra bucket).
    xs = {r["row_id"]: r["x"] for r in frame.collect()}
    null_x = [native[n] for n, x in xs.items() if x is None]
    nan_x = [native[n] for n, x in xs.items() if x is not None and math.isnan(x)]
    assert null_x and all(row[:3] == (0.0, -1.0, None) and row[6] is None for row in null_x)
    assert nan_x and all(row[:3] == ("NaN", "NaN", 1.0) and row[6] == 3.0 for row in nan_x)
    assert scored.columns == [*frame.columns, *SQL_OUTPUTS]


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
    _assert_same(_rows(transform(frame, path, runtime="onnx"), outputs), by_spark, outputs, frame)
    native = _rows(fitted.transform(frame), outputs, nan_as_null=False)
    _assert_same(_rows(transform(frame, path, runtime="spark"), outputs, False), native, outputs, frame)
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
    ours = _rows(scored, outputs)
    # Predictions from float32 graph arithmetic: compare them with a tolerance.
    for row_id, (binary, prediction) in by_spark.items():
        assert ours[row_id][0] == binary
        theirs = ours[row_id][1]
        if isinstance(prediction, float) and math.isfinite(prediction):
            assert theirs == pytest.approx(prediction, rel=1e-4, abs=1e-4)
        else:
            assert theirs == prediction
