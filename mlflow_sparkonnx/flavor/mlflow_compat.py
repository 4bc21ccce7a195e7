"""The MLflow 2.x / 3.x differences the flavor meets, in one place.

MLflow 3 logs a model as a *logged model* (``Model.log(name=..., params=, tags=, model_type=, step=,
model_id=)``, ``mlflow.get_logged_model``); MLflow 2 logs it into the run's artifacts
(``Model.log(artifact_path=...)``) and has none of those arguments. ``log_model`` takes both spellings
and does on MLflow 2 what it can: ``params`` and ``tags`` go to the run.
"""

from __future__ import annotations

import logging
from typing import Any

from mlflow.version import VERSION as MLFLOW_VERSION

from mlflow_sparkonnx.exceptions import SparkOnnxError

_logger = logging.getLogger(__name__)

#: MLflow 3 and later keep logged models as entities of their own.
HAS_LOGGED_MODELS = int(MLFLOW_VERSION.split(".", 1)[0]) >= 3


def model_name(name: str | None, artifact_path: str | None) -> str:
    """The logged model's name from ``name`` or the older ``artifact_path`` (the same thing)."""
    if name and artifact_path and name != artifact_path:
        raise SparkOnnxError(
            f"name={name!r} and artifact_path={artifact_path!r} disagree; pass only name= "
            "(artifact_path is its older spelling)."
        )
    return name or artifact_path or "model"


def log_with_flavor(
    flavor: Any,
    name: str,
    *,
    params: dict[str, Any] | None,
    tags: dict[str, Any] | None,
    model_type: str | None,
    step: int,
    model_id: str | None,
    **log_kwargs: Any,
) -> Any:
    """``Model.log`` as this MLflow spells it; returns its ``ModelInfo``."""
    from mlflow.models import Model

    if HAS_LOGGED_MODELS:
        return Model.log(
            artifact_path=None,
            name=name,
            flavor=flavor,
            params=params,
            tags=tags,
            model_type=model_type,
            step=step,
            model_id=model_id,
            **log_kwargs,
        )
    if model_id is not None:
        raise SparkOnnxError(f"model_id= needs MLflow 3 (logged models); this is MLflow {MLFLOW_VERSION}.")
    if model_type is not None or step:
        _logger.info("MLflow %s has no logged models: model_type and step are not recorded.", MLFLOW_VERSION)
    info = Model.log(artifact_path=name, flavor=flavor, **log_kwargs)
    _record_on_run(info.run_id, params, tags)
    return info


def _record_on_run(run_id: str, params: dict[str, Any] | None, tags: dict[str, Any] | None) -> None:
    """MLflow 2: the run holds what MLflow 3 puts on the logged model."""
    from mlflow.entities import Param, RunTag
    from mlflow.tracking import MlflowClient

    if not params and not tags:
        return
    MlflowClient().log_batch(
        run_id,
        params=[Param(k, str(v)) for k, v in (params or {}).items()],
        tags=[RunTag(k, str(v)) for k, v in (tags or {}).items()],
    )


def logged_model_location(info: Any) -> str:
    """Where a logged model's files are, as an artifact URI MLflow can download from."""
    if HAS_LOGGED_MODELS and getattr(info, "model_id", None):
        import mlflow

        return mlflow.get_logged_model(info.model_id).artifact_location  # models:/<id>/<sub> does not resolve
    return f"runs:/{info.run_id}/{info.artifact_path}"
