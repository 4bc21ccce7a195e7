"""Scoring on a Spark standalone cluster whose workers have disks of their own (see conftest.py).

What local mode hides: executors read the native model from a staging folder, never from the
driver's extraction folder; the graph reaches them with ``addFile``; ``spark_udf`` ships the model
itself. Each answer is compared with the native pipeline's own ``transform`` on the cluster.
"""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest

import mlflow_sparkonnx
from mlflow_sparkonnx.exceptions import ArtifactIntegrityError, RuntimeUnavailableError
from mlflow_sparkonnx.scoring.spark_scoring import transform

pytestmark = pytest.mark.cluster

ROWS = 600
OUTPUTS = ["prediction", "probability"]


@pytest.fixture(scope="module")
def rows(adult) -> pd.DataFrame:
    return adult.sample(n=ROWS, random_state=5).reset_index(drop=True).assign(row_id=np.arange(ROWS))


@pytest.fixture(scope="module")
def frame(spark, rows):
    """The rows over 4 partitions, so both workers score some."""
    return spark.createDataFrame(rows).repartition(4)


@pytest.fixture(scope="module")
def saved(tmp_path_factory, lr_pipeline, mismatch_fitted_pipeline, adult_holdout):
    """The LR pipeline (verified) and a native-only one, saved from the cluster's driver."""
    from wrong_converter import deliberately_wrong_converter

    root = tmp_path_factory.mktemp("cluster-models")
    paths = {"lr": str(root / "lr"), "native_only": str(root / "native_only")}
    mlflow_sparkonnx.save_model(lr_pipeline, paths["lr"], input_example=adult_holdout.head(200))
    with deliberately_wrong_converter():
        mlflow_sparkonnx.save_model(
            mismatch_fitted_pipeline, paths["native_only"], input_example=adult_holdout.head(200)
        )
    return paths


def collected(spark_df, columns: list[str]) -> pd.DataFrame:
    """``row_id`` and ``columns`` sorted by row id; vectors as lists of floats."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.ml.linalg import VectorUDT

    picked = [
        vector_to_array(spark_df[c]).alias(c) if isinstance(spark_df.schema[c].dataType, VectorUDT) else c
        for c in columns
    ]
    return spark_df.select("row_id", *picked).toPandas().sort_values("row_id").reset_index(drop=True)


def assert_same(ours: pd.DataFrame, native: pd.DataFrame, probability_tol: float = 0.0) -> None:
    assert list(ours["row_id"]) == list(native["row_id"])
    np.testing.assert_array_equal(ours["prediction"].to_numpy(float), native["prediction"].to_numpy(float))
    if "probability" in native:
        got = np.array(ours["probability"].tolist(), dtype=float)
        want = np.array(native["probability"].tolist(), dtype=float)
        np.testing.assert_allclose(got, want, atol=probability_tol, rtol=0)


def test_workers_do_not_see_the_drivers_temporary_folder(spark, tmp_path):
    """The premise of this module: a file in the driver's /tmp is not there for an executor."""
    marker = tmp_path / "marker.txt"
    marker.write_text("driver only\n")
    assert str(marker).startswith("/tmp/")
    with pytest.raises(Exception, match="does not exist|FileNotFound|FILE_NOT_EXIST"):
        spark.read.text(f"file://{marker}").collect()


def test_save_model_on_the_cluster_is_verified(saved):
    from mlflow.models import Model

    assert Model.load(saved["lr"]).flavors["sparkonnx"]["onnx_status"] == "verified"
    assert Model.load(saved["native_only"]).flavors["sparkonnx"]["onnx_status"] == "mismatch"


@pytest.mark.parametrize("runtime", ["onnx", "spark"])
def test_transform_on_the_cluster_equals_the_native_pipeline(frame, saved, lr_pipeline, runtime):
    ours = collected(transform(frame, saved["lr"], runtime=runtime), OUTPUTS)
    assert len(ours) == ROWS
    assert_same(ours, collected(lr_pipeline.transform(frame), OUTPUTS), 1e-4 if runtime == "onnx" else 0.0)


def test_a_native_only_model_is_staged_for_the_executors(
    frame, saved, mismatch_fitted_pipeline, shared_staging
):
    """runtime auto on a native-only model: the pipeline is copied to the staging folder and loaded there."""
    before = set(shared_staging.iterdir())
    ours = collected(transform(frame, saved["native_only"]), ["prediction"])
    native = collected(mismatch_fitted_pipeline.transform(frame), ["prediction"])
    assert ours["prediction"].tolist() == native["prediction"].tolist()
    assert {p.name.startswith("sparkonnx-") for p in set(shared_staging.iterdir()) - before} == {True}


def test_without_a_shared_staging_folder_the_error_names_the_setting(
    spark, frame, saved, lr_pipeline, monkeypatch, tmp_path, shared_staging
):
    """The default staging folder (/tmp/mlflow) is on the driver's disk only: loading and saving say
    which setting to change, and a save leaves nothing behind. dfs_tmpdir= is the other way to name it."""
    monkeypatch.delenv("MLFLOW_DFS_TMP")
    with pytest.raises(RuntimeUnavailableError, match="executors cannot read .*MLFLOW_DFS_TMP.*dfs_tmpdir"):
        transform(frame, saved["lr"], runtime="spark")
    target = tmp_path / "unsaved"
    with pytest.raises(ArtifactIntegrityError, match="MLFLOW_DFS_TMP"):
        mlflow_sparkonnx.save_model(lr_pipeline, str(target), input_example=frame.limit(50).toPandas())
    assert not target.exists()
    shared = shared_staging / "by-argument"
    ours = collected(transform(frame, saved["lr"], runtime="spark", dfs_tmpdir=f"file://{shared}"), OUTPUTS)
    assert_same(ours, collected(lr_pipeline.transform(frame), OUTPUTS))
    assert any(shared.iterdir())


