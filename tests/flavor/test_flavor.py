"""save_model: what lands in the model directory and what MLmodel records."""

from __future__ import annotations

import os

import numpy as np
import pytest
import yaml
from parity import spark_transform

import mlflow_sparkonnx
from mlflow_sparkonnx.convert.verify import ABS_TOL, REL_TOL


def read_flavor(path: str) -> dict:
    with open(os.path.join(path, "MLmodel")) as f:
        return yaml.safe_load(f)


def read_requirements(path: str) -> list[str]:
    with open(os.path.join(path, "requirements.txt")) as f:
        return [line.split("==")[0] for line in f.read().split()]


@pytest.mark.parametrize("name", ["lr", "rf"])
def test_adult_pipelines_are_verified(saved_models, name):
    mlmodel = read_flavor(saved_models[name])
    conf = mlmodel["flavors"]["sparkonnx"]
    assert conf["onnx_status"] == "verified", conf["onnx_reason"]
    assert conf["default_runtime"] == "onnx"
    assert conf["parity"]["rows"] == 300
    assert all(o["mismatched_rows"] == 0 for o in conf["parity"]["outputs"].values())
    assert [o["name"] for o in conf["outputs"]] == ["prediction", "probability"]
    # The label indexer reads 'income', which callers never send: it is dropped, not required.
    assert conf["dropped_stages"] == ["pyspark.ml.feature.StringIndexerModel"]
    assert "income" not in [c["name"] for c in conf["inputs"]]
    assert os.path.exists(os.path.join(saved_models[name], "model.onnx"))
    assert conf["onnx_model_sha256"] and conf["native_model_sha256"]
    assert mlmodel["flavors"]["python_function"]["loader_module"] == "mlflow_sparkonnx"
    assert mlmodel["flavors"]["python_function"]["config"]["runtime"] == "auto"
    for version_key in ("pyspark_version", "onnx_version", "onnxruntime_version", "onnxmltools_version"):
        assert conf[version_key]
    assert "pyspark" not in read_requirements(saved_models[name])
    assert {"mlflow-skinny", "onnxruntime", "mlflow-sparkonnx"} <= set(read_requirements(saved_models[name]))


def test_model_directory_has_the_standard_mlflow_files(saved_models):
    files = set(os.listdir(saved_models["lr"]))
    assert {
        "MLmodel",
        "sparkml.zip",
        "model.onnx",
        "requirements.txt",
        "python_env.yaml",
        "conda.yaml",
        "input_example.json",
        "serving_input_example.json",
    } <= files


@pytest.mark.parametrize("name", ["gbt", "text"])
def test_the_articles_pipelines_are_verified(saved_models, name):
    """VectorAssembler → GBTRegressor and Tokenizer → HashingTF → LR: onnxmltools got the first wrong
    (a 0/1 argmax) and could not convert the second; this package's converters verify both."""
    path = saved_models[name]
    conf = read_flavor(path)["flavors"]["sparkonnx"]
    assert conf["onnx_status"] == "verified", conf["onnx_reason"]
    assert conf["default_runtime"] == "onnx"
    assert os.path.exists(os.path.join(path, "model.onnx"))
    assert "pyspark" not in read_requirements(path)


def test_silently_wrong_conversion_is_caught_as_mismatch_and_saved_native_only(saved_models):
    """A silently wrong converter (here a deliberately wrong one): the parity check refuses the graph."""
    path = saved_models["mismatch"]
    conf = read_flavor(path)["flavors"]["sparkonnx"]
    assert conf["onnx_status"] == "mismatch"
    assert "prediction" in conf["onnx_reason"]
    assert conf["parity"]["outputs"]["prediction"]["mismatched_rows"] > 0
    assert conf["default_runtime"] == "spark"
    assert conf["onnx_model"] is None
    assert not os.path.exists(os.path.join(path, "model.onnx"))
    assert "pyspark" in read_requirements(path)


def test_stage_without_converter_is_unsupported_and_named(saved_models):
    conf = read_flavor(saved_models["sql"])["flavors"]["sparkonnx"]
    assert conf["onnx_status"] == "unsupported"
    assert "SQLTransformer" in conf["onnx_reason"]
    assert conf["default_runtime"] == "spark"
    # SQLTransformer's columns cannot be read from its params: every example column is an input.
    assert {"age", "education_num"} <= {c["name"] for c in conf["inputs"]}


def test_onnx_require_raises_and_leaves_nothing(tmp_path, mismatch_pipeline, adult_train):
    target = tmp_path / "model"
    with pytest.raises(mlflow_sparkonnx.ParityMismatchError, match="prediction"):
        mlflow_sparkonnx.save_model(
            mismatch_pipeline, str(target), input_example=adult_train.head(50), onnx="require"
        )
    assert not target.exists()
    assert os.listdir(tmp_path) == []


def test_onnx_require_on_unsupported_stage_raises(tmp_path, sql_pipeline, adult_train):
    with pytest.raises(mlflow_sparkonnx.UnsupportedStageError, match="SQLTransformer"):
        mlflow_sparkonnx.save_model(
            sql_pipeline, str(tmp_path / "m"), input_example=adult_train.head(30), onnx="require"
        )
    assert os.listdir(tmp_path) == []


