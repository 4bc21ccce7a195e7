"""Registry promotion behind a re-validation gate.

:func:`promote` loads a registered version, checks again, in this environment, that its ONNX graph
agrees with Spark (on the stored input example plus any ``validation_data``), and only then points
an alias at it. A refusal changes no alias, raises :class:`PromotionRefusedError` with the figures,
and leaves a ``sparkonnx.promotion_failed`` tag on the version.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from mlflow_sparkonnx.contract import ModelContract
from mlflow_sparkonnx.exceptions import (
    ArtifactIntegrityError,
    PromotionRefusedError,
    RuntimeUnavailableError,
    SparkOnnxError,
)
from mlflow_sparkonnx.flavor.search_tags import TAG_PARITY_SUMMARY, one_line

_logger = logging.getLogger(__name__)

TAG_RUNTIME = "sparkonnx.runtime"
TAG_PARITY = "sparkonnx.parity"
TAG_VALIDATED_AT = "sparkonnx.validated_at"
TAG_FAILED = "sparkonnx.promotion_failed"
RUNTIME_CHOICES = (None, "onnx", "spark")
#: Registry tag values are limited (8,000 characters in MLflow 3); ours stay well below.
_TAG_LIMIT = 4000


@dataclass
class PromotionResult:
    """What :func:`promote` did: which version now answers to ``models:/<name>@<alias>``, and why."""

    name: str
    version: str
    alias: str
    runtime: str
    figures: dict[str, Any]
    validated_at: str
    source: tuple[str, str] = field(default=("", ""))

    @property
    def model_uri(self) -> str:
        return f"models:/{self.name}@{self.alias}"


def promote(
    name: str,
    version: str | int,
    alias: str = "champion",
    *,
    validation_data: Any = None,
    require_runtime: str | None = None,
    copy_to: str | None = None,
) -> PromotionResult:
    """Re-validate version ``version`` of registered model ``name`` here, then set ``alias`` on it.

    The check scores the stored input example plus ``validation_data`` (pandas or Spark DataFrame)
    with the ONNX runtime (when the graph is verified) and with Spark (when pyspark and Java are
    available) and compares them with the save-time tolerance. ``require_runtime="onnx"`` refuses
    a version without a verified graph; ``"spark"`` refuses when Spark cannot run here. With
    ``copy_to``, the version is copied into that registered model and the alias is set there.
    On success the version is tagged ``sparkonnx.runtime``, ``sparkonnx.parity`` (the figures, JSON),
    ``sparkonnx.parity_summary`` (one line) and ``sparkonnx.validated_at``; on refusal
    :class:`PromotionRefusedError` is raised and no alias moves.
    """
    from mlflow.tracking import MlflowClient

    if require_runtime not in RUNTIME_CHOICES:
        raise SparkOnnxError(f"require_runtime must be None, 'onnx' or 'spark', not {require_runtime!r}.")
    client = MlflowClient()
    version = str(version)
    client.get_model_version(name, version)  # a clear MLflow error when it does not exist
    local = tempfile.mkdtemp(prefix="sparkonnx-promote-")
    try:
        try:
            runtime, figures = _validate(name, version, local, validation_data, require_runtime)
        except SparkOnnxError as exc:
            _record_failure(client, name, version, alias, exc)
            if isinstance(exc, (ArtifactIntegrityError, RuntimeUnavailableError)):
                raise PromotionRefusedError(
                    f"Refused to promote {name} version {version} to @{alias}: {exc.message} "
                    "The alias was not changed."
                ) from exc
            raise
    finally:
        shutil.rmtree(local, ignore_errors=True)

    validated_at = datetime.now(UTC).isoformat(timespec="seconds")
    tags = {
        TAG_RUNTIME: runtime,
        TAG_PARITY: _tag_json(figures),
        TAG_VALIDATED_AT: validated_at,
        # The structured figures above; this one reads at a glance in the UI's tag list.
        TAG_PARITY_SUMMARY: one_line(f"{figures.get('summary')} [{figures.get('checked')}], {validated_at}"),
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    target_name, target_version = name, version
    if copy_to:
        copied = client.copy_model_version(f"models:/{name}/{version}", copy_to)
        target_name, target_version = copy_to, str(copied.version)
        for key, value in tags.items():
            client.set_model_version_tag(target_name, target_version, key, value)
    client.set_registered_model_alias(target_name, alias, target_version)
    _logger.info(
        "Promoted %s version %s to models:/%s@%s (runtime %s; %s).",
        name,
        version,
        target_name,
        alias,
        runtime,
        figures.get("summary"),
    )
    return PromotionResult(
        name=target_name,
        version=target_version,
        alias=alias,
        runtime=runtime,
        figures=figures,
        validated_at=validated_at,
        source=(name, version),
    )


def _validate(
    name: str, version: str, local: str, validation_data: Any, require_runtime: str | None
) -> tuple[str, dict[str, Any]]:
    """Load the version into ``local``, score the rows with each available runtime, compare them."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking.artifact_utils import _download_artifact_from_uri

    from mlflow_sparkonnx.convert.verify import verify_parity
    from mlflow_sparkonnx.scoring.pyfunc import SparkOnnxModel

    label = f"{name} version {version}"
    path = _download_artifact_from_uri(f"models:/{name}/{version}", output_path=local)
    try:
        contract = ModelContract.read(path)
    except MlflowException as exc:
        raise SparkOnnxError(
            f"{label} is not a sparkonnx model ({exc.message}). An mlflow.spark model can be "
            "converted first with `mlflow-sparkonnx upgrade`."
        ) from exc
    verified = contract.verified
    runtime = "onnx" if verified else "spark"
    status = contract.onnx_status.value
    if require_runtime == "onnx" and not verified:
        raise PromotionRefusedError(
            f"Refused to promote {label}: require_runtime='onnx' but it has no verified ONNX graph "
            f"(status {contract.describe_status()}); it would be served by Spark. The alias was not changed.",
            figures={"onnx_status": status, "onnx_reason": contract.onnx_reason},
        )
    spark_error = _spark_unavailable()
    if spark_error and (require_runtime == "spark" or not verified):
        raise PromotionRefusedError(
            f"Refused to promote {label}: it needs the Spark runtime "
            f"({'require_runtime=spark' if require_runtime == 'spark' else 'no verified ONNX graph'}), "
            f"which cannot run here: {spark_error} The alias was not changed.",
            figures={"onnx_status": status},
        )

    frame, excluded = _validation_rows(path, contract, validation_data, label)
    onnx_model = SparkOnnxModel(path, {"runtime": "onnx"}) if verified else None
    spark_model = SparkOnnxModel(path, {"runtime": "spark"}) if spark_error is None else None
    onnx_refused = 0
    if onnx_model is not None:
        only_onnx, spark_refuses = _rows_onnx_refuses(onnx_model, frame)
        _confirm_spark_refuses(spark_model, frame, spark_refuses, label)
        onnx_refused = int(only_onnx.sum())
        excluded += int(spark_refuses.sum())
        frame = frame[~(only_onnx | spark_refuses)].reset_index(drop=True)
        if frame.empty:
            raise PromotionRefusedError(
                f"Refused to promote {label}: the ONNX runtime refuses every row to check. Pass "
                "validation_data it scores. The alias was not changed.",
                figures={"onnx_status": status, "onnx_refused_rows": onnx_refused, "excluded_rows": excluded},
            )
    onnx_out = onnx_model.predict(frame) if onnx_model else None
    spark_out = spark_model.predict(frame) if spark_model else None
    figures: dict[str, Any] = {
        "rows": len(frame),
        "excluded_rows": excluded,
        "onnx_refused_rows": onnx_refused,
        "environment": _versions(),
    }
    if onnx_out is not None and spark_out is not None:
        parity = verify_parity(spark_out, onnx_out, onnx_model.outputs)
        figures.update(checked="onnx-vs-spark", passed=parity.passed, **parity.to_dict())
        figures["summary"] = (
            f"ONNX agrees with Spark on {parity.rows} rows" if parity.passed else parity.describe_failure()
        )
        if not parity.passed:
            raise PromotionRefusedError(
                f"Refused to promote {label}: in this environment the ONNX graph disagrees with Spark: "
                f"{parity.describe_failure()}. Figures: {json.dumps(_finite(figures))}. The alias was "
                "not changed; investigate the rows, or re-log the model.",
                figures=figures,
            )
    elif onnx_out is not None:
        _logger.warning(
            "Spark is not available here (%s): %s is checked with the ONNX runtime only.", spark_error, label
        )
        figures.update(
            checked="onnx-only", passed=True, summary=f"ONNX scored {len(frame)} rows; Spark absent"
        )
    else:
        figures.update(
            checked="spark-only", passed=True, summary=f"Spark scored {len(frame)} rows (no graph)"
        )
    return runtime, figures