def test_spark_udf_on_the_cluster(spark, frame, saved, lr_pipeline):
    from mlflow.models import Model
    from pyspark.sql import functions as F

    udf = mlflow.pyfunc.spark_udf(spark, saved["lr"])
    names = Model.load(saved["lr"]).get_input_schema().input_names()
    scored = frame.withColumn("scores", udf(*[F.col(n) for n in names])).select("row_id", "scores.*")
    assert_same(collected(scored, OUTPUTS), collected(lr_pipeline.transform(frame), OUTPUTS), 1e-4)


def test_a_registered_model_from_a_tracking_server(frame, lr_pipeline, adult_holdout, tracking_server):
    name = "cluster-lr"
    with mlflow.start_run(experiment_id=tracking_server.experiment_id):
        mlflow_sparkonnx.log_model(
            lr_pipeline, name="model", input_example=adult_holdout.head(100), registered_model_name=name
        )
    mlflow.MlflowClient().set_registered_model_alias(name, "champion", "1")
    native = collected(lr_pipeline.transform(frame), OUTPUTS)
    for runtime in ("onnx", "spark"):
        ours = collected(transform(frame, f"models:/{name}@champion", runtime=runtime), OUTPUTS)
        assert_same(ours, native, 1e-4 if runtime == "onnx" else 0.0)


@pytest.fixture(scope="module")
def rules_model(spark, adult_train, tmp_path_factory):
    """workclass indexed with "skip" (Spark drops unseen rows), education with "error" (Spark raises),
    age bucketed with "keep" (a null stays null there, a NaN is the extra bucket: under runtime="onnx"
    rows with a null age go to the native pipeline), assembled with "keep" (the null becomes NaN)."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import Bucketizer, StringIndexer, VectorAssembler

    train = adult_train.head(2000).assign(label=lambda f: (f["income"] == ">50K").astype(float))
    pipeline = Pipeline(
        stages=[
            StringIndexer(inputCol="workclass", outputCol="workclass_idx", handleInvalid="skip"),
            StringIndexer(inputCol="education", outputCol="education_idx", handleInvalid="error"),
            Bucketizer(
                splits=[-float("inf"), 30.0, 45.0, 60.0, float("inf")],
                inputCol="age",
                outputCol="age_bucket",
                handleInvalid="keep",
            ),
            VectorAssembler(
                inputCols=["workclass_idx", "education_idx", "age_bucket", "hours_per_week"],
                outputCol="features",
                handleInvalid="keep",
            ),
            LogisticRegression(maxIter=10),
        ]
    ).fit(spark.createDataFrame(train))
    path = str(tmp_path_factory.mktemp("rules") / "model")
    example = train[["workclass", "education", "age", "hours_per_week"]].head(200)
    mlflow_sparkonnx.save_model(pipeline, path, input_example=example, onnx="require")
    return pipeline, path


@pytest.mark.parametrize("runtime", ["onnx", "spark"])
def test_skip_and_null_rules_on_the_cluster(spark, rows, rules_model, runtime):
    """Unseen workclass: null outputs, the row kept. A null age: Spark's answer (NaN features)."""
    from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

    pipeline, path = rules_model
    data = rows[["row_id", "workclass", "education", "age", "hours_per_week"]].astype({"age": float})
    data.loc[data["row_id"] % 50 == 1, "workclass"] = "never seen"
    age = data["age"].astype(object)
    age[data["row_id"] % 50 == 2] = None
    data["age"] = age
    schema = StructType(
        [
            StructField("row_id", LongType()),
            StructField("workclass", StringType()),
            StructField("education", StringType()),
            StructField("age", DoubleType(), nullable=True),
            StructField("hours_per_week", LongType()),
        ]
    )
    frame = spark.createDataFrame(data.values.tolist(), schema).repartition(4)
    ours = collected(transform(frame, path, runtime=runtime), OUTPUTS)
    assert len(ours) == ROWS
    unseen = ours["row_id"] % 50 == 1
    assert ours.loc[unseen, "prediction"].isna().all()
    native = collected(pipeline.transform(frame), OUTPUTS)
    assert len(native) == ROWS - unseen.sum()  # Spark itself drops them
    kept = ours[~unseen].reset_index(drop=True)
    assert_same(kept, native, 1e-4 if runtime == "onnx" else 0.0)
    assert (native["row_id"] % 50 == 2).sum() > 0


@pytest.mark.parametrize("runtime", ["onnx", "spark"])
def test_an_unseen_category_under_error_fails_the_job_naming_the_column(spark, rows, rules_model, runtime):
    _, path = rules_model
    data = rows[["row_id", "workclass", "education", "age", "hours_per_week"]].copy()
    data.loc[7, "education"] = "Astrophysics"
    frame = spark.createDataFrame(data).repartition(4)
    with pytest.raises(Exception, match="Column 'education'") as caught:
        transform(frame, path, runtime=runtime).select("prediction").collect()
    assert "Astrophysics" in str(caught.value)
