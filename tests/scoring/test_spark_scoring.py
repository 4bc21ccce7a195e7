"""Scoring Spark DataFrames: transform with each runtime, spark_udf, input rules, one load per worker.

Tests whose job fails inside a Python worker come last: a failed task's worker is not reused, and a
new worker spends seconds importing mlflow.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd
import pytest
from mlmodel import flavor_block

from mlflow_sparkonnx.exceptions import InvalidInputError, RuntimeUnavailableError
from mlflow_sparkonnx.scoring.spark_scoring import transform

ROWS = 2000  # the shipped sample's size, so a clone without ../shared runs the same
OUTPUTS = ["prediction", "probability"]


@pytest.fixture(scope="module")
def adult_frame(spark, adult):
    """A few thousand Adult rows with a row id, spread over 4 partitions, cached."""
    rows = adult.sample(n=ROWS, random_state=11).reset_index(drop=True)
    frame = spark.createDataFrame(rows.assign(row_id=np.arange(len(rows)))).repartition(4).cache()
    frame.count()
    yield frame
    frame.unpersist()


def collected(spark_df, columns: list[str]) -> pd.DataFrame:
    """``row_id`` and ``columns``, sorted by row id; vectors and arrays as lists."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.ml.linalg import VectorUDT

    selected = [
        vector_to_array(spark_df[c]).alias(c) if isinstance(spark_df.schema[c].dataType, VectorUDT) else c
        for c in columns
    ]
    frame = spark_df.select("row_id", *selected).toPandas()
    return frame.sort_values("row_id").reset_index(drop=True)


def assert_same_outputs(ours: pd.DataFrame, native: pd.DataFrame, probability_tol: float) -> None:
    assert len(ours) == len(native)
    assert (ours["row_id"].to_numpy() == native["row_id"].to_numpy()).all()
    assert (ours["prediction"].to_numpy() == native["prediction"].to_numpy()).all()
    ours_p, native_p = np.stack(ours["probability"]), np.stack(native["probability"])
    assert np.abs(ours_p - native_p).max() <= probability_tol


@pytest.mark.parametrize(
    ("model", "runtime"), [("rf", "spark"), ("rf", "onnx"), ("rf", "auto"), ("lr", "spark"), ("lr", "onnx")]
)
def test_transform_equals_native_transform(
    spark, adult_frame, saved_models, rf_pipeline, lr_pipeline, model, runtime
):
    pipeline = {"rf": rf_pipeline, "lr": lr_pipeline}[model]
    native = collected(pipeline.transform(adult_frame), OUTPUTS)
    scored = transform(adult_frame, saved_models[model], runtime=runtime)

    # The input columns pass through unchanged; the outputs are appended, typed as the pyfunc returns them.
    assert scored.columns == [*adult_frame.columns, *OUTPUTS]
    assert [f.dataType.simpleString() for f in scored.schema.fields[: len(adult_frame.columns)]] == [
        f.dataType.simpleString() for f in adult_frame.schema.fields
    ]
    assert scored.schema["prediction"].dataType.simpleString() == "double"
    assert scored.schema["probability"].dataType.simpleString() == "array<double>"
    # Spark's own numbers for the native pipeline; float32 graph arithmetic for the ONNX graph.
    tolerance = 0.0 if runtime == "spark" else 1e-4
    assert_same_outputs(collected(scored, OUTPUTS), native, tolerance)
    passthrough = collected(scored, ["age", "workclass"])
    expected = collected(adult_frame, ["age", "workclass"])
    pd.testing.assert_frame_equal(passthrough, expected)


def test_output_cols_and_refusals(spark, adult_frame, saved_models):
    onnx_only = transform(adult_frame, saved_models["rf"], runtime="onnx", output_cols=["prediction"])
    spark_only = transform(adult_frame, saved_models["rf"], runtime="spark", output_cols=["prediction"])
    assert onnx_only.columns == spark_only.columns == [*adult_frame.columns, "prediction"]

    with pytest.raises(InvalidInputError, match=r"'age' \(bigint\)"):
        transform(adult_frame.drop("age"), saved_models["rf"])
    with pytest.raises(InvalidInputError, match="already has column"):
        transform(adult_frame.withColumnRenamed("income", "prediction"), saved_models["rf"])
    with pytest.raises(InvalidInputError, match="Column 'age' must be bigint"):
        transform(adult_frame.withColumn("age", adult_frame["age"].cast("string")), saved_models["rf"])
    with pytest.raises(InvalidInputError, match="not outputs of this model"):
        transform(adult_frame, saved_models["rf"], output_cols=["rawPrediction"])
    with pytest.raises(RuntimeUnavailableError, match="no verified ONNX graph"):
        transform(adult_frame, saved_models["sql"], runtime="onnx")