def test_onnx_false_saves_native_only(tmp_path, lr_pipeline, adult_train):
    path = str(tmp_path / "m")
    mlflow_sparkonnx.save_model(lr_pipeline, path, input_example=adult_train.head(20), onnx=False)
    conf = read_flavor(path)["flavors"]["sparkonnx"]
    assert conf["onnx_status"] == "disabled"
    assert not os.path.exists(os.path.join(path, "model.onnx"))


def test_existing_non_empty_path_is_refused(tmp_path, lr_pipeline, adult_train):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "keep.txt").write_text("x")
    with pytest.raises(mlflow_sparkonnx.SparkOnnxError, match="not empty"):
        mlflow_sparkonnx.save_model(lr_pipeline, str(tmp_path / "m"), input_example=adult_train.head(20))
    assert os.listdir(tmp_path / "m") == ["keep.txt"]


def test_input_example_is_required(tmp_path, lr_pipeline):
    with pytest.raises(mlflow_sparkonnx.SparkOnnxError, match="input_example is required"):
        mlflow_sparkonnx.save_model(lr_pipeline, str(tmp_path / "m"))


def test_example_missing_a_read_column_is_named(tmp_path, lr_pipeline, adult_train):
    with pytest.raises(mlflow_sparkonnx.InvalidInputError, match="'age'|age"):
        mlflow_sparkonnx.save_model(
            lr_pipeline, str(tmp_path / "m"), input_example=adult_train.drop(columns=["age"]).head(20)
        )


def test_single_stage_and_cross_validator_models_are_accepted(tmp_path, spark, adult_train):
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    from pyspark.ml.feature import VectorAssembler
    from pyspark.ml.tuning import CrossValidator, ParamGridBuilder

    assembler = VectorAssembler(inputCols=["age", "hours_per_week"], outputCol="features")
    data = assembler.transform(
        spark.createDataFrame(adult_train.assign(label=(adult_train.income == ">50K").astype(float)))
    )
    lr = LogisticRegression(maxIter=5)
    cv = CrossValidator(
        estimator=lr,
        estimatorParamMaps=ParamGridBuilder().addGrid(lr.regParam, [0.0, 0.1]).build(),
        evaluator=BinaryClassificationEvaluator(),
        numFolds=2,
    ).fit(data)
    example = data.select("features").limit(100)
    mlflow_sparkonnx.save_model(cv, str(tmp_path / "cv"), input_example=example)
    conf = read_flavor(str(tmp_path / "cv"))["flavors"]["sparkonnx"]
    assert conf["stages"] == ["pyspark.ml.classification.LogisticRegressionModel"]
    assert conf["inputs"] == [{"name": "features", "spark_type": "vector", "size": 2}]
    assert conf["onnx_status"] == "verified", conf["onnx_reason"]

    mlflow_sparkonnx.save_model(assembler, str(tmp_path / "single"), input_example=adult_train.head(50))
    conf = read_flavor(str(tmp_path / "single"))["flavors"]["sparkonnx"]
    assert conf["outputs"][0]["name"] == "features"
    assert conf["onnx_status"] == "verified", conf["onnx_reason"]


def test_output_cols_picks_other_columns(tmp_path, lr_pipeline, adult_train, spark):
    path = str(tmp_path / "m")
    mlflow_sparkonnx.save_model(
        lr_pipeline,
        path,
        input_example=adult_train.head(100),
        output_cols=["prediction", "rawPrediction", "features"],
    )
    import mlflow.pyfunc

    got = mlflow.pyfunc.load_model(path).predict(adult_train.head(40))
    assert list(got.columns) == ["prediction", "rawPrediction", "features"]
    expected = spark_transform(lr_pipeline, spark, adult_train.head(40), ["features"])
    np.testing.assert_allclose(
        np.stack(got["features"]), np.stack(expected["features"]), atol=ABS_TOL, rtol=REL_TOL
    )


def test_unknown_output_col_is_refused(tmp_path, lr_pipeline, adult_train):
    with pytest.raises(mlflow_sparkonnx.SparkOnnxError, match="nope"):
        mlflow_sparkonnx.save_model(
            lr_pipeline, str(tmp_path / "m"), input_example=adult_train.head(10), output_cols=["nope"]
        )


def test_mlmodel_example_documents_every_flavor_field(saved_models):
    """MLmodel.example at the top level must stay a true picture of what save_model writes."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "MLmodel.example")) as f:
        example = yaml.safe_load(f)
    written = read_flavor(saved_models["lr"])
    assert set(example["flavors"]["sparkonnx"]) == set(written["flavors"]["sparkonnx"])
    assert example["flavors"]["python_function"]["config"] == written["flavors"]["python_function"]["config"]
    assert example["flavors"]["sparkonnx"]["onnx_status"] == "verified"
    with open(os.path.join(root, "MLmodel.example")) as f:
        text = f.read()
    assert "file://" not in text and "/work/" not in text and "/tmp/" not in text  # no machine's paths
