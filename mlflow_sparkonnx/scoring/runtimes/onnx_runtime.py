"""Scoring with onnxruntime: no JVM, no pyspark."""

from __future__ import annotations

import locale
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlflow_sparkonnx.artifacts import verify_checksum
from mlflow_sparkonnx.contract import (
    PARSED_NUMBER_OUTPUT,
    TOKEN_FILL,
    Column,
    ModelContract,
    RowCheck,
    token_count_output,
)
from mlflow_sparkonnx.exceptions import InvalidInputError, SparkOnnxError
from mlflow_sparkonnx.scoring.guards import refusal
from mlflow_sparkonnx.scoring.runtimes.base import DROPPED_ROWS, format_outputs, null_rows
from mlflow_sparkonnx.scoring.schema import Columns

_NUMPY_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
    "tensor(string)": object,
}


#: Rows per ``InferenceSession.run`` unless the model records a smaller number.
DEFAULT_BATCH_ROWS = 10_000
#: The largest finite float32. The graphs compute in float32, where a larger double becomes infinite.
FLOAT32_MAX = float(np.finfo(np.float32).max)
_FEW_VALUES = 16


class OnnxRuntime:
    """Runs the verified ONNX graph on pandas frames."""

    name = "onnx"

    def __init__(
        self,
        model_bytes: bytes,
        inputs: list[Column],
        outputs: list[Column],
        onnx_output_names: dict[str, str],
        batch_rows: int = DEFAULT_BATCH_ROWS,
        intra_op_threads: int | None = None,
        row_checks: tuple[RowCheck, ...] = (),
        float32_inputs: Sequence[str] = (),
    ) -> None:
        """``intra_op_threads=1`` where the caller already spreads work over the cores (Spark workers).

        ``row_checks``: graph outputs flagging rows a stage refuses; a flagged row fails the call.
        ``float32_inputs``: inputs the graph computes with in float32; a finite value beyond float32's
        range in one of them fails the call.
        """
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        if intra_op_threads is not None:
            options.intra_op_num_threads = intra_op_threads
            options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            model_bytes, sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {c.name: c for c in inputs}
        self._graph_inputs = [(i.name, i.type) for i in self._session.get_inputs()]
        # Per graph input, worked out once: (name, numpy dtype, one sequence per row?, float32 inside?).
        self._feed_specs = [
            (name, _NUMPY_TYPES[tensor_type], self._inputs[name].is_sequence, name in float32_inputs)
            for name, tensor_type in self._graph_inputs
        ]
        self.float32_inputs = frozenset(float32_inputs)
        self._outputs = outputs
        self._row_checks = tuple(row_checks)
        graph_outputs = {o.name for o in self._session.get_outputs()}
        # Token-array outputs come padded, with each row's token count beside them (older models:
        # without, and equal-length rows only).
        counts = {c.name: token_count_output(onnx_output_names[c.name]) for c in outputs}
        self._token_counts = [
            (c.name, counts[c.name])
            for c in outputs
            if c.spark_type == "array<string>" and counts[c.name] in graph_outputs
        ]
        self._fetch = (
            [onnx_output_names[c.name] for c in outputs]
            + [c.output for c in self._row_checks]
            + [count for _, count in self._token_counts]
        )
        self.batch_rows = max(1, int(batch_rows))
        self._parses_numbers = PARSED_NUMBER_OUTPUT.encode() in model_bytes

    @classmethod
    def load(cls, path: str, contract: ModelContract, intra_op_threads: int | None = None) -> OnnxRuntime:
        """The verified graph at ``path``, its checksum checked against the contract; fetches every output."""
        verify_checksum(path, contract.onnx_model_sha256)
        with open(path, "rb") as f:
            model_bytes = f.read()
        return cls(
            model_bytes,
            list(contract.inputs),
            list(contract.outputs),
            contract.onnx_outputs or {},
            batch_rows=contract.onnx_batch_rows or DEFAULT_BATCH_ROWS,
            intra_op_threads=intra_op_threads,
            row_checks=contract.row_checks,
            float32_inputs=contract.float32_inputs,
        )

    def feeds(self, frame: Columns, first_row: int = 0) -> dict[str, np.ndarray]:
        """The graph's input tensors for a coerced frame (or coerced column arrays).

        A finite number beyond float32's range in a float32 input is refused (``InvalidInputError``
        naming the column and the row, counted from ``first_row``): the graph would compute with an
        infinity there.
        """
        feeds = {}
        for name, dtype, is_sequence, float32_inside in self._feed_specs:
            values = np.asarray(frame[name])
            if is_sequence and dtype is object:  # token arrays: ragged rows filled to one width
                feeds[name] = _fill_token_rows(name, values)
            elif is_sequence:
                rows = [np.asarray(v, dtype=dtype) for v in values]
                width = max((len(r) for r in rows), default=0)
                feeds[name] = np.stack(rows) if rows else np.empty((0, width), dtype=dtype)
            else:
                feeds[name] = values.astype(dtype, copy=False).reshape(-1, 1)
            if float32_inside:
                _refuse_beyond_float32(name, feeds[name], first_row)
        return feeds

    def run_feeds(self, feeds: dict[str, np.ndarray]) -> list[Any]:
        """Raw ``InferenceSession.run`` on prebuilt feeds."""
        return self._session.run(self._fetch, feeds)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.predict_columns(frame, len(frame))

    def predict_columns(self, columns: Columns, n_rows: int) -> pd.DataFrame:
        """Score coerced column arrays (see ``schema.coerce_columns``) of ``n_rows`` rows."""
        if n_rows == 0:
            return format_outputs({c.name: [] for c in self._outputs}, self._outputs, 0)
        frames = []
        for rows, raw in self.run_in_batches(columns, n_rows):
            frame = format_outputs(raw, self._outputs, rows)
            dropped = raw.get(DROPPED_ROWS)
            frames.append(frame if dropped is None else null_rows(frame, dropped, self._outputs))
        return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)

    def run_in_batches(self, columns: Columns, n_rows: int) -> list[tuple[int, dict[str, Any]]]:
        """Raw outputs by name, one ``(rows, outputs)`` per run of at most ``batch_rows`` rows.

        Bounded memory: dense intermediates grow with the rows of one run. Where a stage drops rows
        in Spark (a ``drop`` row check), the outputs also hold :data:`DROPPED_ROWS`, a bool per row.
        """
        if self._parses_numbers:
            _check_decimal_point()
        step = self.batch_rows
        if n_rows <= step:
            parts = [(n_rows, columns)]
        else:
            arrays = _arrays(columns)
            parts = [
                (min(step, n_rows - i), {k: v[i : i + step] for k, v in arrays.items()})
                for i in range(0, n_rows, step)
            ]
        names = [c.name for c in self._outputs]
        results = []
        offset = 0
        n_checks = len(self._row_checks)
        for rows, part in parts:
            fetched = self.run_feeds(self.feeds(part, offset))
            flags = fetched[len(names) : len(names) + n_checks]
            self._refuse_flagged_rows(flags, part, offset)
            raw = dict(zip(names, fetched[: len(names)], strict=True))
            drops = [f for f, check in zip(flags, self._row_checks, strict=True) if check.action == "drop"]
            if drops:
                raw[DROPPED_ROWS] = np.logical_or.reduce(
                    [np.asarray(f, dtype=bool).reshape(-1) for f in drops]
                )
            for (column, _), counts in zip(self._token_counts, fetched[len(names) + n_checks :], strict=True):
                raw[column] = [list(row[:count]) for row, count in zip(raw[column], counts, strict=True)]
            results.append((rows, raw))
            offset += rows
        return results

    def _refuse_flagged_rows(self, flags: list[np.ndarray], part: Columns, offset: int) -> None:
        """Raise for the first row any row check flags (Spark raises on it mid-job); on that row,
        the check of the earliest stage."""
        firsts = []
        dropped = None  # rows an earlier stage drops never reach a later stage's check (stage order)
        for i, (flag, check) in enumerate(zip(flags, self._row_checks, strict=True)):
            flag = np.asarray(flag, dtype=bool).ravel()
            if check.action == "drop":
                dropped = flag if dropped is None else dropped | flag
                continue
            live = flag if dropped is None else flag & ~dropped
            if live.any():
                firsts.append((int(np.argmax(live)), i))
        if not firsts:
            return
        row, index = min(firsts)
        check = self._row_checks[index]
        if check.action == "onnx_only":  # Spark scores the row; the graph cannot compute it as Spark does
            what = f"which the ONNX graph cannot compute as {check.stage} does in Spark: {check.why}"
            advice = "; load the model with runtime='spark' to score it"
        else:
            what, advice = f"which {check.stage} refuses: {check.why}", ""
        if check.column in self._inputs:  # a raw input: show its value
            value = np.asarray(part[check.column])[row]
            value = value.tolist() if isinstance(value, np.ndarray) else value
            error = refusal(check.column, offset + row, value, what + advice)
        else:
            error = InvalidInputError(
                f"Column '{check.column}' (computed from the inputs) row {offset + row} holds a value "
                f"{what}{advice}."
            )
        error.onnx_only = check.action == "onnx_only"
        raise error