def _worker_reports(spark, sha256: str) -> pd.DataFrame:
    """Each Python worker's counters for this graph, read in the workers themselves."""

    def report(batches):
        from mlflow_sparkonnx.scoring.spark_worker import worker_counters

        for _ in batches:
            pass
        yield pd.DataFrame([{"pid": os.getpid(), **worker_counters(sha256)}])

    reports = spark.range(8).repartition(8).mapInPandas(report, "pid long, loads long, batches long")
    return reports.toPandas().drop_duplicates("pid").set_index("pid")


def test_the_graph_is_loaded_once_per_python_worker(spark, adult_frame, saved_models):
    from pyspark.sql import functions as F

    path = saved_models["rf"]
    sha256 = flavor_block(path)["onnx_model_sha256"]
    per_partition = adult_frame.groupBy(F.spark_partition_id()).count().toPandas()["count"]
    batch_rows = 100
    expected_batches = sum(math.ceil(n / batch_rows) for n in per_partition)
    before = _worker_reports(spark, sha256)

    previous = spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch")
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(batch_rows))
    try:
        scored = transform(adult_frame, path, runtime="onnx")
        assert scored.filter("prediction IS NOT NULL").count() == ROWS
    finally:
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", previous)

    after = _worker_reports(spark, sha256)
    scored_batches = after["batches"].sum() - before["batches"].reindex(after.index, fill_value=0).sum()
    assert scored_batches == expected_batches  # every worker that scored reported back
    assert expected_batches >= 15
    # One load per worker that ever scored this graph, however many batches it scored.
    assert (after.loc[after["batches"] > 0, "loads"] == 1).all()
    assert after["loads"].sum() < expected_batches


@pytest.mark.parametrize("value", [30.5, -(2.0**63) - 2**11])
def test_native_transform_refuses_what_an_integral_column_cannot_hold(
    spark, adult_frame, saved_models, value
):
    """age was saved as bigint; a double column holding 30.5 or a number below bigint's range fails
    the job naming the column, as the pyfunc and the ONNX path refuse it (the pipeline would score it)."""
    from pyspark.sql import functions as F

    doubles = adult_frame.withColumn(
        "age", F.when(F.col("row_id") == 5, F.lit(value)).otherwise(F.col("age").cast("double"))
    )
    with pytest.raises(Exception, match=r"Column 'age' holds .*, which is not a whole number within range"):
        transform(doubles, saved_models["lr"], runtime="spark").select("prediction").collect()


def test_native_transform_scores_whole_doubles_in_an_integral_column_as_integers(
    spark, adult_frame, saved_models
):
    doubles = adult_frame.withColumn("age", adult_frame["age"].cast("double"))
    ours = collected(transform(doubles, saved_models["lr"], runtime="spark"), OUTPUTS)
    native = collected(transform(adult_frame, saved_models["lr"], runtime="spark"), OUTPUTS)
    assert_same_outputs(ours, native, 0.0)


