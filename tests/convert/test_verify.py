"""The parity comparison itself: it must catch what matters and tolerate float32 noise."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlflow_sparkonnx.contract import Column
from mlflow_sparkonnx.convert.verify import ABS_TOL, verify_parity

OUTPUTS = [Column("prediction", "double"), Column("probability", "vector")]


def frame(predictions, probabilities):
    return pd.DataFrame({"prediction": predictions, "probability": probabilities})


def test_identical_outputs_pass():
    a = frame([0.0, 1.0], [[0.9, 0.1], [0.2, 0.8]])
    assert verify_parity(a, a.copy(), OUTPUTS).passed


def test_float32_noise_passes():
    a = frame([0.0, 123.456], [[0.9, 0.1], [0.2, 0.8]])
    b = frame([0.0, float(np.float32(123.456))], [[float(np.float32(0.9)), 0.1], [0.2, 0.8]])
    report = verify_parity(a, b, OUTPUTS)
    assert report.passed
    assert 0 < report.outputs["prediction"].max_abs_diff < ABS_TOL


def test_a_flipped_label_fails_and_is_described():
    a = frame([0.0, 1.0, 1.0], [[0.9, 0.1], [0.2, 0.8], [0.4, 0.6]])
    b = frame([0.0, 0.0, 1.0], [[0.9, 0.1], [0.2, 0.8], [0.4, 0.6]])
    report = verify_parity(a, b, OUTPUTS)
    assert not report.passed
    assert report.outputs["prediction"].mismatched_rows == 1
    assert "prediction" in report.describe_failure() and "row 1" in report.describe_failure()


def test_probability_off_by_more_than_tolerance_fails():
    a = frame([1.0], [[0.4, 0.6]])
    b = frame([1.0], [[0.401, 0.599]])
    assert not verify_parity(a, b, OUTPUTS).passed


def test_nan_matches_nan_only():
    outputs = [Column("x", "double")]
    both = pd.DataFrame({"x": [np.nan, 1.0]})
    assert verify_parity(both, both.copy(), outputs).passed
    assert not verify_parity(both, pd.DataFrame({"x": [0.0, 1.0]}), outputs).passed


def test_string_outputs_compare_exactly():
    outputs = [Column("label", "string")]
    assert not verify_parity(
        pd.DataFrame({"label": ["a", "b"]}), pd.DataFrame({"label": ["a", "c"]}), outputs
    ).passed


def test_no_rows_is_not_verified():
    empty = frame([], [])
    assert not verify_parity(empty, empty, OUTPUTS).passed


def test_rows_of_another_shape_or_null_are_described_as_such():
    """No value compares there, so the reason is the shape (not a contradictory 'max abs diff 0')."""
    a = frame([0.0, 1.0], [[0.9, 0.1], [0.2, 0.8]])
    b = frame([0.0, 1.0], [[0.9], [0.2]])
    failure = verify_parity(a, b, OUTPUTS).describe_failure()
    assert "row 0: Spark gives shape (2,), ONNX (1,)" in failure, failure
    c = frame([0.0, None], [[0.9, 0.1], [0.2, 0.8]])
    failure = verify_parity(a, c.astype(object).where(c.notna(), None), OUTPUTS).describe_failure()
    assert "row 1: Spark gives a value, ONNX null" in failure, failure


def test_lsh_hashes_must_be_equal_not_close():
    """A min-hash of ~2e9 one away (or a bucket of 1e4 one away) is within the float tolerance, but
    another hash: LSH outputs compare exactly."""
    hashes = [Column("hashes", "array<vector>")]
    spark = pd.DataFrame({"hashes": [[[1316787817.0], [12000.0]], [[5.0], [-3.0]]]})
    one_off = pd.DataFrame({"hashes": [[[1316787818.0], [12000.0]], [[5.0], [-3.0]]]})
    assert verify_parity(spark, spark.copy(), hashes).passed
    report = verify_parity(spark, one_off, hashes)
    assert not report.passed and report.outputs["hashes"].mismatched_rows == 1
    # the same values as a plain vector pass: the tolerance is what makes the difference
    vectors = [Column("hashes", "vector")]
    flat = pd.DataFrame({"hashes": [[1316787817.0, 12000.0], [5.0, -3.0]]})
    flat_off = pd.DataFrame({"hashes": [[1316787818.0, 12000.0], [5.0, -3.0]]})
    assert verify_parity(flat, flat_off, vectors).passed
