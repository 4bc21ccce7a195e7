"""Property-based: any input frame gets the same answer from both runtimes, or the same documented error.

Frames are generated with hypothesis for the Adult LR pipeline's inputs (StringIndexer keep →
OneHotEncoder → VectorAssembler → LogisticRegression): known and unseen categories, empty and
unicode strings, ints, NaN, ±inf, huge and tiny floats, and empty frames. Each call must either
return equal outputs from the ONNX and the Spark runtime (numbers within the parity tolerance,
labels equal) or raise ``InvalidInputError`` with the same message from both. Never a crash, never
two different answers.
"""

from __future__ import annotations

import math

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mlflow_sparkonnx.convert.verify import ABS_TOL, REL_TOL
from mlflow_sparkonnx.exceptions import InvalidInputError

STRINGS = ["workclass", "education", "marital_status", "occupation", "sex"]
NUMBERS = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
KNOWN = ["Private", "State-gov", "Bachelors", "HS-grad", "Male", "Female", "Never-married", "Sales"]

strings = st.one_of(
    st.sampled_from(KNOWN),
    st.just(""),
    st.text(max_size=12),  # unicode, unseen
    st.sampled_from(["x" * 100_000, "\u00e9" * 5_000 + " Private", "Private\x00"]),  # long, odd
)
whole_numbers = st.integers(min_value=-(10**6), max_value=10**9).map(float)
numbers = st.one_of(
    whole_numbers,
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, -0.0, 1e-320, 3.4e38, 1e300, -1e300]),
)


@st.composite
def frames(draw) -> pd.DataFrame:
    n = draw(st.integers(min_value=0, max_value=6))
    # Half the frames hold only whole numbers, so they get scored rather than refused for a NaN or a
    # fraction in one of their 5 x n numeric cells.
    cells = numbers if draw(st.booleans()) else whole_numbers
    data = {c: [draw(strings) for _ in range(n)] for c in STRINGS}
    data.update({c: [draw(cells) for _ in range(n)] for c in NUMBERS})
    return pd.DataFrame(data, columns=STRINGS + NUMBERS)


@pytest.fixture(scope="module")
def both_runtimes(saved_models):
    load = mlflow.pyfunc.load_model
    onnx = load(saved_models["lr"], model_config={"runtime": "onnx"}).get_raw_model()
    spark = load(saved_models["lr"], model_config={"runtime": "spark"}).get_raw_model()
    return onnx, spark


def outcome(model, frame: pd.DataFrame):
    try:
        return model.predict(frame)
    except InvalidInputError as exc:
        return exc


def numbers_agree(got: float, want: float) -> bool:
    if math.isnan(want) or math.isnan(got):
        return math.isnan(want) and math.isnan(got)
    return abs(got - want) <= ABS_TOL + REL_TOL * abs(want)


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=frames())
def test_both_runtimes_give_one_answer(both_runtimes, frame):
    onnx, spark = both_runtimes
    from_onnx, from_spark = outcome(onnx, frame), outcome(spark, frame)
    event("scored" if isinstance(from_spark, pd.DataFrame) else "refused")
    if isinstance(from_spark, Exception) or isinstance(from_onnx, Exception):
        assert type(from_onnx) is type(from_spark), (from_onnx, from_spark)
        assert str(from_onnx) == str(from_spark)
        return
    assert from_onnx.columns.tolist() == from_spark.columns.tolist() == ["prediction", "probability"]
    assert len(from_onnx) == len(from_spark) == len(frame)
    assert from_onnx["prediction"].tolist() == from_spark["prediction"].tolist()
    for got, want in zip(from_onnx["probability"], from_spark["probability"], strict=True):
        assert all(numbers_agree(g, w) for g, w in zip(got, want, strict=True)), (got, want)
    assert np.asarray(from_onnx["prediction"]).dtype == np.float64
