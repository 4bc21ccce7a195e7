"""The save-time edge-probe rows through ``transform``: the ONNX plan and the native plan agree.

The probe rows (one example row with one input set to null, NaN, ±inf, 0, -0.0, -1, an unseen,
empty or non-ASCII string) are what ``save_model`` checks the pyfunc with. Here they go through
``transform(runtime="onnx")`` (onnxruntime in the Python workers, with the Spark-side input rules)
and ``transform(runtime="spark")``: the rows the pyfunc scores come back with the same values from
both; a row the pyfunc refuses fails both jobs.
"""

from __future__ import annotations

import math

import mlflow.pyfunc
import pandas as pd
import pytest

from mlflow_sparkonnx.exceptions import InvalidInputError
from mlflow_sparkonnx.flavor.edge_probes import probe_rows
from mlflow_sparkonnx.scoring.schema import to_spark_frame
from mlflow_sparkonnx.scoring.spark_scoring import transform

pytestmark = pytest.mark.slow


def _plain(value: object) -> object:
    if hasattr(value, "toArray"):
        value = value.toArray().tolist()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def _close(ours: object, theirs: object) -> bool:
    if isinstance(ours, list) and isinstance(theirs, list):
        return len(ours) == len(theirs) and all(map(_close, ours, theirs))
    if isinstance(ours, float) and isinstance(theirs, float):
        return math.isclose(ours, theirs, rel_tol=1e-4, abs_tol=1e-5)
    return ours == theirs


def _probe_frames(path: str, example: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, object]:
    """The probe rows the pyfunc scores (or drops), those it refuses, and the ONNX pyfunc model."""
    onnx = mlflow.pyfunc.load_model(path, model_config={"runtime": "onnx"}).get_raw_model()
    spark_model = mlflow.pyfunc.load_model(path, model_config={"runtime": "spark"}).get_raw_model()
    stages = list(spark_model.runtime_impl.pipeline.stages)
    base = {c.name: example[c.name].iloc[0] for c in onnx.inputs}
    scored, refused = [], []
    for _, row in probe_rows(base, list(onnx.inputs), stages):
        try:
            onnx.predict(pd.DataFrame([row]))
        except InvalidInputError:
            refused.append(row)
            continue
        scored.append(row)
    return pd.DataFrame(scored), pd.DataFrame(refused), onnx


@pytest.mark.parametrize("name", ["lr"])
def test_probe_rows_score_alike_in_both_transform_plans(spark, saved_models, adult_train, name):
    path = saved_models[name]
    scored, refused, onnx = _probe_frames(path, adult_train)
    assert len(scored) >= 10, "most probe rows are scored"
    inputs = [*onnx.inputs]
    names = [c.name for c in onnx.outputs]
    frame = to_spark_frame(scored.assign(row_id=range(len(scored))), [*inputs, _row_id()], spark)
    results = {}
    for runtime in ("onnx", "spark"):
        rows = transform(frame, path, runtime=runtime).select("row_id", *names).collect()
        results[runtime] = {r["row_id"]: [_plain(r[n]) for n in names] for r in rows}
    assert results["onnx"].keys() == results["spark"].keys()
    for row_id, values in results["spark"].items():
        assert _close(results["onnx"][row_id], values), (scored.iloc[row_id].to_dict(), values)

    for _, row in refused.head(2).iterrows():  # each refused row fails both plans
        one = to_spark_frame(pd.DataFrame([row]).assign(row_id=[0]), [*inputs, _row_id()], spark)
        for runtime in ("onnx", "spark"):
            with pytest.raises(Exception):  # noqa: B017 - Spark's job failure, in whichever words
                transform(one, path, runtime=runtime).collect()


def _row_id():
    from mlflow_sparkonnx.contract import Column

    return Column("row_id", "bigint")
