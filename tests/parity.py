"""The one parity helper every converter test uses: ONNX through the flavor vs Spark's transform."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
import yaml

import mlflow_sparkonnx
from mlflow_sparkonnx.convert.verify import ABS_TOL, REL_TOL


def spark_transform(pipeline_model: Any, spark: Any, frame: Any, columns: list[str]) -> pd.DataFrame:
    """Spark's own output columns for ``frame`` (pandas or Spark), in order, vectors as lists."""
    spark_frame = frame if not isinstance(frame, pd.DataFrame) else spark.createDataFrame(frame)
    rows = pipeline_model.transform(spark_frame).select(*columns).collect()
    return pd.DataFrame(
        {c: [r[c].toArray().tolist() if hasattr(r[c], "toArray") else r[c] for r in rows] for c in columns}
    )


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
    return conf


def assert_column_close(
    got: pd.Series, expected: pd.Series, name: str, abs_tol: float, rel_tol: float
) -> None:
    first = next((v for v in expected if v is not None), None)
    if isinstance(first, str) or (isinstance(first, list) and first and isinstance(first[0], str)):
        assert list(got) == list(expected), f"{name}: strings differ"
        return
    got_arr = np.array([np.asarray(v, dtype="float64") for v in got])
    exp_arr = np.array([np.asarray(v, dtype="float64") for v in expected])
    np.testing.assert_allclose(got_arr, exp_arr, atol=abs_tol, rtol=rel_tol, equal_nan=True, err_msg=name)
