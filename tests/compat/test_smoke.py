"""The public API once through, on whatever pyspark / MLflow / pandas this environment has.

The compatibility stage (``scripts/compat.sh``) runs this module in a fresh virtualenv per supported
combination, the package installed from its own metadata. With ``SPARKONNX_COMPAT_SAVE_DIR`` set it
also leaves its models there (with the predictions they gave here) for ``test_cross_version.py``,
which another combination runs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import mlflow
import mlflow.sparkonnx  # noqa: F401 (the alias the package installs)
import numpy as np
import pandas as pd
import pyspark
import pytest
from adult_data import CATEGORICAL, NUMERIC
from mlmodel import flavor_block
from scoring_server import ScoringServer

import mlflow_sparkonnx

pytestmark = pytest.mark.compat
OUTPUTS = ["prediction", "probability"]
STAGE_METADATA = re.compile(r"stages/([^/]+)/metadata/part-[^/]+")


@pytest.fixture(scope="module")
def example(adult_train) -> pd.DataFrame:
    return adult_train.drop(columns=["income"]).head(200)


@pytest.fixture(scope="module")
def rows(adult_holdout) -> pd.DataFrame:
    return adult_holdout[CATEGORICAL + NUMERIC].head(100)


@pytest.fixture(scope="module")
def saved(tmp_path_factory, lr_pipeline, rf_pipeline, sql_pipeline, example, rows) -> dict[str, str]:
    """The LR and forest pipelines (verified) and the SQL one (native only), each saved once."""
    root = Path(os.environ.get("SPARKONNX_COMPAT_SAVE_DIR") or tmp_path_factory.mktemp("compat"))
    paths = {}
    for name, model in [("lr", lr_pipeline), ("rf", rf_pipeline), ("sql", sql_pipeline)]:
        paths[name] = str(root / name)
        mlflow_sparkonnx.save_model(model, paths[name], input_example=example.head(100))
        predictions = mlflow.pyfunc.load_model(paths[name]).predict(rows)
        record = {"pyspark": pyspark.__version__, "mlflow": mlflow.__version__, "rows": rows.to_dict("list")}
        record["predictions"] = {c: predictions[c].tolist() for c in predictions.columns if c in OUTPUTS}
        (root / f"{name}.json").write_text(json.dumps(record, default=_plain))
    return paths


def _plain(value):
    return value.tolist() if hasattr(value, "tolist") else value


def assert_same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    np.testing.assert_array_equal(got["prediction"].to_numpy(), expected["prediction"].to_numpy())
    if "probability" in expected:
        np.testing.assert_allclose(
            np.vstack(got["probability"]), np.vstack(expected["probability"]), atol=1e-4
        )


def test_save_model_verifies_and_writes_a_whole_native_archive(saved):
    for name, status in [("lr", "verified"), ("rf", "verified"), ("sql", "unsupported")]:
        conf = flavor_block(saved[name])
        assert conf["onnx_status"] == status, conf["onnx_reason"]
        assert conf["pyspark_version"] == pyspark.__version__
        with zipfile.ZipFile(Path(saved[name]) / "sparkml.zip") as zf:
            names = zf.namelist()
        assert any(n.startswith("metadata/part-00000") for n in names)
        stage_metadata = {m.group(1) for m in map(STAGE_METADATA.fullmatch, names) if m}
        assert len(stage_metadata) >= len(conf["stage_uids"])  # the dropped stages are saved too
        requirements = (Path(saved[name]) / "requirements.txt").read_text()
        assert ("pyspark==" in requirements) == (status != "verified"), requirements


def test_both_pyfunc_runtimes_give_one_answer(saved, rows):
    for name in ("lr", "rf"):
        by_onnx = mlflow.pyfunc.load_model(saved[name], model_config={"runtime": "onnx"})
        by_spark = mlflow.pyfunc.load_model(saved[name], model_config={"runtime": "spark"})
        assert by_onnx.get_raw_model().runtime == "onnx"
        assert by_spark.get_raw_model().runtime == "spark"
        assert_same(by_onnx.predict(rows), by_spark.predict(rows))
    assert mlflow.pyfunc.load_model(saved["sql"]).get_raw_model().runtime == "spark"


def test_log_model_by_name_and_by_artifact_path_then_load_from_the_registry(
    tracking_uri, lr_pipeline, example, rows, saved, package_wheel, tmp_path
):
    from mlflow.artifacts import download_artifacts

    expected = mlflow.pyfunc.load_model(saved["lr"]).predict(rows)
    with mlflow.start_run() as run:
        by_name = mlflow_sparkonnx.log_model(
            lr_pipeline,
            name="by-name",
            input_example=example,
            registered_model_name="compat-lr",
            params={"maxIter": 30},
            tags={"team": "compat"},
        )
        by_path = mlflow.sparkonnx.log_model(
            lr_pipeline, artifact_path="by-path", input_example=example, package_wheel=package_wheel
        )
    assert by_name.flavors["sparkonnx"]["onnx_status"] == "verified"
    assert by_name.registered_model_version == 1
    for uri in (
        "models:/compat-lr/1",
        by_name.model_uri,
        by_path.model_uri,
        f"runs:/{run.info.run_id}/by-path",
    ):
        assert_same(mlflow.pyfunc.load_model(uri).predict(rows), expected)
    native = mlflow_sparkonnx.load_model("models:/compat-lr/1")
    assert type(native.stages[-1]).__name__ == "LogisticRegressionModel"
    for name in ("by-name", "by-path"):
        report = download_artifacts(run_id=run.info.run_id, artifact_path=f"sparkonnx_report/{name}")
        assert "report.html" in os.listdir(report)
    # The model logged with its wheel: pip resolves its requirements from its own files alone.
    carried = Path(download_artifacts(by_path.model_uri, dst_path=str(tmp_path / "carried")))
    assert (carried / "wheels" / package_wheel.name).is_file()
    check = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--dry-run",
        "-q",
        "-r",
        str(carried / "requirements.txt"),
    ]
    resolved = subprocess.run(check, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert resolved.returncode == 0, resolved.stderr[-3000:]
    recorded = mlflow.MlflowClient().get_run(run.info.run_id).data
    if int(mlflow.__version__.split(".")[0]) < 3:  # no logged models: the run holds params and tags
        assert recorded.params["maxIter"] == "30" and recorded.tags["team"] == "compat"
    else:
        logged = mlflow.get_logged_model(by_name.model_id)
        assert logged.params["maxIter"] == "30" and logged.tags["team"] == "compat"


def test_spark_udf_and_transform_with_both_runtimes(spark, saved, rows, lr_pipeline):
    from mlflow.models import Model
    from pyspark.sql import functions as F

    frame = spark.createDataFrame(rows.assign(row_id=range(len(rows))))
    expected = mlflow.pyfunc.load_model(saved["lr"]).predict(rows)
    udf = mlflow.pyfunc.spark_udf(spark, saved["lr"])
    names = Model.load(saved["lr"]).get_input_schema().input_names()
    by_udf = frame.withColumn("scores", udf(*[F.col(n) for n in names])).select("row_id", "scores.*")
    assert_same(by_udf.toPandas().sort_values("row_id").reset_index(drop=True), expected)
    for runtime in ("onnx", "spark"):
        scored = mlflow_sparkonnx.transform(frame, saved["lr"], runtime=runtime)
        got = scored.select("row_id", *OUTPUTS).toPandas().sort_values("row_id").reset_index(drop=True)
        assert_same(got, expected)


@pytest.mark.slow
def test_one_served_request(saved, rows, tmp_path):
    server = ScoringServer(saved["lr"], tmp_path)
    try:
        server.wait_until_up()
        body = json.dumps({"dataframe_split": json.loads(rows.to_json(orient="split", index=False))})
        response = server.post(body)
        assert response.status_code == 200, response.text
        got = pd.DataFrame(response.json()["predictions"])
    finally:
        server.stop()
    assert_same(got, mlflow.pyfunc.load_model(saved["lr"]).predict(rows))


@pytest.mark.slow
def test_upgrade_promote_and_the_cli(tracking_uri, lr_pipeline, example, tmp_path):
    import mlflow.spark

    with mlflow.start_run() as run:  # mlflow.spark keeps the artifact_path argument in MLflow 3
        mlflow.spark.log_model(lr_pipeline, "spark-model", input_example=example.head(20))
    source_uri = f"runs:/{run.info.run_id}/spark-model"
    upgraded = mlflow_sparkonnx.upgrade(source_uri, registered_model_name="compat-upgraded")
    assert upgraded.flavors["sparkonnx"]["onnx_status"] == "verified"
    version = str(upgraded.registered_model_version)
    result = mlflow_sparkonnx.promote("compat-upgraded", version)
    assert (result.version, result.runtime) == (version, "onnx")
    champion = mlflow.MlflowClient().get_model_version_by_alias("compat-upgraded", "champion")
    assert str(champion.version) == version
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri}
    cli = [sys.executable, "-m", "mlflow_sparkonnx", "inspect", "models:/compat-upgraded@champion"]
    shown = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr
    assert "verified" in shown.stdout


@pytest.mark.slow
def test_the_model_requirements_resolve_with_pip(saved, package_wheel):
    """pip resolves each model's requirements.txt, with this package taken from a wheel built here."""
    wheels = package_wheel.parent
    for name in ("lr", "sql"):
        requirements = Path(saved[name]) / "requirements.txt"
        check = [sys.executable, "-m", "pip", "install", "--dry-run", "-q", "--find-links", str(wheels)]
        check += ["-r", str(requirements)]
        resolved = subprocess.run(check, capture_output=True, text=True, timeout=900)
        assert resolved.returncode == 0, f"{requirements.read_text()}\n{resolved.stderr[-3000:]}"
