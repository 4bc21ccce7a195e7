"""Property-based: any input frame gets the same answer from both runtimes, or the same documented error.

Frames are generated with hypothesis for the inputs of four of the suite's saved pipelines:
- the Adult LR pipeline (StringIndexer keep → OneHotEncoder → VectorAssembler → LogisticRegression):
  known and unseen categories, empty and unicode strings, ints, NaN, ±inf, huge and tiny floats;
- the random forest and the GBT regressor (VectorAssembler over integer columns → trees): values at
  and next to the trees' split thresholds, NaN, ±inf, -0.0;
- the text pipeline (Tokenizer → HashingTF → LogisticRegression): known and unseen words, upper
  case, runs of whitespace, empty and whitespace-only texts, unicode, nulls, ragged token counts;
and empty frames. Each call must either return equal outputs from the ONNX and the Spark runtime
(numbers within the parity tolerance, labels equal) or raise ``InvalidInputError`` with the same
message from both. Never a crash, never two different answers.
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


def split_thresholds(spark_model) -> list[float]:
    """Every split threshold of the tree ensemble the Spark runtime scores with (where a tree turns)."""
    trees = spark_model.runtime_impl.pipeline.stages[-1].trees
    found: set[float] = set()
    for tree in trees:
        stack = [tree._call_java("rootNode")]
        while stack:
            current = stack.pop()
            if current.getClass().getSimpleName() == "InternalNode":
                found.add(float(current.split().threshold()))
                stack.extend([current.leftChild(), current.rightChild()])
    return sorted(found)


@st.composite
def tree_frames(draw, columns: list[str], thresholds: list[float]) -> pd.DataFrame:
    """Rows of whole numbers on both sides of the trees' thresholds (the inputs are integer columns);
    half the frames also hold odd values (NaN, ±inf, -0.0, huge), which the input rules refuse alike."""
    near = st.sampled_from(thresholds).flatmap(
        lambda t: st.sampled_from([math.floor(t) - 1, math.floor(t), math.ceil(t), math.ceil(t) + 1])
    )
    odd = st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e300])
    cells = st.one_of(near.map(float), odd) if draw(st.booleans()) else near.map(float)
    n = draw(st.integers(min_value=0, max_value=6))
    return pd.DataFrame({c: [draw(cells) for _ in range(n)] for c in columns}, columns=columns)


WORDS = ["spark", "onnx", "mlflow", "model", "serve", "fast", "slow", "jvm", "python", "data"]
texts = st.one_of(
    st.lists(st.sampled_from([*WORDS, "FAST", "Spark", "unseen", "ünïcødé", "東京"]), max_size=8).flatmap(
        lambda words: st.lists(
            st.sampled_from([" ", "  ", "\t", "\n", " \t "]), min_size=len(words), max_size=len(words)
        ).map(lambda gaps: "".join(g + w for g, w in zip(gaps, words, strict=True)))
    ),
    st.sampled_from(["", " ", "\t\n", None]),
    st.text(max_size=20),
)


@st.composite
def text_frames(draw) -> pd.DataFrame:
    n = draw(st.integers(min_value=0, max_value=6))
    return pd.DataFrame({"text": [draw(texts) for _ in range(n)]}, columns=["text"])


def load_both(path: str):
    load = mlflow.pyfunc.load_model
    onnx = load(path, model_config={"runtime": "onnx"}).get_raw_model()
    spark = load(path, model_config={"runtime": "spark"}).get_raw_model()
    assert onnx.runtime == "onnx" and spark.runtime == "spark"
    return onnx, spark


@pytest.fixture(scope="module")
def both_runtimes(saved_models):
    return load_both(saved_models["lr"])


def outcome(model, frame: pd.DataFrame):
    try:
        return model.predict(frame)
    except InvalidInputError as exc:
        return exc


def numbers_agree(got: float, want: float) -> bool:
    if math.isnan(want) or math.isnan(got):
        return math.isnan(want) and math.isnan(got)
    return abs(got - want) <= ABS_TOL + REL_TOL * abs(want)


def assert_one_answer(onnx, spark, frame: pd.DataFrame):
    """The same outputs from both runtimes (within tolerance) or the same refusal; the ONNX outcome."""
    from_onnx, from_spark = outcome(onnx, frame), outcome(spark, frame)
    event("scored" if isinstance(from_spark, pd.DataFrame) else "refused")
    if isinstance(from_spark, Exception) or isinstance(from_onnx, Exception):
        assert type(from_onnx) is type(from_spark), (from_onnx, from_spark)
        assert str(from_onnx) == str(from_spark)
        return from_onnx
    assert from_onnx.columns.tolist() == from_spark.columns.tolist()
    assert len(from_onnx) == len(from_spark) == len(frame)
    for name in from_spark.columns:
        for got, want in zip(from_onnx[name], from_spark[name], strict=True):
            if isinstance(want, list):
                assert len(got) == len(want) and all(map(numbers_agree, got, want)), (name, got, want)
            else:
                assert numbers_agree(got, want), (name, got, want)
    return from_onnx


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=frames())
def test_both_runtimes_give_one_answer(both_runtimes, frame):
    onnx, spark = both_runtimes
    scored = assert_one_answer(onnx, spark, frame)
    if isinstance(scored, pd.DataFrame):
        assert scored.columns.tolist() == ["prediction", "probability"]
        assert np.asarray(scored["prediction"]).dtype == np.float64


@pytest.fixture(scope="module", params=["rf", "gbt"])
def tree_model(request, saved_models):
    onnx, spark = load_both(saved_models[request.param])
    columns = [c for c in NUMBERS if c != "hours_per_week"] if request.param == "gbt" else NUMBERS
    return onnx, spark, columns, split_thresholds(spark)


@pytest.mark.slow
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_trees_give_one_answer_at_their_split_thresholds(tree_model, data):
    onnx, spark, columns, thresholds = tree_model
    assert thresholds, "the trees have splits"
    assert_one_answer(onnx, spark, data.draw(tree_frames(columns, thresholds)))


@pytest.fixture(scope="module")
def text_runtimes(saved_models):
    return load_both(saved_models["text"])


@pytest.mark.slow
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=text_frames())
def test_text_pipeline_gives_one_answer_on_ragged_and_odd_texts(text_runtimes, frame):
    onnx, spark = text_runtimes
    assert_one_answer(onnx, spark, frame)
