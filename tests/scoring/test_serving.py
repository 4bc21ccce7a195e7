"""`mlflow models serve` on sparkonnx models: payload formats, bad input, runtime choice at serve time.

Each test class has one real scoring server (a subprocess), stopped when the class ends. All the
module's servers are launched together when its first test starts, so their start-ups (seconds of
imports, and a JVM for the Spark runtime) overlap each other and the fitting of this module's models.
Which runtime answered is proven two ways: a Java process in the server's process tree (the Spark
runtime's JVM), and the probabilities themselves (the ONNX graph computes in float32, so its
probabilities are exactly float32-representable; Spark's float64 ones practically never are).
"""

from __future__ import annotations

import io
import json

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
import requests
from adult_data import CATEGORICAL, NUMERIC
from scoring_server import ScoringServer

pytestmark = pytest.mark.slow


def serve(request, server: ScoringServer) -> ScoringServer:
    """``server`` once it answers; it stops when ``request``'s scope (a test class) ends."""
    request.addfinalizer(server.stop)
    server.wait_until_up()
    print(f"{server.model_path} served on {server.url} after {server.started_in_s:.1f} s")
    return server


# ---- payloads -------------------------------------------------------------------------------


def split_payload(frame: pd.DataFrame) -> str:
    split = json.loads(frame.to_json(orient="split", index=False))
    return json.dumps({"dataframe_split": split})


def records_payload(frame: pd.DataFrame) -> str:
    return json.dumps({"dataframe_records": json.loads(frame.to_json(orient="records"))})


def inputs_payload(frame: pd.DataFrame) -> str:
    return json.dumps({"inputs": {c: frame[c].tolist() for c in frame.columns}})


def csv_payload(frame: pd.DataFrame) -> str:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue()


PAYLOADS = {
    "dataframe_split": (split_payload, "application/json"),
    "dataframe_records": (records_payload, "application/json"),
    "inputs": (inputs_payload, "application/json"),
    "csv": (csv_payload, "text/csv"),
}


def predictions(response: requests.Response) -> pd.DataFrame:
    assert response.status_code == 200, response.text[:2000]
    return pd.DataFrame(response.json()["predictions"])


def assert_same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(got.columns) == list(expected.columns)
    assert len(got) == len(expected)
    np.testing.assert_allclose(got["prediction"].to_numpy(float), expected["prediction"].to_numpy(float))
    if "probability" in expected:
        np.testing.assert_allclose(
            np.stack(got["probability"]), np.stack(expected["probability"]), rtol=1e-12
        )


def float32_exact(probabilities) -> bool:
    values = np.stack(probabilities).astype("float64")
    return bool(np.all(values.astype("float32").astype("float64") == values))


def assert_refused(server: ScoringServer, response: requests.Response, *names: str) -> str:
    assert response.status_code == 400, response.text[:2000]
    message = response.json()["message"]
    for name in names:
        assert name in message, message[:2000]
    assert server.ping() == 200
    return message


def input_columns(path: str) -> list[str]:
    return [c["name"] for c in mlflow_sparkonnx_flavor(path)["inputs"]]


def mlflow_sparkonnx_flavor(path: str) -> dict:
    from mlmodel import flavor_block

    return flavor_block(path)


# ---- models of this module --------------------------------------------------------------------


