"""Scoring with the native PipelineModel in a local, cluster-less SparkSession."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from mlflow_sparkonnx.contract import Column
from mlflow_sparkonnx.scoring.guards import is_spark_refusal
from mlflow_sparkonnx.scoring.runtimes.base import format_outputs
from mlflow_sparkonnx.scoring.schema import Columns, spark_frame_to_pandas, to_spark_frame

_logger = logging.getLogger(__name__)

ROW_ID = "__sparkonnx_row_id"


def transform_frame(
    pipeline: Any, frame: pd.DataFrame, inputs: list[Column], output_names: list[str], spark: Any
) -> pd.DataFrame:
    """Run ``pipeline.transform`` on a coerced frame; rows Spark drops come back as nulls.

    The result has one row per input row, in input order, with the ``output_names`` columns
    as Spark produced them (vectors as lists).
    """
    with_ids = frame.assign(**{ROW_ID: range(len(frame))})
    spark_inputs = [*inputs, Column(ROW_ID, "bigint")]
    spark_frame = to_spark_frame(with_ids, spark_inputs, spark)
    transformed = pipeline.transform(spark_frame).select(ROW_ID, *output_names)
    collected = spark_frame_to_pandas(transformed).set_index(ROW_ID)
    dropped = len(frame) - len(collected)
    if dropped:
        _logger.warning(
            "Spark dropped %d of %d rows (handleInvalid='skip', or ALS's coldStartStrategy='drop'); "
            "they are returned with null outputs.",
            dropped,
            len(frame),
        )
    return collected.reindex(range(len(frame))).reset_index(drop=True)


def first_failing_row(
    failure_in: Callable[[int, int], BaseException | None], n_rows: int
) -> tuple[int, BaseException] | None:
    """The first row that fails alone and its error, by bisection (~log2(rows) + 1 jobs).

    ``failure_in(low, high)`` scores rows ``low:high`` and returns the error, or None when they score.
    """
    low, high = 0, n_rows
    while high - low > 1:
        middle = (low + high) // 2
        if failure_in(low, middle) is not None:
            high = middle
        else:
            low = middle
    error = failure_in(low, low + 1) if n_rows else None
    return None if error is None else (low, error)


class SparkRuntime:
    """Runs the native pipeline; returns the same columns and dtypes as ``OnnxRuntime``."""

    name = "spark"

    def __init__(self, pipeline: Any, inputs: list[Column], outputs: list[Column], spark: Any) -> None:
        self.pipeline = pipeline
        self._spark = spark
        self._inputs = inputs
        self._outputs = outputs

    def predict_columns(self, columns: Columns, n_rows: int) -> pd.DataFrame:
        """Score coerced column arrays (see ``schema.coerce_columns``) of ``n_rows`` rows."""
        return self.predict(pd.DataFrame(columns, index=pd.RangeIndex(n_rows)))

    def first_refused_row(
        self, columns: Columns, n_rows: int, skipped: Any = None
    ) -> tuple[int, BaseException] | None:
        """The first row Spark refuses and its error, found by bisection: ~log2(rows) + 1 jobs.

        ``skipped`` (a boolean mask) marks rows the guards already left out; the row returned
        counts them, as the caller's frame does.
        """
        frame = pd.DataFrame(columns, index=pd.RangeIndex(n_rows))
        positions = np.arange(n_rows) if skipped is None else np.flatnonzero(~np.asarray(skipped))
        frame = frame.iloc[positions].reset_index(drop=True)

        def refusal_in(low: int, high: int) -> BaseException | None:
            try:
                self.predict(frame.iloc[low:high].reset_index(drop=True))
            except Exception as exc:
                return exc if is_spark_refusal(exc) else None
            return None

        found = first_failing_row(refusal_in, len(frame))
        return None if found is None else (int(positions[found[0]]), found[1])

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        names = [c.name for c in self._outputs]
        if len(frame) == 0:
            return format_outputs({n: [] for n in names}, self._outputs, 0)
        result = transform_frame(self.pipeline, frame, self._inputs, names, self._spark)
        return format_outputs({n: list(result[n]) for n in names}, self._outputs, len(frame))
