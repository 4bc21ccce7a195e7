"""The model contract reads the MLmodel block once and writes it back without losing anything."""

from __future__ import annotations

import math
import os

import pytest
import yaml
from mlflow.exceptions import MlflowException

from mlflow_sparkonnx.contract import CategoryRule, ModelContract, NumericRule, OnnxStatus, RowCheck

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def example_block() -> dict:
    with open(os.path.join(ROOT, "MLmodel.example")) as f:
        return yaml.safe_load(f)["flavors"]["sparkonnx"]


def test_the_documented_block_round_trips_unchanged():
    block = example_block()
    contract = ModelContract.from_flavor(block)
    assert contract.to_flavor() == block
    assert contract.onnx_status is OnnxStatus.VERIFIED and contract.verified
    assert [c.name for c in contract.inputs][:2] == [c["name"] for c in block["inputs"]][:2]
    assert contract.pyspark_version == block["pyspark_version"]
    assert isinstance(contract.numeric_guards["age"], NumericRule)
    assert contract.numeric_guards["age"].nan == "error" and not contract.numeric_guards["age"].bounded


def test_typed_rules_read_what_older_and_newer_models_record():
    block = example_block()
    block["closed_categories"] = {"sex": {"handle_invalid": "skip", "labels": ["Female", "Male"]}}
    age = {"low": 17.0, "high": math.inf, "nan": "skip", "naive_bayes": "bernoulli"}
    block["numeric_guards"] = {"age": age}
    del block["null_sensitive_inputs"], block["sql_outputs"]  # a model saved before they were recorded
    del block["row_checks"]
    block["some_future_key"] = {"kept": True}
    contract = ModelContract.from_flavor(block)
    assert contract.closed_categories["sex"] == CategoryRule(("Female", "Male"), "skip")
    rule = contract.numeric_guards["age"]
    assert rule.bounded and rule.naive_bayes == "bernoulli" and rule.nan == "skip"
    assert contract.null_sensitive_inputs is None and contract.sql_outputs is None  # unknown, not empty
    assert contract.row_checks == () and written_checks(contract) == []
    written = contract.to_flavor()
    assert written["some_future_key"] == {"kept": True}
    assert written["closed_categories"] == block["closed_categories"]
    assert written["numeric_guards"] == block["numeric_guards"]


def written_checks(contract: ModelContract) -> list:
    return contract.to_flavor()["row_checks"]


def test_row_checks_round_trip_typed():
    check = {
        "output": "sparkonnx_row_check",
        "stage": "KMeansModel (uid KMeans_1)",
        "column": "f",
        "why": "a NaN",
    }
    contract = ModelContract.from_flavor(example_block() | {"row_checks": [check]})
    assert contract.row_checks == (
        RowCheck("sparkonnx_row_check", "KMeansModel (uid KMeans_1)", "f", "a NaN"),
    )
    assert written_checks(contract) == [check]


def test_an_unverified_status_is_not_verified_and_an_unknown_one_is_refused():
    block = example_block() | {"onnx_status": "mismatch", "onnx_reason": "differs on 3 of 300 rows"}
    contract = ModelContract.from_flavor(block)
    assert not contract.verified and contract.describe_status() == "mismatch: differs on 3 of 300 rows"
    with pytest.raises(ValueError, match="'maybe'"):
        ModelContract.from_flavor(block | {"onnx_status": "maybe"})


def test_a_model_without_the_flavor_gets_mlflows_error(tmp_path):
    mlmodel = {"flavors": {"python_function": {"loader_module": "x"}}}
    (tmp_path / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    with pytest.raises(MlflowException, match="sparkonnx"):
        ModelContract.read(tmp_path)
