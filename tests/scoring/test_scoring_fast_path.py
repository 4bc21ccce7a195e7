"""The per-request fast path (small frames, prepared input guards) answers exactly as the general path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlflow_sparkonnx.contract import CategoryRule, Column, NumericRule
from mlflow_sparkonnx.exceptions import InvalidInputError
from mlflow_sparkonnx.scoring.guards import InputGuards, rows_to_skip
from mlflow_sparkonnx.scoring.runtimes.base import format_outputs
from mlflow_sparkonnx.scoring.schema import SMALL_FRAME_ROWS, coerce_columns

COLUMNS = [
    Column("i64", "bigint"),
    Column("u8", "int"),
    Column("f32", "double"),
    Column("f64_whole", "bigint"),
    Column("flag", "boolean"),
    Column("obj_numbers", "double"),
    Column("nullable", "bigint"),
    Column("text", "string"),
    Column("category", "string"),
    Column("string_dtype", "string"),
]


def frame_of(n_rows: int) -> pd.DataFrame:
    """Every numeric and string dtype a caller may send, plus an extra column the model ignores."""
    i = np.arange(n_rows)
    return pd.DataFrame(
        {
            "extra": pd.to_datetime(i, unit="D"),
            "i64": (i * 7 - 3).astype("int64"),
            "u8": (i % 200).astype("uint8"),
            "f32": (i / 3).astype("float32"),
            "f64_whole": np.where(i % 5 == 0, np.nan, i * 1.0),
            "flag": i % 2 == 0,
            "obj_numbers": pd.Series(
                [None if k % 4 == 0 else (k if k % 2 else k + 0.5) for k in i], dtype=object
            ),
            "nullable": pd.array([None if k % 3 == 0 else int(k) for k in i], dtype="Int64"),
            "text": [f"t{k}" for k in i],
            "category": pd.Categorical([f"c{k % 3}" for k in i]),
            "string_dtype": pd.array([f"s{k}" for k in i], dtype="string"),
        }
    )


@pytest.mark.parametrize("n_rows", [0, 1, 2, SMALL_FRAME_ROWS])
def test_small_frames_coerce_exactly_as_large_ones(n_rows):
    large = frame_of(SMALL_FRAME_ROWS + 10)  # read column by column through pandas
    expected = coerce_columns(large, COLUMNS)
    got = coerce_columns(large.head(n_rows), COLUMNS)  # the small-frame path
    for col in COLUMNS:
        want = expected[col.name][:n_rows]
        assert got[col.name].dtype == want.dtype, col.name
        if want.dtype == object:
            assert list(got[col.name]) == list(want), col.name
        else:
            np.testing.assert_array_equal(got[col.name], want, err_msg=col.name)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("f64_whole", 2.5, r"Column 'f64_whole' \(bigint\) row 0 holds 2.5, which is not a whole number"),
        ("obj_numbers", "forty", r"Column 'obj_numbers' must be numeric \(double\) but row 0 holds str"),
        ("text", None, r"Column 'text' must hold strings but row 0 holds a null"),
    ],
)
def test_small_frames_refuse_bad_values_naming_the_column(column, value, message):
    for n_rows in (1, SMALL_FRAME_ROWS + 1):
        frame = frame_of(n_rows).astype({column: object})
        frame.loc[0, column] = value
        with pytest.raises(InvalidInputError, match=message):
            coerce_columns(frame, COLUMNS)


def test_duplicate_column_labels_take_the_general_path():
    frame = frame_of(1)
    frame.columns = ["i64", *frame.columns[1:]]  # "extra" renamed: two columns called i64
    with pytest.raises(Exception) as small:
        coerce_columns(frame, COLUMNS)
    large = frame_of(SMALL_FRAME_ROWS + 1)
    large.columns = ["i64", *large.columns[1:]]
    with pytest.raises(Exception) as general:
        coerce_columns(large, COLUMNS)
    assert type(small.value) is type(general.value)


_bound = st.sampled_from([-np.inf, 0.0, 1.0, 2.0, 5.0, np.inf])
_range_entry = st.fixed_dictionaries(
    {"low": _bound, "high": _bound, "nan": st.sampled_from(["keep", "skip", "error"])},
    optional={"naive_bayes": st.sampled_from(["multinomial", "complement", "bernoulli"])},
)
_closed_entry = st.fixed_dictionaries(
    {
        "handle_invalid": st.sampled_from(["error", "skip"]),
        "labels": st.lists(st.sampled_from(["x", "y", "z"]), min_size=1, max_size=3, unique=True),
    }
)


@settings(max_examples=300, deadline=None)
@given(
    ranges=st.dictionaries(st.sampled_from(["a", "b"]), _range_entry),
    closed=st.dictionaries(st.sampled_from(["s", "t"]), _closed_entry),
    n_rows=st.integers(0, 4),
    data=st.data(),
)
def test_prepared_guards_answer_as_rows_to_skip(ranges, closed, n_rows, data):
    numbers = st.sampled_from([np.nan, -1.0, 0.0, 0.5, 1.0, 3.0, 7.0])
    columns = {c: np.array(data.draw(st.lists(numbers, min_size=n_rows, max_size=n_rows))) for c in "ab"}
    labels = st.lists(st.sampled_from(["x", "y", "z", "w"]), min_size=n_rows, max_size=n_rows)
    columns |= {c: np.array(data.draw(labels), dtype=object) for c in "st"}

    closed = {column: CategoryRule.from_dict(entry) for column, entry in closed.items()}
    ranges = {column: NumericRule.from_dict(entry) for column, entry in ranges.items()}

    def outcome(check):
        try:
            return "skip", check().tolist()
        except InvalidInputError as exc:
            return "refused", str(exc)

    assert outcome(lambda: InputGuards(closed, ranges).rows_to_skip(columns)) == outcome(
        lambda: rows_to_skip(columns, closed, ranges)
    )


@pytest.mark.parametrize(
    ("value", "problem"),
    [(None, "a null"), (np.nan, r"a null \(NaN\)"), (pd.NA, "a null"), (7, "int 7"), (b"x", "bytes b'x'")],
)
def test_string_columns_name_the_bad_row_at_any_size(value, problem):
    # Large frames check their string columns in one C pass first: a bad cell must still be named.
    for n_rows in (1, SMALL_FRAME_ROWS + 1, 5000):
        frame = frame_of(n_rows).astype({"text": object})
        frame.loc[n_rows - 1, "text"] = value
        message = rf"Column 'text' must hold strings but row {n_rows - 1} holds {problem}\."
        with pytest.raises(InvalidInputError, match=message):
            coerce_columns(frame, COLUMNS)


@pytest.mark.parametrize("n_rows", [0, 1, 3])
def test_output_frames_equal_the_public_constructors(n_rows):
    outputs = [
        Column("prediction", "double"),
        Column("label", "string"),
        Column("probability", "vector"),
        Column("words", "array<string>"),
    ]
    raw = {
        "prediction": np.arange(n_rows, dtype="int64"),
        "label": np.array([f"l{k}" for k in range(n_rows)], dtype=object),
        "probability": np.linspace(0, 1, 2 * n_rows, dtype="float32").reshape(n_rows, 2),
        "words": [["a", "b"][: k % 3] for k in range(n_rows)],
    }
    expected = pd.DataFrame(
        {
            "prediction": pd.Series(np.arange(n_rows), dtype="float64"),
            "label": pd.Series([f"l{k}" for k in range(n_rows)], dtype=object),
            "probability": pd.Series([[float(x) for x in row] for row in raw["probability"]], dtype=object),
            "words": pd.Series([["a", "b"][: k % 3] for k in range(n_rows)], dtype=object),
        }
    )
    got = format_outputs(raw, outputs, n_rows)
    pd.testing.assert_frame_equal(got, expected)
    assert all(type(cell) is list for cell in got["probability"])
    got.loc[len(got)] = [1.0, "x", [0.0, 1.0], []]  # an ordinary, writable frame
