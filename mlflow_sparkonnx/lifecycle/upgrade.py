"""Upgrading a model logged with ``mlflow.spark`` to a sparkonnx model, without retraining."""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from typing import Any

import pandas as pd

from mlflow_sparkonnx.contract import FLAVOR_NAME, ModelContract
from mlflow_sparkonnx.exceptions import SparkOnnxError

_logger = logging.getLogger(__name__)

TAG_UPGRADED_FROM = "sparkonnx.upgraded_from"
TAG_SOURCE_RUN = "sparkonnx.source_run_id"
TAG_SOURCE_MODEL_ID = "sparkonnx.source_model_id"


def upgrade(
    model_uri: str,
    *,
    name: str = "model",
    registered_model_name: str | None = None,
    input_example: Any = None,
    onnx: str | bool = "auto",
) -> Any:
    """Convert an ``mlflow.spark`` model (``runs:/…``, ``models:/…`` or a path) and log it as sparkonnx.

    The native model is loaded, converted and verified on its stored input example (or
    ``input_example`` when it has none); it is logged under ``name`` in the active run (a new run
    when none is active) with the original signature, tagged with where it came from
    (``sparkonnx.upgraded_from``), and registered as ``registered_model_name`` when given.
    Returns the ``ModelInfo``.
    """
    import mlflow
    import mlflow.spark
    from mlflow.models import Model
    from mlflow.tracking import MlflowClient
    from mlflow.tracking.artifact_utils import _download_artifact_from_uri

    from mlflow_sparkonnx.flavor.model import log_model
    from mlflow_sparkonnx.sparkml.session import get_or_create_spark

    local = tempfile.mkdtemp(prefix="sparkonnx-upgrade-")
    try:
        path = _download_artifact_from_uri(model_uri, output_path=local)
        source = Model.load(path)
        if "spark" not in source.flavors:
            hint = " It is already a sparkonnx model." if FLAVOR_NAME in source.flavors else ""
            raise SparkOnnxError(
                f"'{model_uri}' is not an mlflow.spark model (its flavors: {sorted(source.flavors)}).{hint}"
            )
        example = input_example if input_example is not None else source.load_input_example(path)
        if example is None:
            raise SparkOnnxError(
                f"'{model_uri}' has no stored input example, and the ONNX graph is verified on one: pass "
                "input_example= (a pandas or Spark DataFrame of the raw rows callers send)."
            )
        if not isinstance(example, pd.DataFrame) and not hasattr(example, "collect"):
            example = pd.DataFrame(example)
        get_or_create_spark()
        native = mlflow.spark.load_model(path)
        tags = {
            TAG_UPGRADED_FROM: model_uri,
            TAG_SOURCE_RUN: source.run_id or "",
            TAG_SOURCE_MODEL_ID: getattr(source, "model_id", None) or "",
        }
        tags = {k: v for k, v in tags.items() if v}
        run = (
            contextlib.nullcontext()
            if mlflow.active_run()
            else mlflow.start_run(run_name="sparkonnx-upgrade")
        )
        with run:
            mlflow.set_tags(tags)
            info = log_model(
                native,
                name=name,
                input_example=example,
                signature=source.signature,
                registered_model_name=registered_model_name,
                tags=tags,
                onnx=onnx,
            )
        if registered_model_name and info.registered_model_version:
            client = MlflowClient()
            for key, value in tags.items():
                client.set_model_version_tag(
                    registered_model_name, str(info.registered_model_version), key, value
                )
        contract = ModelContract.from_flavor(info.flavors[FLAVOR_NAME])
        _logger.info("Upgraded %s to %s: ONNX %s.", model_uri, info.model_uri, contract.describe_status())
        return info
    finally:
        shutil.rmtree(local, ignore_errors=True)
