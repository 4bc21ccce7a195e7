"""The one parity helper every converter test uses: ONNX through the flavor vs Spark's transform.

With ``SPARKONNX_COVERAGE_FILE`` set to a path, every passing :func:`assert_onnx_matches_spark`
appends one JSON line per verified pipeline stage to that file (its class, the parameters set on
it, the rows compared, the largest difference, the test); ``scripts/coverage_table.py`` turns
them into the coverage table of docs/converters.md. Unset, nothing is recorded.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
import yaml

import mlflow_sparkonnx
from mlflow_sparkonnx.convert.verify import ABS_TOL, REL_TOL

_ROW = "__parity_row"


def spark_transform(pipeline_model: Any, spark: Any, frame: Any, columns: list[str]) -> pd.DataFrame:
    """Spark's own output columns for ``frame`` (pandas or Spark), in order, vectors as lists.

    A pandas frame's rows come back in its order even through a stage that joins (ALS).
    """
    if isinstance(frame, pd.DataFrame):
        spark_frame = spark.createDataFrame(frame.assign(**{_ROW: range(len(frame))}))
        rows = pipeline_model.transform(spark_frame).orderBy(_ROW).select(*columns).collect()
    else:
        rows = pipeline_model.transform(frame).select(*columns).collect()
    return pd.DataFrame({c: [_as_lists(r[c]) for r in rows] for c in columns})


def _as_lists(value: Any) -> Any:
    """Spark vectors as lists of floats, also inside arrays (an LSH model's hashes)."""
    if hasattr(value, "toArray"):
        return value.toArray().tolist()
    if isinstance(value, list) and value and hasattr(value[0], "toArray"):
        return [v.toArray().tolist() for v in value]
    return value


def assert_onnx_matches_spark(
    pipeline_model: Any,
    frame: Any,
    spark: Any,
    tmp_path: Path,
    *,
    output_cols: list[str] | None = None,
    abs_tol: float = ABS_TOL,
    rel_tol: float = REL_TOL,
) -> dict[str, Any]:
    """Save with ``onnx="require"``, score every row with the ONNX runtime, compare with Spark.

    Labels and strings must be equal; floats within ``abs_tol + rel_tol * |spark|``. Returns
    the saved model's ``sparkonnx`` flavor block.
    """
    path = tmp_path / "model"
    n_rows = frame.count() if not isinstance(frame, pd.DataFrame) else len(frame)
    mlflow_sparkonnx.save_model(
        pipeline_model,
        str(path),
        input_example=frame,
        output_cols=output_cols,
        onnx="require",
        parity_rows=n_rows,
    )
    conf = yaml.safe_load((path / "MLmodel").read_text())["flavors"]["sparkonnx"]
    assert conf["onnx_status"] == "verified", conf["onnx_reason"]
    columns = [c["name"] for c in conf["outputs"]]
    pandas_frame = frame if isinstance(frame, pd.DataFrame) else frame.toPandas()
    model = mlflow.pyfunc.load_model(str(path), model_config={"runtime": "onnx"}).get_raw_model()
    got = model.predict(pandas_frame)
    expected = spark_transform(pipeline_model, spark, frame, columns)
    assert len(got) == len(expected) == n_rows
    for column in columns:
        assert_column_close(got[column], expected[column], column, abs_tol, rel_tol)
    if os.environ.get(COVERAGE_ENV):
        used = {c: share_of_tolerance(got[c], expected[c], abs_tol, rel_tol) for c in columns}
        record_coverage(pipeline_model, conf, tolerance_used=used)
    return conf


def assert_column_close(
    got: pd.Series, expected: pd.Series, name: str, abs_tol: float, rel_tol: float
) -> None:
    if _is_text(expected):
        assert list(got) == list(expected), f"{name}: strings differ"
        return
    got_arr = np.array([np.asarray(v, dtype="float64") for v in got])
    exp_arr = np.array([np.asarray(v, dtype="float64") for v in expected])
    np.testing.assert_allclose(got_arr, exp_arr, atol=abs_tol, rtol=rel_tol, equal_nan=True, err_msg=name)


def share_of_tolerance(got: pd.Series, expected: pd.Series, abs_tol: float, rel_tol: float) -> float:
    """The largest ``|got - expected| / (abs_tol + rel_tol * |expected|)`` (0 for text, equal NaNs)."""
    if _is_text(expected):
        return 0.0
    got_arr = np.array([np.asarray(v, dtype="float64") for v in got])
    exp_arr = np.array([np.asarray(v, dtype="float64") for v in expected])
    with np.errstate(invalid="ignore"):
        share = np.abs(got_arr - exp_arr) / (abs_tol + rel_tol * np.abs(exp_arr))
    return float(share[np.isfinite(share)].max(initial=0.0))


def _is_text(expected: pd.Series) -> bool:
    first = next((v for v in expected if v is not None and (not isinstance(v, list) or v)), None)
    return isinstance(first, str) or (isinstance(first, list) and isinstance(first[0], str))


#: The file :func:`record_coverage` appends to; unset or empty, nothing is recorded.
COVERAGE_ENV = "SPARKONNX_COVERAGE_FILE"

#: Column plumbing every stage has: which columns it reads and writes says nothing about coverage.
_PLUMBING = {
    "inputCol",
    "outputCol",
    "outputCols",
    "featuresCol",
    "labelCol",
    "predictionCol",
    "probabilityCol",
    "rawPredictionCol",
    "weightCol",
    "censorCol",
    "validationIndicatorCol",
}
#: Parameters that steer training only; the fitted model, not they, decides what the graph computes.
_TRAINING_ONLY = {
    "aggregationDepth",
    "blockSize",
    "bootstrap",
    "cacheNodeIds",
    "checkpointInterval",
    "elasticNetParam",
    "featureSubsetStrategy",
    "impurity",
    "initMode",
    "initStd",
    "initSteps",
    "maxBins",
    "maxBlockSizeInMB",
    "maxIter",
    "maxMemoryInMB",
    "maxSentenceLength",
    "minCount",
    "minDivisibleClusterSize",
    "minDocFreq",
    "minInfoGain",
    "minInstancesPerNode",
    "minWeightFractionPerNode",
    "miniBatchFraction",
    "numPartitions",
    "regParam",
    "relativeError",
    "seed",
    "solver",
    "standardization",
    "stepSize",
    "subsamplingRate",
    "tol",
    "windowSize",
}


def record_coverage(
    pipeline_model: Any, conf: dict[str, Any], *, tolerance_used: dict[str, float] | None = None
) -> None:
    """Append one JSON line per stage of a verified model to ``$SPARKONNX_COVERAGE_FILE``.

    ``conf`` is the saved model's ``sparkonnx`` flavor block (its parity figures are the
    pipeline's outputs, not the stage's own); stages it dropped (not in the graph) are not
    recorded. ``tolerance_used``: per output, the :func:`share_of_tolerance` the test measured.
    Does nothing when the variable is unset.
    """
    target = os.environ.get(COVERAGE_ENV)
    if not target:
        return
    from mlflow_sparkonnx.convert.registration import converter_provider
    from mlflow_sparkonnx.sparkml.pipeline import as_pipeline_model

    parity = conf.get("parity") or {}
    outputs = {
        name: {
            "max_abs_diff": out.get("max_abs_diff"),
            "mismatched_rows": out.get("mismatched_rows"),
            "tolerance_used": (tolerance_used or {}).get(name),
        }
        for name, out in (parity.get("outputs") or {}).items()
    }
    diffs = [d for d in (o["max_abs_diff"] for o in outputs.values()) if _finite(d)]
    common = {
        "rows": parity.get("rows"),
        "max_abs_diff": max(diffs, default=0.0),
        "mismatched_rows": sum(o["mismatched_rows"] or 0 for o in outputs.values()),
        "tolerance_used": max((tolerance_used or {}).values(), default=None),
        "outputs": outputs,
        "test": os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0],
    }
    kept = set(conf.get("stage_uids") or [])
    lines = []
    for stage in as_pipeline_model(pipeline_model).stages:
        if stage.uid not in kept:
            continue
        record = {
            "stage": type(stage).__name__,
            "module": type(stage).__module__,
            "converter": converter_provider(stage) or "none",
            "params": stage_params(stage),
            **common,
        }
        lines.append(json.dumps(record, sort_keys=True) + "\n")
    with open(target, "a", encoding="utf-8") as f:  # one write per call: lines never interleave
        f.write("".join(lines))


