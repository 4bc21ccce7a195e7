"""Parity of the categorical converters (OneHotEncoder, StringIndexer, VectorAssembler) with Spark."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from adult_data import CATEGORICAL, NUMERIC
from parity import assert_onnx_matches_spark, report_parity
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import RandomForestClassifier
from pyspark.ml.feature import OneHotEncoder, StringIndexer, VectorAssembler

COLORS = ["red", "green", "blue", "cyan", "magenta", "Red", ""]


@pytest.fixture(scope="module")
def index_frame() -> pd.DataFrame:
    """Numeric category indices: i1 in 0..4, i2 in 0..2 (what OneHotEncoder fits on)."""
    rng = np.random.default_rng(11)
    return pd.DataFrame(
        {"i1": rng.integers(0, 5, 300).astype(float), "i2": rng.integers(0, 3, 300).astype(float)}
    )


@pytest.fixture(scope="module")
def invalid_index_frame(index_frame) -> pd.DataFrame:
    """Valid indices plus out-of-range, negative, fractional and huge ones every 7th row."""
    frame = index_frame.copy()
    bad = [5.0, 7.0, -1.0, 1e9, 2.5, -0.5, 4.999]
    for position, row in enumerate(range(0, len(frame), 7)):
        frame.loc[row, "i1"] = bad[position % len(bad)]
        frame.loc[row, "i2"] = bad[(position + 3) % len(bad)]
    return frame


@pytest.mark.parametrize("handle_invalid", ["error", "keep"])
@pytest.mark.parametrize("drop_last", [True, False])
@pytest.mark.parametrize("multi", [True, False])
def test_one_hot_encoder(spark, tmp_path, index_frame, invalid_index_frame, handle_invalid, drop_last, multi):
    if multi:
        encoder = OneHotEncoder(inputCols=["i1", "i2"], outputCols=["o1", "o2"])
        outputs = ["o1", "o2"]
    else:
        encoder = OneHotEncoder(inputCol="i1", outputCol="o1")
        outputs = ["o1"]
    encoder.setHandleInvalid(handle_invalid).setDropLast(drop_last)
    model = PipelineModel(stages=[encoder.fit(spark.createDataFrame(index_frame))])
    frame = invalid_index_frame if handle_invalid == "keep" else index_frame
    report_parity(assert_onnx_matches_spark(model, frame, spark, tmp_path, output_cols=outputs))


@pytest.fixture(scope="module")
def string_frame() -> pd.DataFrame:
    """Two string columns (skewed, with ties, case and empty strings) and numeric columns."""
    rng = np.random.default_rng(5)
    colors = rng.choice(COLORS, 300, p=[0.3, 0.2, 0.15, 0.1, 0.1, 0.1, 0.05])
    shapes = rng.choice(["circle", "square", "triangle", "star"], 300)
    return pd.DataFrame(
        {
            "color": colors,
            "shape": shapes,
            "count": rng.integers(-3, 4, 300),
            "weight": np.round(rng.normal(0, 2, 300), 1),
            "flag": rng.random(300) > 0.5,
            "x": rng.normal(0, 1e3, 300),
            "y": (rng.random(300) > 0.5).astype(float),
        }
    )


@pytest.fixture(scope="module")
def unseen_string_frame(string_frame) -> pd.DataFrame:
    frame = string_frame.copy()
    frame.loc[::9, "color"] = "purple"
    frame.loc[4::11, "shape"] = "hexagon"
    frame.loc[5::13, "count"] = 99
    frame.loc[6::17, "weight"] = 0.123
    return frame


@pytest.mark.parametrize("order", ["frequencyDesc", "frequencyAsc", "alphabetDesc", "alphabetAsc"])
@pytest.mark.parametrize("handle_invalid", ["error", "keep"])
def test_string_indexer(spark, tmp_path, string_frame, unseen_string_frame, order, handle_invalid):
    indexer = StringIndexer(
        inputCols=["color", "shape"],
        outputCols=["color_idx", "shape_idx"],
        stringOrderType=order,
        handleInvalid=handle_invalid,
    )
    model = PipelineModel(stages=[indexer.fit(spark.createDataFrame(string_frame))])
    frame = unseen_string_frame if handle_invalid == "keep" else string_frame
    conf = assert_onnx_matches_spark(
        model, frame[["color", "shape"]], spark, tmp_path, output_cols=["color_idx", "shape_idx"]
    )
    report_parity(conf)


def test_string_indexer_skip_on_seen_values(spark, tmp_path, string_frame):
    """'skip' indexes seen values like the others; Spark drops rows with unseen ones (the graph gives -1)."""
    indexer = StringIndexer(
        inputCols=["color", "shape"], outputCols=["color_idx", "shape_idx"], handleInvalid="skip"
    )
    model = PipelineModel(stages=[indexer.fit(spark.createDataFrame(string_frame))])
    conf = assert_onnx_matches_spark(
        model, string_frame[["color", "shape"]], spark, tmp_path, output_cols=["color_idx", "shape_idx"]
    )
    report_parity(conf)


def test_string_indexer_single_column(spark, tmp_path, string_frame):
    indexer = StringIndexer(inputCol="color", outputCol="color_idx")
    model = PipelineModel(stages=[indexer.fit(spark.createDataFrame(string_frame))])
    report_parity(
        assert_onnx_matches_spark(model, string_frame[["color"]], spark, tmp_path, output_cols=["color_idx"])
    )


@pytest.mark.parametrize("handle_invalid", ["error", "keep"])
def test_string_indexer_numeric_columns(spark, tmp_path, string_frame, unseen_string_frame, handle_invalid):
    """A bigint column is indexed by "1", a double column by "1.0": both read back as numbers."""
    indexer = StringIndexer(
        inputCols=["count", "weight"], outputCols=["count_idx", "weight_idx"], handleInvalid=handle_invalid
    )
    model = PipelineModel(stages=[indexer.fit(spark.createDataFrame(string_frame))])
    frame = unseen_string_frame if handle_invalid == "keep" else string_frame
    conf = assert_onnx_matches_spark(
        model, frame[["count", "weight"]], spark, tmp_path, output_cols=["count_idx", "weight_idx"]
    )
    report_parity(conf)


def test_string_indexer_numeric_labels_match_exactly_in_double(spark, tmp_path):
    """A double one step from a label is unseen in Spark; float32 rounding would call it the label.

    ``halves`` holds float32 numbers (the LabelEncoder path), ``tenths`` numbers float32 cannot
    hold (compared in double).
    """
    halves = [0.5, 2.5, -3.0, 1e6]
    tenths = [0.1, 0.2, 0.3, 1e20 / 3]
    train = pd.DataFrame({"halves": halves * 5, "tenths": tenths * 5})
    indexer = StringIndexer(
        inputCols=["halves", "tenths"], outputCols=["halves_idx", "tenths_idx"], handleInvalid="keep"
    )
    model = PipelineModel(stages=[indexer.fit(spark.createDataFrame(train))])
    probes = {"halves": [], "tenths": []}
    for column, labels in (("halves", halves), ("tenths", tenths)):
        for label in labels:
            probes[column] += [
                label,
                np.nextafter(label, -np.inf),
                np.nextafter(label, np.inf),
                float(np.float32(label)),
                -label,
            ]
        probes[column] += [0.0, float("nan")]
    rows = max(len(v) for v in probes.values())
    frame = pd.DataFrame({c: (v * rows)[:rows] for c, v in probes.items()})
    conf = assert_onnx_matches_spark(model, frame, spark, tmp_path, output_cols=["halves_idx", "tenths_idx"])
    report_parity(conf)


def test_indexed_columns_assembled_with_numbers_into_forest(
    spark, tmp_path, string_frame, unseen_string_frame
):
    """StringIndexer (int64) + bigint + double + bool → VectorAssembler → RandomForest."""
    stages = [
        StringIndexer(
            inputCols=["color", "shape"], outputCols=["color_idx", "shape_idx"], handleInvalid="keep"
        ),
        VectorAssembler(inputCols=["color_idx", "x", "shape_idx", "count", "flag"], outputCol="features"),
        RandomForestClassifier(labelCol="y", numTrees=5, maxDepth=4, seed=2),
    ]
    model = Pipeline(stages=stages).fit(spark.createDataFrame(string_frame))
    frame = unseen_string_frame.drop(columns=["y"])
    report_parity(assert_onnx_matches_spark(model, frame, spark, tmp_path))


def test_assembler_of_vectors_and_scalars(spark, tmp_path, string_frame, unseen_string_frame):
    """One-hot vectors, an int64 index and doubles assembled in one vector (output compared directly)."""
    stages = [
        StringIndexer(
            inputCols=["color", "shape"], outputCols=["color_idx", "shape_idx"], handleInvalid="keep"
        ),
        OneHotEncoder(inputCols=["color_idx"], outputCols=["color_ohe"], handleInvalid="keep"),
        VectorAssembler(inputCols=["x", "color_ohe", "shape_idx", "weight"], outputCol="features"),
    ]
    # Spark's OneHotEncoder refuses to fit on an indexed column with an empty-string label.
    train = string_frame.replace({"color": {"": "none"}})
    model = Pipeline(stages=stages).fit(spark.createDataFrame(train))
    frame = unseen_string_frame.replace({"color": {"": "none"}})[["x", "color", "shape", "weight"]]
    report_parity(assert_onnx_matches_spark(model, frame, spark, tmp_path, output_cols=["features"]))


def test_adult_indexed_forest(spark, tmp_path, adult_train):
    """Adult: StringIndexer (defaults) → VectorAssembler(indices + numeric) → RandomForest, end to end."""
    idx = [f"{c}_idx" for c in CATEGORICAL]
    stages = [
        StringIndexer(inputCols=CATEGORICAL, outputCols=idx),
        VectorAssembler(inputCols=idx + NUMERIC, outputCol="features"),
        StringIndexer(inputCol="income", outputCol="label"),
        RandomForestClassifier(numTrees=10, maxDepth=5, seed=3, maxBins=64),
    ]
    model = Pipeline(stages=stages).fit(spark.createDataFrame(adult_train))
    frame = adult_train.drop(columns=["income"]).head(300)
    report_parity(assert_onnx_matches_spark(model, frame, spark, tmp_path))