def _validation_rows(
    path: str, contract: ModelContract, validation_data: Any, label: str
) -> tuple[pd.DataFrame, int]:
    """The stored input example plus ``validation_data``, coerced; rows Spark refuses are left out."""
    import numpy as np
    from mlflow.models import Model

    from mlflow_sparkonnx.exceptions import InvalidInputError
    from mlflow_sparkonnx.scoring.guards import find_violations
    from mlflow_sparkonnx.scoring.schema import coerce_inputs, spark_frame_to_pandas

    inputs = list(contract.inputs)
    parts = []
    example = Model.load(path).load_input_example(path)
    if example is not None:
        parts.append(coerce_inputs(pd.DataFrame(example), inputs))
    if validation_data is not None:
        if not isinstance(validation_data, pd.DataFrame):
            if not hasattr(validation_data, "collect"):
                raise InvalidInputError(
                    "validation_data must be a pandas or Spark DataFrame, not "
                    f"{type(validation_data).__name__}."
                )
            validation_data = spark_frame_to_pandas(validation_data)
        try:
            parts.append(coerce_inputs(validation_data, inputs))
        except InvalidInputError as exc:
            raise InvalidInputError(f"validation_data: {exc.message}") from exc
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if frame.empty:
        raise PromotionRefusedError(
            f"Refused to promote {label}: there are no rows to check (no stored input example and no "
            "validation_data). Pass validation_data. The alias was not changed."
        )
    refused, _ = find_violations(frame, contract.closed_categories, contract.numeric_guards)
    mask = np.zeros(len(frame), dtype=bool)
    for _, rows, _ in refused:
        mask |= rows
    if mask.any():
        _logger.info(
            "%d rows hold values Spark refuses (see the input rules); they are not compared.", mask.sum()
        )
    return frame[~mask].reset_index(drop=True), int(mask.sum())