def stage_params(stage: Any) -> dict[str, str]:
    """The parameters explicitly set on ``stage`` that shape its output, summarised as short text.

    Column names, uids and training-only settings are left out; a column-list parameter becomes
    its length, an optional output column ``set``, a long or textual list its item count. Models
    also report ``numClasses`` and ``numTrees`` when they have them.
    """
    summary: dict[str, str] = {}
    for param in stage.params:
        name = param.name
        if name in _PLUMBING or name in _TRAINING_ONLY or not stage.isSet(param):
            continue
        value = stage.getOrDefault(param)
        if name == "inputCols":
            if not stage.hasParam("inputCol"):  # VectorAssembler & co: always several columns
                continue
            summary[name] = str(len(value))
        elif name.endswith("Cols"):
            summary[name] = str(len(value))
        elif name.endswith("Col"):
            summary[name] = "set"
        else:
            summary[name] = summarise_value(value)
    for attribute, name in (("numClasses", "numClasses"), ("getNumTrees", "numTrees")):
        value = getattr(stage, attribute, None)  # properties on fitted models (a method elsewhere)
        if isinstance(value, int) and not isinstance(value, bool):
            summary[name] = str(value)
    return summary


def summarise_value(value: Any) -> str:
    """A parameter value as a few characters: ``True``, ``0.5``, ``inf``, ``[0,1]``, ``[181 items]``."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return value if len(value) <= 24 else value[:21] + "..."
    if isinstance(value, (list, tuple)):
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        if numeric and len(value) <= 4:
            return "[" + ",".join(summarise_value(v) for v in value) + "]"
        return f"[{len(value)} items]"
    if hasattr(value, "params"):  # a Params object, e.g. OneVsRest's classifier
        return type(value).__name__
    text = str(value)
    return text if len(text) <= 24 else text[:21] + "..."


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def report_parity(conf: dict[str, Any]) -> None:
    """Print a saved model's parity figures (shown with ``pytest -s``)."""
    parity = conf["parity"]
    summary = {name: out["max_abs_diff"] for name, out in parity["outputs"].items()}
    print(f"parity rows={parity['rows']} max_abs_diff={summary}")