@pytest.fixture(scope="module")
def skipping_model(spark, adult_train, tmp_path_factory):
    """StringIndexer(handleInvalid="skip") → VectorAssembler → LogisticRegression: Spark drops unseen rows."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import StringIndexer, VectorAssembler

    import mlflow_sparkonnx

    train = adult_train.head(1500).assign(label=lambda f: (f["income"] == ">50K").astype(float))
    pipeline = Pipeline(
        stages=[
            StringIndexer(inputCol="sex", outputCol="sex_idx", handleInvalid="skip"),
            VectorAssembler(inputCols=["sex_idx", "age", "hours_per_week"], outputCol="features"),
            LogisticRegression(maxIter=10),
        ]
    ).fit(spark.createDataFrame(train))
    path = str(tmp_path_factory.mktemp("skip") / "model")
    example = train[["sex", "age", "hours_per_week"]].head(200)
    mlflow_sparkonnx.save_model(pipeline, path, input_example=example, onnx="require")
    return pipeline, path


@pytest.mark.parametrize("runtime", ["spark", "onnx"])
def test_rows_spark_would_drop_keep_null_outputs(spark, adult_frame, skipping_model, runtime):
    from pyspark.sql import functions as F

    pipeline, path = skipping_model
    frame = adult_frame.withColumn(
        "sex", F.when(F.col("row_id") % 500 == 3, F.lit("unseen")).otherwise(F.col("sex"))
    )
    unseen_rows = len(range(3, ROWS, 500))
    assert pipeline.transform(frame).count() == ROWS - unseen_rows  # Spark itself drops them
    scored = collected(transform(frame, path, runtime=runtime), OUTPUTS)
    assert len(scored) == ROWS
    unseen = scored["row_id"] % 500 == 3
    assert unseen.sum() == unseen_rows
    assert scored.loc[unseen, "prediction"].isna().all()
    assert scored.loc[unseen, "probability"].isna().all()
    native = collected(pipeline.transform(frame), OUTPUTS)
    assert_same_outputs(scored[~unseen].reset_index(drop=True), native, 0.0 if runtime == "spark" else 1e-4)


def test_rows_keep_their_own_outputs_when_the_frame_comes_in_another_order_each_time(
    spark, adult_frame, skipping_model
):
    """The outputs of a pipeline that drops rows are joined back: the frame below is ordered anew each
    time it is computed, as a shuffle's output is on a cluster. A generated row id paired rows with
    other rows' outputs there; the join on the inputs' content does not."""
    import random

    from pyspark.sql import functions as F

    pipeline, path = skipping_model
    frame = adult_frame.withColumn(
        "sex", F.when(F.col("row_id") % 500 == 3, F.lit("unseen")).otherwise(F.col("sex"))
    )
    shuffled = F.udf(lambda: random.random(), "double").asNondeterministic()
    scored = collected(transform(frame.orderBy(shuffled()), path, runtime="spark"), OUTPUTS)
    assert len(scored) == ROWS
    unseen = scored["row_id"] % 500 == 3
    assert scored.loc[unseen, "prediction"].isna().all()
    native = collected(pipeline.transform(frame), OUTPUTS)  # Spark drops the unseen rows
    assert_same_outputs(scored[~unseen].reset_index(drop=True), native, 0.0)


def test_spark_udf_scores_verified_models_with_onnx_as_a_struct(
    spark, adult_frame, saved_models, lr_pipeline
):
    import mlflow.pyfunc
    from mlflow.models import Model
    from pyspark.sql import functions as F

    path = saved_models["lr"]
    udf = mlflow.pyfunc.spark_udf(spark, path)
    names = Model.load(path).get_input_schema().input_names()
    scored = adult_frame.withColumn("scores", udf(*[F.col(n) for n in names]))
    assert (
        scored.schema["scores"].dataType.simpleString()
        == "struct<prediction:double,probability:array<double>>"
    )
    ours = collected(scored.select("row_id", "scores.*"), OUTPUTS)
    assert_same_outputs(ours, collected(lr_pipeline.transform(adult_frame), OUTPUTS), 1e-4)


@pytest.mark.parametrize("runtime", ["spark", "onnx"])
def test_a_null_category_fails_the_job_naming_the_column(spark, adult_frame, saved_models, runtime):
    from pyspark.sql import functions as F

    with_null = adult_frame.withColumn(
        "workclass", F.when(F.col("row_id") == 17, F.lit(None)).otherwise(F.col("workclass"))
    )
    with pytest.raises(Exception, match="Column 'workclass'") as caught:
        transform(with_null, saved_models["lr"], runtime=runtime).select("prediction").collect()
    assert "null" in str(caught.value)


def test_spark_udf_refuses_a_native_only_model_pointing_to_transform(spark, adult_frame, saved_models):
    import mlflow.pyfunc
    from mlflow.models import Model
    from pyspark.sql import functions as F

    path = saved_models["sql"]
    assert flavor_block(path)["onnx_status"] == "unsupported"
    udf = mlflow.pyfunc.spark_udf(spark, path, result_type="double")
    names = Model.load(path).get_input_schema().input_names()
    with pytest.raises(Exception, match=r"mlflow_sparkonnx\.transform") as caught:
        adult_frame.limit(10).select(udf(*[F.col(n) for n in names])).collect()
    assert "cannot be started inside a Spark task" in str(caught.value)
    # The function it points to scores the same model natively.
    assert transform(adult_frame, path).filter("prediction IS NOT NULL").count() == ROWS


def test_onnx_transform_refuses_a_fraction_in_an_integral_column_like_the_native_one(
    spark, adult_frame, saved_models
):
    from pyspark.sql import functions as F

    doubles = adult_frame.withColumn(
        "age", F.when(F.col("row_id") == 5, F.lit(30.5)).otherwise(F.col("age").cast("double"))
    )
    with pytest.raises(Exception, match=r"Column 'age' \(bigint\) row \d+ holds 30.5, which is not a whole"):
        transform(doubles, saved_models["lr"], runtime="onnx").select("prediction").collect()


@pytest.mark.parametrize("call", ["positional", "struct", "no arguments"])
def test_spark_udf_takes_columns_in_the_datas_order_as_a_struct_or_by_name(
    spark, adult_frame, saved_models, lr_pipeline, call
):
    """The signature keeps the input example's column order, which MLflow maps positional arguments
    to: the data's own order (numbers and strings interleaved, as in the Adult file), a struct of
    the columns and a call without arguments all score as the pipeline does."""
    import mlflow.pyfunc
    from mlflow.models import Model
    from pyspark.sql import functions as F

    path = saved_models["lr"]
    names = Model.load(path).get_input_schema().input_names()
    in_frame_order = [c for c in adult_frame.columns if c in set(names)]
    assert names == in_frame_order  # the example's order, not the stages' (strings first)
    udf = mlflow.pyfunc.spark_udf(spark, path)
    columns = [F.col(c) for c in in_frame_order]
    scores = {
        "positional": lambda: udf(*columns),
        "struct": lambda: udf(F.struct(*columns)),
        "no arguments": udf,
    }
    ours = collected(adult_frame.withColumn("scores", scores[call]()).select("row_id", "scores.*"), OUTPUTS)
    assert_same_outputs(ours, collected(lr_pipeline.transform(adult_frame), OUTPUTS), 1e-4)
