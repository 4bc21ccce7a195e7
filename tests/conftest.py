"""Shared fixtures: one local SparkSession, the Adult data, fitted pipelines, a sqlite tracking store,
one ``mlflow server``."""

from __future__ import annotations

import ctypes
import fcntl
import gc
import os
import sys
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from adult_data import ADULT_CSV, CATEGORICAL, NUMERIC
from text_data import documents, labelled
from wrong_converter import deliberately_wrong_converter

os.environ["PYSPARK_PYTHON"] = sys.executable
os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
os.environ["MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK"] = "true"
os.environ.pop("MLFLOW_SPARKONNX_RUNTIME", None)


#: Test files that share a costly session fixture, run on one xdist worker so it is made once:
#: ``tracking_server_process`` (an ``mlflow server`` start, 7-14 s) and ``package_wheel`` (a pip build).
_SHARED_FIXTURE_GROUPS = (
    ("tests/test_cli.py", "tests/lifecycle/test_promotion.py"),
    ("tests/flavor/test_package_wheel.py", "tests/scoring/test_serving_env.py"),
)


def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile``, with the files of each :data:`_SHARED_FIXTURE_GROUPS` group as one unit."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    group_of = {path: group[0] for group in _SHARED_FIXTURE_GROUPS for path in group}

    class SharedFixtureScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = super()._split_scope(nodeid)
            return group_of.get(path, path)

    return SharedFixtureScheduling(config, log)


_LIBC = ctypes.CDLL("libc.so.6") if sys.platform.startswith("linux") else None


@pytest.fixture(autouse=True)
def _release_memory_between_tests():
    """Collect reference cycles and hand freed memory back to the OS after each test.

    The parity plots (matplotlib figures) and py4j objects form cycles that Python's collector,
    which counts objects rather than bytes, leaves for a long time; with them, one worker's RSS
    climbed past 8 GB over the text tests. Collected after each test it stays near 0.5 GB.
    """
    yield
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


@pytest.fixture(scope="session")
def spark():
    """One task thread: the suite runs two of these sessions on two cores, and the tests' jobs are small
    (a second thread per session measured ~25% slower saves). Tests that need several partitions make them."""
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[1]")
        .appName("mlflow-sparkonnx-tests")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        # The tests' jobs are short: the JIT's first tier only spends less CPU compiling.
        .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def adult() -> pd.DataFrame:
    """The UCI Adult data (leading spaces stripped): 32,561 rows, or the 2,000-row sample."""
    return pd.read_csv(ADULT_CSV, skipinitialspace=True)


@pytest.fixture(scope="session")
def adult_train(adult) -> pd.DataFrame:
    return adult.sample(n=min(6000, len(adult) // 2), random_state=1).reset_index(drop=True)


@pytest.fixture(scope="session")
def adult_holdout(adult, adult_train) -> pd.DataFrame:
    """Rows not used for training, features only (what a caller sends)."""
    return adult.sample(n=400, random_state=7).drop(columns=["income"]).reset_index(drop=True)


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory):
    import mlflow

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment_id = mlflow.create_experiment("tests", artifact_location=(root / "artifacts").as_uri())
    mlflow.set_experiment(experiment_id=experiment_id)
    return uri


@pytest.fixture(scope="session")
def package_wheel(tmp_path_factory) -> Path:
    """This checkout built as a wheel (``pip wheel --no-deps``), as a user would ship the package."""
    import subprocess

    out = tmp_path_factory.mktemp("dist")
    root = Path(__file__).resolve().parents[1]
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(root), "-w", str(out)]
    subprocess.run(command, check=True, timeout=600, capture_output=True)
    return next(out.glob("mlflow_sparkonnx-*.whl"))


@pytest.fixture(scope="session")
def tracking_server_process(tmp_path_factory):
    """One ``mlflow server`` for the session (each start costs 10-15 s); see tracking_server.py."""
    from tracking_server import start_server, stop_server

    root = tmp_path_factory.mktemp("mlflow-server")
    process, url = start_server(root)
    try:
        yield process, url, root
    finally:
        stop_server(process)


