"""The parity check: the ONNX graph's outputs against Spark's on the same rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlflow_sparkonnx.contract import HASHES_TYPE, Column

#: A float output agrees when ``|onnx - spark| <= ABS_TOL + REL_TOL * |spark|``. ONNX computes
#: in float32 (about 7 significant digits); labels, indices and strings must agree exactly.
ABS_TOL = 1e-4
REL_TOL = 1e-4


@dataclass
class OutputParity:
    """How one output column compared."""

    max_abs_diff: float
    max_rel_diff: float
    mismatched_rows: int
    first_mismatch_row: int | None = None
    #: Why rows differ when no value can be compared: a null on one side, or a different length.
    shape_note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_abs_diff": self.max_abs_diff,
            "max_rel_diff": self.max_rel_diff,
            "mismatched_rows": self.mismatched_rows,
        }


@dataclass
class ParityReport:
    """The parity result for all outputs on ``rows`` rows."""

    rows: int
    outputs: dict[str, OutputParity] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.rows > 0 and all(o.mismatched_rows == 0 for o in self.outputs.values())

    def describe_failure(self) -> str:
        """A sentence naming the first output that differed and by how much."""
        if self.rows == 0:
            return "no rows to compare"
        for name, result in self.outputs.items():
            if result.mismatched_rows:
                diffs = f"max abs diff {result.max_abs_diff:.6g}, max rel diff {result.max_rel_diff:.6g}"
                if result.shape_note:
                    diffs = f"{result.shape_note}; where values compare, {diffs}"
                return (
                    f"output '{name}' differs from Spark on {result.mismatched_rows} of "
                    f"{self.rows} rows (first at row {result.first_mismatch_row}; {diffs})"
                )
        return ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "tolerance": {"abs": ABS_TOL, "rel": REL_TOL},
            "outputs": {name: o.to_dict() for name, o in self.outputs.items()},
        }


def verify_parity(
    spark_result: pd.DataFrame, onnx_result: pd.DataFrame, outputs: list[Column]
) -> ParityReport:
    """Compare the two runtimes' formatted outputs column by column."""
    report = ParityReport(rows=len(spark_result))
    for col in outputs:
        report.outputs[col.name] = _compare(spark_result[col.name], onnx_result[col.name], col)
    return report


def _compare(expected: pd.Series, actual: pd.Series, col: Column) -> OutputParity:
    if col.spark_type == HASHES_TYPE:  # bucket ids and min-hashes: one step off is another bucket
        return _compare_numbers(expected, actual, abs_tol=0.0, rel_tol=0.0)
    if col.is_numeric or (col.is_sequence and col.spark_type != "array<string>"):
        return _compare_numbers(expected, actual)
    mismatches = [i for i, (e, a) in enumerate(zip(expected, actual, strict=True)) if e != a]
    return OutputParity(
        max_abs_diff=float("nan") if mismatches else 0.0,
        max_rel_diff=float("nan") if mismatches else 0.0,
        mismatched_rows=len(mismatches),
        first_mismatch_row=mismatches[0] if mismatches else None,
    )


def _compare_numbers(
    expected: pd.Series, actual: pd.Series, abs_tol: float = ABS_TOL, rel_tol: float = REL_TOL
) -> OutputParity:
    max_abs = max_rel = 0.0
    mismatches: list[int] = []
    shape_note = None
    for row, (e, a) in enumerate(zip(expected, actual, strict=True)):
        if e is None or a is None:
            if (e is None) != (a is None):
                mismatches.append(row)
                shape_note = shape_note or (
                    f"row {row}: Spark gives {'null' if e is None else 'a value'}, "
                    f"ONNX {'null' if a is None else 'a value'}"
                )
            continue
        e_arr = np.atleast_1d(np.asarray(e, dtype="float64"))
        a_arr = np.atleast_1d(np.asarray(a, dtype="float64"))
        if e_arr.shape != a_arr.shape:
            mismatches.append(row)
            shape_note = shape_note or f"row {row}: Spark gives shape {e_arr.shape}, ONNX {a_arr.shape}"
            continue
        both_nan = np.isnan(e_arr) & np.isnan(a_arr)
        with np.errstate(invalid="ignore"):
            diff = np.where(both_nan, 0.0, np.abs(e_arr - a_arr))
            diff = np.where(np.isnan(diff) | (np.isinf(e_arr) != np.isinf(a_arr)), np.inf, diff)
            same_inf = np.isinf(e_arr) & (e_arr == a_arr)
            diff = np.where(same_inf, 0.0, diff)
            # relative to the expected value, floored so near-zero probabilities do not read as 100 %
            rel = np.where(diff == 0, 0.0, diff / np.maximum(np.abs(e_arr), ABS_TOL))
        max_abs = max(max_abs, float(diff.max(initial=0.0)))
        max_rel = max(max_rel, float(rel.max(initial=0.0)))
        if np.any(diff > abs_tol + rel_tol * np.abs(np.nan_to_num(e_arr, posinf=0, neginf=0))):
            mismatches.append(row)
    return OutputParity(
        max_abs_diff=max_abs,
        max_rel_diff=max_rel,
        mismatched_rows=len(mismatches),
        first_mismatch_row=mismatches[0] if mismatches else None,
        shape_note=shape_note,
    )
