"""The ONNX verdict as MLflow tags, so that models can be found by it.

``log_model`` sets them on the run, on MLflow 3's logged model and on the registered model version
it creates; ``promote`` refreshes the summary on the version it checks. Search with e.g.
``mlflow.search_runs(filter_string="tags.`sparkonnx.onnx_status` = 'verified'")``.
"""

from __future__ import annotations

from typing import Any

from mlflow_sparkonnx.contract import ModelContract

TAG_ONNX_STATUS = "sparkonnx.onnx_status"
TAG_DEFAULT_RUNTIME = "sparkonnx.default_runtime"
TAG_PARITY_SUMMARY = "sparkonnx.parity_summary"
#: Longer reasons are cut here (MLflow's UI shows tags on one line).
_SUMMARY_CHARS = 250


def verdict_tags(contract: ModelContract) -> dict[str, str]:
    """``sparkonnx.onnx_status``, ``sparkonnx.default_runtime`` and a one-line parity summary."""
    return {
        TAG_ONNX_STATUS: contract.onnx_status.value,
        TAG_DEFAULT_RUNTIME: contract.default_runtime,
        TAG_PARITY_SUMMARY: one_line(contract.describe_status()),
    }


def one_line(text: str) -> str:
    """``text`` on one line, at most ``_SUMMARY_CHARS`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= _SUMMARY_CHARS else flat[: _SUMMARY_CHARS - 1] + "…"


def tag_logged_model(info: Any, contract: ModelContract, registered_model_name: str | None) -> None:
    """Put the verdict tags on the run, the logged model (MLflow 3) and the new model version."""
    from mlflow.entities import RunTag
    from mlflow.tracking import MlflowClient

    from mlflow_sparkonnx.flavor.mlflow_compat import HAS_LOGGED_MODELS

    tags = verdict_tags(contract)
    client = MlflowClient()
    if info.run_id:
        client.log_batch(info.run_id, tags=[RunTag(k, v) for k, v in tags.items()])
    if HAS_LOGGED_MODELS and getattr(info, "model_id", None):
        client.set_logged_model_tags(info.model_id, tags)
    if registered_model_name and info.registered_model_version:
        for key, value in tags.items():
            client.set_model_version_tag(
                registered_model_name, str(info.registered_model_version), key, value
            )
