"""The pyfunc wrapper: picks a runtime at load time and scores pandas frames with it."""

from __future__ import annotations

import logging
import os
from typing import Any

import pandas as pd

from mlflow_sparkonnx.contract import Column, ModelContract
from mlflow_sparkonnx.scoring.guards import InputGuards, nulls_refused_by_onnx, spark_refusal_error
from mlflow_sparkonnx.scoring.runtime_choice import choose_runtime
from mlflow_sparkonnx.scoring.runtimes.base import null_rows_where
from mlflow_sparkonnx.scoring.schema import coerce_columns

_logger = logging.getLogger(__name__)


class SparkOnnxModel:
    """A loaded sparkonnx model: ``predict(pandas.DataFrame) -> pandas.DataFrame``.

    ``runtime`` says which runtime answers ("onnx" or "spark"); ``contract`` is what the model records.
    """

    def __init__(self, local_path: str, model_config: dict[str, Any] | None = None) -> None:
        contract = ModelContract.read(local_path)
        self.contract = contract
        self.inputs: list[Column] = list(contract.inputs)
        self.outputs: list[Column] = list(contract.outputs)
        self.runtime = choose_runtime(contract, model_config)
        ranges = contract.numeric_guards
        null_sensitive = contract.null_sensitive_inputs or {}  # older models lack it
        nulls_refused = (
            nulls_refused_by_onnx(self.inputs, null_sensitive, ranges) if self.runtime == "onnx" else None
        )
        self._guards = InputGuards(contract.closed_categories, ranges, nulls_refused)
        if self.runtime == "onnx":
            self._runtime = _load_onnx_runtime(local_path, contract)
        else:
            self._runtime = _load_spark_runtime(local_path, contract, model_config or {})
        _logger.info("sparkonnx model at %s scores with the %s runtime.", local_path, self.runtime)

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Score a frame by column name; extra columns are ignored."""
        frame = _as_frame(model_input)
        columns = coerce_columns(frame, self.inputs)
        n_rows = len(frame)
        skip = self._guards.rows_to_skip(columns)
        try:
            if not skip.any():
                return self._runtime.predict_columns(columns, n_rows)
            kept = {name: values[~skip] for name, values in columns.items()}
            scored = self._runtime.predict_columns(kept, int((~skip).sum()))
            return null_rows_where(scored, skip, self.outputs)
        except Exception as exc:
            if self.runtime != "spark":
                raise
            error = spark_refusal_error(
                exc, columns, self.inputs, lambda: self._runtime.first_refused_row(columns, n_rows, skip)
            )
            if error is None:
                raise
            raise error from None

    def get_raw_model(self) -> SparkOnnxModel:
        """This object, so ``pyfunc_model.get_raw_model().runtime`` tells the runtime."""
        return self

    @property
    def runtime_impl(self) -> Any:
        """The runtime object (``OnnxRuntime`` or ``SparkRuntime``)."""
        return self._runtime


def _as_frame(model_input: Any) -> pd.DataFrame:
    if isinstance(model_input, pd.DataFrame):
        return model_input
    if isinstance(model_input, dict):
        return pd.DataFrame(
            {
                k: list(v) if hasattr(v, "__len__") and not isinstance(v, str) else [v]
                for k, v in model_input.items()
            }
        )
    if isinstance(model_input, list) and all(isinstance(r, dict) for r in model_input):
        return pd.DataFrame(model_input)
    return model_input


def _load_onnx_runtime(local_path: str, contract: ModelContract) -> Any:
    from mlflow_sparkonnx.scoring.runtimes.onnx_runtime import OnnxRuntime
    from mlflow_sparkonnx.sparkml.session import in_spark_task

    threads = 1 if in_spark_task() else None  # spark_udf: Spark already runs one worker per core
    return OnnxRuntime.load(os.path.join(local_path, contract.onnx_model or ""), contract, threads)


def _load_spark_runtime(local_path: str, contract: ModelContract, model_config: dict[str, Any]) -> Any:
    from mlflow_sparkonnx.scoring.runtime_choice import refuse_native_in_spark_task
    from mlflow_sparkonnx.scoring.runtimes.spark_runtime import SparkRuntime
    from mlflow_sparkonnx.sparkml.native_model import load_native_pipeline
    from mlflow_sparkonnx.sparkml.session import get_or_create_spark

    refuse_native_in_spark_task()  # spark_udf: no SparkSession inside a Spark task
    spark = get_or_create_spark(model_config.get("spark_conf") or {})
    pipeline = load_native_pipeline(local_path, contract, spark, model_config.get("dfs_tmpdir"))
    return SparkRuntime(pipeline, list(contract.inputs), list(contract.outputs), spark)


def _load_pyfunc(path: str, model_config: dict[str, Any] | None = None) -> SparkOnnxModel:
    """MLflow's pyfunc entry point (``loader_module: mlflow_sparkonnx``)."""
    return SparkOnnxModel(os.path.normpath(path), model_config)