@pytest.fixture(scope="module")
def tracking_server(tracking_server_process, request):
    """The session's ``mlflow server`` with the in-process client pointed at it and an experiment
    of the module's own; the previous tracking and registry URIs come back when the module ends.
    Modules share its registry, so each uses registered-model names of its own."""
    import mlflow
    from tracking_server import TrackingServer

    process, url, root = tracking_server_process
    previous = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    try:
        mlflow.set_tracking_uri(url)
        mlflow.set_registry_uri(url)
        experiment = f"sparkonnx-server-tests-{request.module.__name__}"
        experiment_id = mlflow.MlflowClient().create_experiment(experiment)
        yield TrackingServer(url=url, experiment_id=experiment_id, root=root, process=process)
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])


@pytest.fixture(scope="session")
def lr_pipeline(spark, adult_train):
    """StringIndexer → OneHotEncoder(keep) → VectorAssembler → LogisticRegression (label indexed too)."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import OneHotEncoder, StringIndexer, VectorAssembler

    idx = [f"{c}_idx" for c in CATEGORICAL]
    ohe = [f"{c}_ohe" for c in CATEGORICAL]
    stages = [
        StringIndexer(inputCols=CATEGORICAL, outputCols=idx, handleInvalid="keep"),
        OneHotEncoder(inputCols=idx, outputCols=ohe, handleInvalid="keep"),
        VectorAssembler(inputCols=ohe + NUMERIC, outputCol="features"),
        StringIndexer(inputCol="income", outputCol="label"),
        LogisticRegression(maxIter=30, regParam=0.01),
    ]
    return Pipeline(stages=stages).fit(spark.createDataFrame(adult_train))


@pytest.fixture(scope="session")
def rf_pipeline(spark, adult_train):
    """VectorAssembler(numeric) → RandomForestClassifier(20 trees)."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import RandomForestClassifier
    from pyspark.ml.feature import StringIndexer, VectorAssembler

    stages = [
        StringIndexer(inputCol="income", outputCol="label"),
        VectorAssembler(inputCols=NUMERIC, outputCol="features"),
        RandomForestClassifier(numTrees=20, maxDepth=6, seed=3),
    ]
    return Pipeline(stages=stages).fit(spark.createDataFrame(adult_train))


@pytest.fixture(scope="session")
def gbt_regressor_pipeline(spark, adult_train):
    """The article's VectorAssembler → GBTRegressor (predicts hours_per_week)."""
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import VectorAssembler
    from pyspark.ml.regression import GBTRegressor

    features = ["age", "education_num", "capital_gain", "capital_loss"]
    stages = [
        VectorAssembler(inputCols=features, outputCol="features"),
        GBTRegressor(labelCol="hours_per_week", maxIter=10, maxDepth=3, seed=5),
    ]
    return Pipeline(stages=stages).fit(spark.createDataFrame(adult_train))


@pytest.fixture(scope="session")
def mismatch_fitted_pipeline(spark, adult_train):
    """VectorAssembler → ElementwiseProduct → LinearRegression (hours_per_week)."""
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import ElementwiseProduct, VectorAssembler
    from pyspark.ml.linalg import Vectors
    from pyspark.ml.regression import LinearRegression

    stages = [
        VectorAssembler(inputCols=["age", "education_num"], outputCol="raw_features"),
        ElementwiseProduct(
            scalingVec=Vectors.dense([0.5, 2.0]), inputCol="raw_features", outputCol="features"
        ),
        LinearRegression(labelCol="hours_per_week", maxIter=5),
    ]
    return Pipeline(stages=stages).fit(spark.createDataFrame(adult_train))


@pytest.fixture
def mismatch_pipeline(mismatch_fitted_pipeline):
    """The mismatch pipeline, with its stage's deliberately wrong converter registered for the test:
    saving it gives a graph that disagrees with Spark (status "mismatch")."""
    with deliberately_wrong_converter():
        yield mismatch_fitted_pipeline