@pytest.fixture(scope="module")
def error_model(tmp_path_factory, spark, adult_train) -> str:
    """StringIndexer(handleInvalid="error") → OneHotEncoder(error, dropLast=False) → LR, verified."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import OneHotEncoder, StringIndexer, VectorAssembler

    import mlflow_sparkonnx

    categorical, numeric = CATEGORICAL[:2], NUMERIC[:2]
    idx = [f"{c}_idx" for c in categorical]
    ohe = [f"{c}_ohe" for c in categorical]
    stages = [
        StringIndexer(inputCols=categorical, outputCols=idx, handleInvalid="error"),
        OneHotEncoder(inputCols=idx, outputCols=ohe, handleInvalid="error", dropLast=False),
        VectorAssembler(inputCols=ohe + numeric, outputCol="features"),
        StringIndexer(inputCol="income", outputCol="label"),
        LogisticRegression(maxIter=10),
    ]
    fitted = Pipeline(stages=stages).fit(spark.createDataFrame(adult_train))
    path = str(tmp_path_factory.mktemp("error-model") / "model")
    example = adult_train[categorical + numeric].head(200)
    mlflow_sparkonnx.save_model(fitted, path, input_example=example)
    assert mlflow_sparkonnx_flavor(path)["onnx_status"] == "verified"
    return path


@pytest.fixture(scope="module")
def native_only_model(tmp_path_factory, gbt_regressor_pipeline, adult_train) -> str:
    """The article's GBTRegressor saved with ``onnx=False``: native-only whatever the converters do.

    (``saved_models["gbt"]`` was a 'mismatch' until a GBT converter fixed it; ``onnx=False`` keeps
    this model on the Spark runtime.)
    """
    import mlflow_sparkonnx

    path = str(tmp_path_factory.mktemp("native-only") / "model")
    example = adult_train.drop(columns=["income"]).head(100)
    mlflow_sparkonnx.save_model(gbt_regressor_pipeline, path, input_example=example, onnx=False)
    assert mlflow_sparkonnx_flavor(path)["onnx_status"] == "disabled"
    return path


def with_unseen_category(frame: pd.DataFrame) -> pd.DataFrame:
    bad = frame.head(3).copy()
    bad.loc[1, "workclass"] = "Astronaut"
    return bad


@pytest.fixture(scope="module")
def servers(request, tmp_path_factory, saved_models) -> dict[str, ScoringServer]:
    """Every server of this module, by test class, launched at once (each class waits for its own).

    The Adult model's servers are launched before this module's own models are fitted and saved,
    so those start up meanwhile. Whatever a class did not stop stops with the module.
    """
    launched: dict[str, ScoringServer] = {}

    def launch(name: str, model_path: str, env: dict[str, str] | None = None) -> None:
        launched[name] = ScoringServer(model_path, tmp_path_factory.mktemp("serve"), env)
        request.addfinalizer(launched[name].stop)

    launch("onnx", saved_models["lr"])
    config = json.dumps({"runtime": "spark"})
    launch("inference_config", saved_models["lr"], {"MLFLOW_PYFUNC_INFERENCE_CONFIG": config})
    native_only_model = request.getfixturevalue("native_only_model")
    launch("native_only", native_only_model)
    error_model = request.getfixturevalue("error_model")
    launch("unseen_category", error_model)
    launch("environment_variable", error_model, {"MLFLOW_SPARKONNX_RUNTIME": "spark"})
    return launched


# ---- a verified model: the ONNX runtime -------------------------------------------------------


class TestVerifiedModelServedWithOnnx:
    @pytest.fixture(scope="class")
    def server(self, request, servers):
        return serve(request, servers["onnx"])

    @pytest.fixture(scope="class")
    def frame(self, saved_models, adult_holdout):
        return adult_holdout[input_columns(saved_models["lr"])].head(25)

    @pytest.fixture(scope="class")
    def expected(self, saved_models, frame):
        model = mlflow.pyfunc.load_model(saved_models["lr"])
        assert model.get_raw_model().runtime == "onnx"
        return model.predict(frame)

    @pytest.mark.parametrize("payload", list(PAYLOADS))
    def test_every_payload_format_gives_the_in_process_predictions(self, server, frame, expected, payload):
        make_body, content_type = PAYLOADS[payload]
        got = predictions(server.post(make_body(frame), content_type))
        assert_same(got, expected)

    def test_onnx_answered(self, server, frame):
        got = predictions(server.post(split_payload(frame)))
        assert float32_exact(got["probability"])
        assert not server.runs_java()

    def test_extra_columns_are_ignored(self, server, adult_holdout, frame, expected):
        got = predictions(server.post(split_payload(adult_holdout.head(len(frame)))))
        assert_same(got, expected)

    def test_missing_column_is_refused_naming_it(self, server, frame):
        assert_refused(server, server.post(split_payload(frame.drop(columns=["age"]))), "age")
        assert_refused(server, server.post(records_payload(frame.drop(columns=["occupation"]))), "occupation")

    def test_text_in_numeric_column_is_refused_naming_it(self, server, frame):
        bad = frame.head(3).astype({"age": object})
        bad.loc[1, "age"] = "forty"
        assert_refused(server, server.post(split_payload(bad)), "age")
        assert_refused(server, server.post(records_payload(bad)), "age")
        # MLflow parses `inputs` and CSV before the model sees them; its messages quote the
        # bad value (and for CSV the parser error) but not always the column.
        assert_refused(server, server.post(inputs_payload(bad)), "forty")
        assert_refused(server, server.post(csv_payload(bad), "text/csv"), "forty")

    def test_null_in_string_column_is_refused_naming_it(self, server, frame):
        bad = frame.head(3).astype({"workclass": object})
        bad.loc[2, "workclass"] = None
        assert_refused(server, server.post(records_payload(bad)), "'workclass'", "row 2")

    def test_still_answers_after_bad_requests(self, server, frame, expected):
        server.post("{not json")
        server.post(json.dumps({"dataframe_split": {"columns": ["age"], "data": [["x"]]}}))
        assert server.ping() == 200
        assert_same(predictions(server.post(split_payload(frame))), expected)


class TestUnseenCategoryWithHandleInvalidError:
    """Spark raises on an unseen category; the graph would score it, so both runtimes refuse it."""

    @pytest.fixture(scope="class")
    def server(self, request, servers):
        return serve(request, servers["unseen_category"])

    def test_unseen_category_is_refused_naming_the_column(self, server, adult_holdout, error_model):
        frame = adult_holdout[input_columns(error_model)]
        message = assert_refused(
            server, server.post(split_payload(with_unseen_category(frame))), "'workclass'", "Astronaut"
        )
        assert "handleInvalid" in message
        assert predictions(server.post(split_payload(frame.head(3)))).shape[0] == 3


# ---- a native-only model: the Spark runtime ---------------------------------------------------


class TestNativeOnlyModelServedWithSpark:
    @pytest.fixture(scope="class")
    def server(self, request, servers):
        return serve(request, servers["native_only"])

    @pytest.fixture(scope="class")
    def frame(self, native_only_model, adult_holdout):
        return adult_holdout[input_columns(native_only_model)].head(25)

    @pytest.fixture(scope="class")
    def expected(self, native_only_model, frame):
        model = mlflow.pyfunc.load_model(native_only_model)
        assert model.get_raw_model().runtime == "spark"
        return model.predict(frame)

    def test_every_payload_format_gives_the_in_process_predictions(self, server, frame, expected):
        assert server.runs_java()
        for payload, (make_body, content_type) in PAYLOADS.items():
            response = server.post(make_body(frame), content_type)
            assert response.status_code == 200, (payload, response.text[:2000])
            assert_same(predictions(response), expected)

    def test_bad_payloads_are_refused_and_the_server_still_answers(self, server, frame, expected):
        assert_refused(server, server.post(split_payload(frame.drop(columns=["age"]))), "age")
        bad = frame.head(3).astype({"capital_gain": object})
        bad.loc[0, "capital_gain"] = "lots"
        assert_refused(server, server.post(records_payload(bad)), "capital_gain")
        assert_same(predictions(server.post(split_payload(frame))), expected)


# ---- the runtime chosen at serve time, without re-logging -------------------------------------


class TestRuntimeChosenByEnvironmentVariable:
    """MLFLOW_SPARKONNX_RUNTIME=spark on a verified model (here the handleInvalid="error" one)."""

    @pytest.fixture(scope="class")
    def server(self, request, servers):
        return serve(request, servers["environment_variable"])

    def test_spark_answers(self, server, adult_holdout, error_model):
        frame = adult_holdout[input_columns(error_model)].head(25)
        got = predictions(server.post(split_payload(frame)))
        assert server.runs_java()
        assert not float32_exact(got["probability"])
        expected = mlflow.pyfunc.load_model(error_model, model_config={"runtime": "spark"}).predict(frame)
        assert_same(got, expected)

    def test_unseen_category_is_refused_naming_the_column(self, server, adult_holdout, error_model):
        frame = adult_holdout[input_columns(error_model)]
        assert_refused(server, server.post(split_payload(with_unseen_category(frame))), "'workclass'")
        assert predictions(server.post(split_payload(frame.head(3)))).shape[0] == 3


class TestRuntimeChosenByInferenceConfig:
    """MLFLOW_PYFUNC_INFERENCE_CONFIG='{"runtime": "spark"}' on the verified Adult model."""

    @pytest.fixture(scope="class")
    def server(self, request, servers):
        return serve(request, servers["inference_config"])

    def test_spark_answers_and_agrees_with_onnx(self, server, saved_models, adult_holdout):
        frame = adult_holdout[input_columns(saved_models["lr"])].head(25)
        got = predictions(server.post(records_payload(frame)))
        assert server.runs_java()
        assert not float32_exact(got["probability"])
        onnx_result = mlflow.pyfunc.load_model(saved_models["lr"]).predict(frame)
        np.testing.assert_array_equal(got["prediction"], onnx_result["prediction"])
        np.testing.assert_allclose(
            np.stack(got["probability"]), np.stack(onnx_result["probability"]), atol=1e-4
        )
