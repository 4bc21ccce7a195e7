"""The `mlflow-sparkonnx` command against a real `mlflow server`: through a subprocess (the installed
entry point), and in process for the commands that convert or validate with Spark (a subprocess
would start a JVM of its own: ~50 s more per call on 2 cores)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import mlflow
import pytest
from mlflow import MlflowClient
from parity import spark_transform

from mlflow_sparkonnx.lifecycle.promotion import promote
from mlflow_sparkonnx.lifecycle.upgrade import TAG_UPGRADED_FROM

pytestmark = pytest.mark.slow

CLI = os.path.join(os.path.dirname(sys.executable), "mlflow-sparkonnx")


def run_cli(server, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, env=server.env(), timeout=timeout, check=False
    )


def invoke_cli(server, *args: str) -> subprocess.CompletedProcess:
    """The same command run in this process (click's runner), sharing the session's SparkSession."""
    from click.testing import CliRunner

    from mlflow_sparkonnx.cli import main

    # Every variable the command reads or sets is listed, so the runner restores them afterwards.
    env = {k: v for k, v in server.env().items() if k.startswith(("MLFLOW_", "PYSPARK_"))}
    env.setdefault("PYSPARK_SUBMIT_ARGS", None)
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def register_saved(server, path: str, name: str) -> None:
    """Register an already saved model directory (no second conversion)."""
    with mlflow.start_run(experiment_id=server.experiment_id) as run:
        mlflow.log_artifacts(path, "model")
    client = MlflowClient()
    client.create_registered_model(name)
    client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)


@pytest.fixture(scope="module")
def registered(tracking_server, saved_models):
    register_saved(tracking_server, saved_models["lr"], "cli-lr")
    register_saved(tracking_server, saved_models["sql"], "cli-sql")
    return tracking_server


def test_help_lists_the_commands(tracking_server):
    result = run_cli(tracking_server, "--help")
    assert result.returncode == 0
    assert all(command in result.stdout for command in ("inspect", "promote", "upgrade"))
    as_module = subprocess.run(
        [sys.executable, "-m", "mlflow_sparkonnx", "promote", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert as_module.returncode == 0 and "--require-runtime [onnx|spark]" in as_module.stdout


def test_inspect_prints_stages_parity_runtime_and_requirements(registered):
    result = run_cli(registered, "inspect", "models:/cli-lr/1")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    verdict = r"ONNX status: +verified \(all outputs agree with Spark on 300 rows and \d+ edge probes\)"
    assert re.search(verdict, out)
    assert "Default runtime: onnx" in out
    for stage in ("StringIndexerModel", "OneHotEncoderModel", "VectorAssembler", "LogisticRegressionModel"):
        assert stage in out
    assert "dropped" in out  # the label indexer
    assert "probability" in out and "mismatched rows" in out
    assert "onnxruntime==" in out and "pyspark" not in out.split("Requirements:")[1]

    unsupported = run_cli(registered, "inspect", "models:/cli-sql/1")
    assert unsupported.returncode == 0, unsupported.stderr
    assert "SQLTransformer" in unsupported.stdout and "unsupported" in unsupported.stdout
    assert "Default runtime: spark" in unsupported.stdout


def test_inspect_of_a_missing_model_fails_without_a_traceback(registered):
    result = run_cli(registered, "inspect", "models:/cli-nope/1")
    assert result.returncode == 3
    assert result.stderr.startswith("Error: ") and "Traceback" not in result.stderr


def test_promote_refused_then_done(registered, adult_holdout, tmp_path):
    refused = run_cli(registered, "promote", "cli-sql", "1", "--require-runtime", "onnx")
    assert refused.returncode == 1
    assert (
        refused.stderr.startswith("Refused to promote cli-sql version 1")
        and "no verified ONNX graph" in refused.stderr
    )
    assert "Traceback" not in refused.stderr

    rows = tmp_path / "validation.csv"
    adult_holdout.head(100).to_csv(rows, index=False)
    done = invoke_cli(
        registered, "promote", "cli-lr", "1", "--alias", "champion", "--validation-data", str(rows)
    )
    assert done.returncode == 0, done.stderr
    assert "Promoted cli-lr version 1 to models:/cli-lr@champion" in done.stdout
    assert "ONNX agrees with Spark on 105 rows [onnx-vs-spark]" in done.stdout
    assert MlflowClient().get_model_version_by_alias("cli-lr", "champion").version == "1"

    inspected = run_cli(registered, "inspect", "models:/cli-lr@champion")
    assert "sparkonnx.validated_at" in inspected.stdout and "aliases: champion" in inspected.stdout


def test_upgrade_an_mlflow_spark_model_then_promote_and_serve(
    tracking_server,
    spark,
    lr_pipeline,
    adult_train,
    adult_holdout,
):
    import mlflow.spark

    registered = tracking_server
    example = adult_train.drop(columns=["income"]).head(100)
    with mlflow.start_run(experiment_id=registered.experiment_id) as run:
        # Requirements given: MLflow would otherwise infer them by loading the model in a new JVM.
        mlflow.spark.log_model(
            lr_pipeline, "spark-model", input_example=example, pip_requirements=["pyspark"]
        )
    source = f"runs:/{run.info.run_id}/spark-model"

    result = invoke_cli(registered, "upgrade", source, "--register", "cli-upgraded")
    assert result.returncode == 0, result.stderr
    assert "ONNX status:     verified" in result.stdout
    assert "registered:      cli-upgraded version 1" in result.stdout

    client = MlflowClient()
    version = client.get_model_version("cli-upgraded", "1")
    assert version.tags[TAG_UPGRADED_FROM] == source
    again = run_cli(registered, "upgrade", "models:/cli-upgraded/1")
    assert again.returncode == 3 and "already a sparkonnx model" in again.stderr

    promote("cli-upgraded", 1)
    served = mlflow.pyfunc.load_model("models:/cli-upgraded@champion")
    assert served.get_raw_model().runtime == "onnx"
    holdout = adult_holdout.head(50)
    expected = spark_transform(lr_pipeline, spark, holdout.assign(income="<=50K"), ["prediction"])
    got = served.predict(holdout)
    assert list(got["prediction"]) == list(expected["prediction"])