@pytest.fixture(scope="session")
def sql_pipeline(spark, adult_train):
    """SQLTransformer → VectorAssembler → LinearRegression, native only: the statement uses a string
    function (REVERSE), which the SQLTransformer converter leaves unsupported."""
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import SQLTransformer, VectorAssembler
    from pyspark.ml.regression import LinearRegression

    stages = [
        SQLTransformer(
            statement="SELECT *, age * education_num AS age_x_education, "
            "LENGTH(REVERSE(workclass)) AS workclass_length FROM __THIS__"
        ),
        VectorAssembler(inputCols=["age", "age_x_education"], outputCol="features"),
        LinearRegression(labelCol="hours_per_week", maxIter=5),
    ]
    return Pipeline(stages=stages).fit(spark.createDataFrame(adult_train))


@pytest.fixture(scope="session")
def text_frame() -> pd.DataFrame:
    words = ["spark", "onnx", "mlflow", "model", "serve", "fast", "slow", "jvm", "python", "data"]
    rows = []
    for i in range(300):
        doc = " ".join(words[(i * k) % len(words)] for k in range(1, 2 + i % 6))
        rows.append({"text": doc.upper() if i % 7 == 0 else doc, "label": float("fast" in doc)})
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def text_pipeline(spark, text_frame):
    """The article's Tokenizer → HashingTF → LogisticRegression."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import HashingTF, Tokenizer

    stages = [
        Tokenizer(inputCol="text", outputCol="words"),
        HashingTF(inputCol="words", outputCol="features", numFeatures=64),
        LogisticRegression(maxIter=10),
    ]
    return Pipeline(stages=stages).fit(spark.createDataFrame(text_frame))


class _SavedModels(dict):
    """name -> the path of that fitted pipeline saved with save_model(onnx="auto"), saved on first use.

    A model is fitted and saved once per test run: the xdist workers share the folder, and the first
    worker to need a model saves it while the others wait on its lock (tests only read these folders).
    """

    def __init__(self, root: Path, examples: dict[str, Callable[[], tuple[Any, Any]]]) -> None:
        super().__init__()
        self._root, self._examples = root, examples

    def __missing__(self, name: str) -> str:
        import mlflow_sparkonnx

        if name == "glr":  # an alias of "mismatch", kept for tests written when GLR was the example
            self[name] = self["mismatch"]
            return self[name]
        path = self._root / name
        with open(self._root / f"{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            if not (path / "MLmodel").exists():  # save_model moves a finished folder into place
                model, input_example = self._examples[name]()
                context = deliberately_wrong_converter() if name == "mismatch" else nullcontext()
                with context:
                    mlflow_sparkonnx.save_model(model, str(path), input_example=input_example)
        self[name] = str(path)
        return str(path)


@pytest.fixture(scope="session")
def saved_models(tmp_path_factory, request, spark, adult_train, text_frame):
    """Each fitted pipeline saved once with save_model(onnx="auto"), when a test first reads it.

    "mismatch" is saved with its deliberately wrong converter registered (native only); "glr" is
    an alias of it kept for tests written when GeneralizedLinearRegression was the example.
    """
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "saved-models"
    root.mkdir(exist_ok=True)
    example = adult_train.drop(columns=["income"]).head(300)

    def fitted(fixture: str, input_example: Any) -> Callable[[], tuple[Any, Any]]:
        return lambda: (request.getfixturevalue(fixture), input_example)

    return _SavedModels(
        root,
        {
            "lr": fitted("lr_pipeline", example),
            "rf": fitted("rf_pipeline", example),
            "gbt": fitted("gbt_regressor_pipeline", spark.createDataFrame(example)),
            "text": fitted("text_pipeline", text_frame[["text"]]),
            "mismatch": fitted("mismatch_fitted_pipeline", example),
            "sql": fitted("sql_pipeline", example.head(100)),
        },
    )


@pytest.fixture(scope="module")
def article_pipeline(spark):
    """Tokenizer → HashingTF (Spark's default 2^18 features) → LogisticRegression."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import HashingTF, Tokenizer

    stages = [
        Tokenizer(inputCol="text", outputCol="words"),
        HashingTF(inputCol="words", outputCol="features"),
        LogisticRegression(maxIter=20, regParam=0.01),
    ]
    return Pipeline(stages=stages).fit(spark.createDataFrame(labelled(documents(600, seed=3))))