def _rows_onnx_refuses(onnx_model: Any, frame: pd.DataFrame) -> tuple[Any, Any]:
    """The rows the ONNX runtime refuses, as two masks: those only it refuses (``onnx_only``: a float32
    limit, a character it case-maps otherwise) and those it refuses because Spark does (a row check).
    Found by scoring halves of the rows that fail: a few calls per refused row."""
    import numpy as np

    from mlflow_sparkonnx.exceptions import InvalidInputError

    only_onnx = np.zeros(len(frame), dtype=bool)
    spark_refuses = np.zeros(len(frame), dtype=bool)

    def search(rows: Any) -> None:
        try:
            onnx_model.predict(frame.iloc[rows].reset_index(drop=True))
        except InvalidInputError as exc:
            if len(rows) == 1:
                (only_onnx if exc.onnx_only else spark_refuses)[rows[0]] = True
                return
            middle = len(rows) // 2
            search(rows[:middle])
            search(rows[middle:])

    if len(frame):
        search(np.arange(len(frame)))
    if only_onnx.any():
        _logger.info("%d rows are refused by the ONNX runtime only; they are not compared.", only_onnx.sum())
    return only_onnx, spark_refuses


#: Rows a graph row check refuses that are run through Spark to confirm it refuses them too.
_CONFIRMED_REFUSALS = 8


def _confirm_spark_refuses(spark_model: Any, frame: pd.DataFrame, rows: Any, label: str) -> None:
    """A row the graph refuses because Spark does must fail in Spark too (the first few, one job each)."""
    import numpy as np

    if spark_model is None:
        return
    for row in np.flatnonzero(rows)[:_CONFIRMED_REFUSALS]:
        try:
            spark_model.predict(frame.iloc[[row]].reset_index(drop=True))
        except Exception:  # noqa: BLE001 - Spark refusing the row, as the graph does
            continue
        raise PromotionRefusedError(
            f"Refused to promote {label}: in this environment the ONNX graph refuses validation row {row}, "
            "which Spark scores. The alias was not changed.",
            figures={"refused_row": int(row)},
        )


def _spark_unavailable() -> str | None:
    """None when a SparkSession can run here, else why not."""
    from mlflow_sparkonnx.sparkml.session import get_or_create_spark

    try:
        get_or_create_spark()
    except RuntimeUnavailableError as exc:
        return exc.message
    return None


def _versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("onnxruntime", "pyspark", "mlflow-sparkonnx"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


def _finite(value: Any) -> Any:
    """JSON-safe figures: inf and NaN as strings."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return str(value)
    return value


def _tag_json(figures: dict[str, Any]) -> str:
    """Compact JSON; when too long for a tag, the per-output detail is left out (still valid JSON)."""
    text = json.dumps(_finite(figures), separators=(",", ":"))
    if len(text) <= _TAG_LIMIT:
        return text
    short = {k: v for k, v in figures.items() if not isinstance(v, dict)} | {"truncated": True}
    short = {k: (v[:1000] if isinstance(v, str) else v) for k, v in short.items()}
    return json.dumps(_finite(short), separators=(",", ":"))


def _record_failure(client: Any, name: str, version: str, alias: str, exc: SparkOnnxError) -> None:
    """Tag the version with the failed attempt (best effort: the refusal itself must still surface)."""
    record = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "alias": alias,
        "error": type(exc).__name__,
        "reason": exc.message[:2000],
        "figures": _finite(getattr(exc, "figures", {}) or {}),
    }
    try:
        client.set_model_version_tag(name, version, TAG_FAILED, _tag_json(record))
    except Exception:  # the registry may be what failed; never hide the refusal behind this
        _logger.warning(
            "Could not tag %s version %s with the failed promotion.", name, version, exc_info=True
        )