def _check_decimal_point() -> None:
    """onnxruntime reads numbers in strings with ``std::stod``, which follows ``LC_NUMERIC``: under a
    locale writing ``1,5`` it would read ``"1.5"`` as 1.0, so such a process is refused."""
    point = locale.localeconv()["decimal_point"]
    if point != ".":
        raise SparkOnnxError(
            f"This process's LC_NUMERIC locale writes decimals with {point!r}, and onnxruntime would read "
            'the numbers in this model\'s strings with it ("1.5" as 1.0). Reset it '
            "(locale.setlocale(locale.LC_NUMERIC, 'C')) or load the model with runtime='spark'."
        )


def beyond_float32(values: np.ndarray) -> np.ndarray:
    """Where ``values`` (doubles) hold a finite number float32 cannot hold."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(values) & (np.abs(values) > FLOAT32_MAX)


def _refuse_beyond_float32(column: str, values: np.ndarray, first_row: int) -> None:
    """Raise for the first finite value of a ``[N, k]`` double feed that float32 cannot hold.

    Spark computes in double; the graphs' float32 arithmetic would turn it into an infinity.
    """
    if values.dtype != np.float64 or not values.size:
        return
    if values.size <= _FEW_VALUES:  # a request of a row or two: plain floats beat numpy's per-call cost
        if not any(FLOAT32_MAX < abs(v) < math.inf for v in values.flat):
            return
    elif not np.fmax.reduce(np.abs(values), axis=None) > FLOAT32_MAX:  # fmax skips NaN
        return
    beyond = beyond_float32(values)
    if not beyond.any():
        return
    row, element = (int(i) for i in np.unravel_index(int(np.argmax(beyond)), beyond.shape))
    where = f" (element {element})" if values.shape[1] > 1 else ""
    raise InvalidInputError(
        f"Column '{column}' row {first_row + row} holds {float(values[row, element])!r}{where}, beyond "
        f"float32's range (±{FLOAT32_MAX:.7g}), in which the ONNX graph computes; Spark computes in "
        "double: load the model with runtime='spark' to score it.",
        onnx_only=True,
    )


def _fill_token_rows(column: str, values: np.ndarray) -> np.ndarray:
    """``[N, T]`` strings: each row's tokens, then ``TOKEN_FILL`` up to the longest row (T >= 1)."""
    rows = [list(v) for v in values]
    width = max(1, max((len(r) for r in rows), default=0))
    filled = np.full((len(rows), width), TOKEN_FILL, dtype=object)
    for i, row in enumerate(rows):
        if TOKEN_FILL in row:
            raise InvalidInputError(
                f"Column '{column}' row {i} holds the reserved token {TOKEN_FILL!r} (a Unicode "
                "noncharacter the ONNX runtime uses to fill short rows)."
            )
        filled[i, : len(row)] = row
    return filled


def _arrays(columns: Columns) -> dict[str, np.ndarray]:
    if isinstance(columns, pd.DataFrame):
        return {name: columns[name].to_numpy() for name in columns.columns}
    return dict(columns)
