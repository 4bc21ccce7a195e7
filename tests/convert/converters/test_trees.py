"""Tree models: exact parity with Spark in double precision, continuous and categorical splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from parity import assert_onnx_matches_spark, spark_transform
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import DecisionTreeClassifier, GBTClassifier, RandomForestClassifier
from pyspark.ml.feature import OneHotEncoder, StringIndexer, VectorAssembler, VectorIndexer
from pyspark.ml.regression import DecisionTreeRegressor, GBTRegressor, RandomForestRegressor

from mlflow_sparkonnx.convert.converters.tree_ensembles import read_trees

FEATURES = ["x0", "x1", "x2", "x3"]


def continuous_frame(n: int, seed: int) -> pd.DataFrame:
    """Continuous values with signs, zeros and huge values; label from a noisy rule.

    Values are arbitrary doubles (most are not float32 numbers); split thresholds are midpoints
    between them. The graph takes doubles and compares in double, so every row must agree.
    """
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x0": rng.normal(size=n),
            "x1": rng.uniform(-1e6, 1e6, size=n),
            "x2": rng.exponential(size=n) * rng.choice([0.0, 1.0], size=n, p=[0.2, 0.8]),
            "x3": rng.normal(size=n) * 1e-7,
        }
    )
    score = frame.x0 + frame.x1 / 1e6 - frame.x2 + rng.normal(scale=0.3, size=n)
    frame["label"] = (score > 0).astype(float) + (score > 1).astype(float)
    frame["target"] = 3 * frame.x0 - frame.x2 + frame.x1 / 1e5
    return frame


def with_threshold_rows(model, frame: pd.DataFrame) -> pd.DataFrame:
    """Append rows on each split threshold, one double step either side of it, and the float32
    numbers around it. Thresholds or inputs rounded to float32 (as onnxmltools does) send some
    of these rows down the wrong branch.
    """
    thresholds: dict[int, set[float]] = {}
    nodes = read_trees(model)
    for row in np.flatnonzero(~nodes.is_leaf & (nodes.num_categories < 0)):
        thresholds.setdefault(int(nodes.feature[row]), set()).add(nodes.split_values[row][0])
    rows = []
    base = frame.iloc[0]
    for feature, values in sorted(thresholds.items()):
        for value in sorted(values)[:15]:
            nearest = np.float32(value)
            for probe in (
                np.nextafter(nearest, np.float32(-np.inf)),
                nearest,
                np.nextafter(nearest, np.float32(np.inf)),
                np.nextafter(value, -np.inf),
                value,
                np.nextafter(value, np.inf),
            ):
                row = base.copy()
                row[FEATURES[feature]] = float(probe)
                rows.append(row)
    return pd.concat([frame, pd.DataFrame(rows)], ignore_index=True)


# Factories: pyspark estimators need a running SparkContext when constructed.
CONTINUOUS_ESTIMATORS = {
    "DecisionTreeClassifier": lambda: DecisionTreeClassifier(maxDepth=6, seed=1),
    "RandomForestClassifier": lambda: RandomForestClassifier(numTrees=12, maxDepth=6, seed=1),
    "DecisionTreeRegressor": lambda: DecisionTreeRegressor(labelCol="target", maxDepth=6, seed=1),
    "RandomForestRegressor": lambda: RandomForestRegressor(
        labelCol="target", numTrees=12, maxDepth=6, seed=1
    ),
    "GBTRegressor": lambda: GBTRegressor(labelCol="target", maxIter=12, maxDepth=4, seed=1),
}
CATEGORICAL_ESTIMATORS = {
    "DecisionTreeClassifier": lambda: DecisionTreeClassifier(maxDepth=8, seed=4),
    "RandomForestClassifier": lambda: RandomForestClassifier(numTrees=20, maxDepth=8, seed=4),
    "GBTClassifier": lambda: GBTClassifier(maxIter=15, maxDepth=4, seed=4),
}


@pytest.fixture(scope="module")
def train_frame(spark):
    return spark.createDataFrame(continuous_frame(3000, seed=11))


@pytest.mark.parametrize("name", sorted(CONTINUOUS_ESTIMATORS))
def test_continuous_trees_agree_with_spark_including_threshold_rows(spark, tmp_path, train_frame, name):
    assembler = VectorAssembler(inputCols=FEATURES, outputCol="features")
    model = Pipeline(stages=[assembler, CONTINUOUS_ESTIMATORS[name]()]).fit(train_frame)
    frame = with_threshold_rows(model.stages[-1], continuous_frame(300, seed=12))[FEATURES]
    conf = assert_onnx_matches_spark(model, frame, spark, tmp_path, abs_tol=1e-9, rel_tol=1e-9)
    assert conf["parity"]["outputs"]["prediction"]["mismatched_rows"] == 0


def fit_binary_and_compare_exactly(spark, tmp_path, train_frame, classifier, seed: int) -> dict:
    """Fit ``classifier`` on a 0/1 label; all three outputs must match Spark to 1e-9 on threshold rows."""
    data = train_frame.withColumn("label", (train_frame.label > 0).cast("double"))
    model = Pipeline(stages=[VectorAssembler(inputCols=FEATURES, outputCol="features"), classifier]).fit(data)
    frame = with_threshold_rows(model.stages[-1], continuous_frame(300, seed=seed))[FEATURES]
    return assert_onnx_matches_spark(
        model,
        frame,
        spark,
        tmp_path,
        abs_tol=1e-9,
        rel_tol=1e-9,
        output_cols=["prediction", "probability", "rawPrediction"],
    )


def test_binary_gbt_classifier_probability_and_raw_prediction(spark, tmp_path, train_frame):
    gbt = GBTClassifier(maxIter=12, maxDepth=4, seed=3)
    fit_binary_and_compare_exactly(spark, tmp_path, train_frame, gbt, seed=13)


def test_binary_forest_agrees_with_spark_including_threshold_rows(spark, tmp_path, train_frame):
    """A binary forest is scored with one traversal plus an exact second one for near ties."""
    forest = RandomForestClassifier(numTrees=30, maxDepth=6, minInstancesPerNode=15, seed=6)
    conf = fit_binary_and_compare_exactly(spark, tmp_path, train_frame, forest, seed=15)
    assert conf["parity"]["outputs"]["prediction"]["mismatched_rows"] == 0


def _forest_of_single_leaf_trees(spark, class_counts: list[tuple[int, int]]):
    """A RandomForestClassificationModel whose trees are single leaves with these class counts.

    Each tree is a depth-0 DecisionTreeClassifier fitted on rows with exactly those labels; the
    forest is assembled through Spark's own (package-private) constructor.
    """
    from pyspark.ml.classification import RandomForestClassificationModel
    from pyspark.ml.linalg import Vectors

    jvm = spark.sparkContext._jvm
    trees = spark.sparkContext._gateway.new_array(
        jvm.org.apache.spark.ml.classification.DecisionTreeClassificationModel, len(class_counts)
    )
    for position, (zeros, ones) in enumerate(class_counts):
        rows = [(Vectors.dense([float(i)]), 0.0) for i in range(zeros)]
        rows += [(Vectors.dense([float(i)]), 1.0) for i in range(ones)]
        tree = DecisionTreeClassifier(maxDepth=0).fit(spark.createDataFrame(rows, ["features", "label"]))
        trees[position] = tree._java_obj
    java_forest = jvm.org.apache.spark.ml.classification.RandomForestClassificationModel(
        "rf_single_leaves", trees, 1, 2
    )
    forest = RandomForestClassificationModel(java_forest)
    # Its params say 20 trees (the default) unless set: Spark then cannot load what it saved.
    forest.set(forest.numTrees, len(class_counts))
    return forest


def test_binary_forest_tie_rounding_follows_spark(spark, tmp_path):
    """Leaf shares (1/6, 5/6), (1/2, 1/2), (5/6, 1/6): Spark's class-1 sum is one ulp above 1.5,
    so it predicts 1; numTrees minus the class-0 sum is exactly 1.5, a tie that argmax gives to
    0. The graph must score such near ties with the exact class-1 sum, as Spark does.
    """
    forest = _forest_of_single_leaf_trees(spark, [(1, 5), (2, 2), (5, 1)])
    model = PipelineModel(stages=[VectorAssembler(inputCols=["x0"], outputCol="features"), forest])
    frame = pd.DataFrame({"x0": [-1e300, -1.0, 0.0, 0.5, 2.0, 1e300] * 50})
    native = spark_transform(model, spark, frame, ["prediction", "rawPrediction"])
    raw = np.stack(native["rawPrediction"].to_numpy())
    assert (native["prediction"] == 1.0).all() and (raw[:, 1] > raw[:, 0]).all()
    assert (3.0 - raw[:, 0] == raw[:, 0]).all(), "the shortcut alone would call every row a tie"
    conf = assert_onnx_matches_spark(
        model,
        frame,
        spark,
        tmp_path,
        abs_tol=0.0,
        rel_tol=0.0,
        output_cols=["prediction", "probability", "rawPrediction"],
    )
    assert conf["parity"]["outputs"]["prediction"]["mismatched_rows"] == 0


def test_random_forest_thresholds_are_applied(spark, tmp_path, train_frame):
    forest = RandomForestClassifier(numTrees=10, maxDepth=5, seed=2)
    assembler = VectorAssembler(inputCols=FEATURES, outputCol="features")
    model = Pipeline(stages=[assembler, forest]).fit(train_frame)
    frame = continuous_frame(300, seed=14)[FEATURES]
    plain = spark_transform(model, spark, frame, ["prediction"])["prediction"]
    model.stages[-1].setThresholds([0.2, 0.5, 0.3])
    with_thresholds = spark_transform(model, spark, frame, ["prediction"])["prediction"]
    assert (plain != with_thresholds).sum() > 0, "the thresholds must change some labels"
    assert_onnx_matches_spark(model, frame, spark, tmp_path)


@pytest.fixture(scope="module")
def adult_categorical(spark, adult_train):
    return spark.createDataFrame(adult_train)


@pytest.mark.parametrize("name", sorted(CATEGORICAL_ESTIMATORS))
def test_categorical_splits_from_one_hot_encoded_adult(
    spark, tmp_path, adult_categorical, adult_holdout, name
):
    """Spark treats OneHotEncoder's binary attributes as categorical and splits with 'in {0.0}'."""
    cats = ["workclass", "education", "marital_status", "occupation", "sex"]
    stages = [
        StringIndexer(inputCols=cats, outputCols=[f"{c}_i" for c in cats], handleInvalid="keep"),
        OneHotEncoder(
            inputCols=[f"{c}_i" for c in cats], outputCols=[f"{c}_o" for c in cats], handleInvalid="keep"
        ),
        VectorAssembler(inputCols=[f"{c}_o" for c in cats] + ["age", "hours_per_week"], outputCol="features"),
        StringIndexer(inputCol="income", outputCol="label"),
        CATEGORICAL_ESTIMATORS[name](),
    ]
    model = Pipeline(stages=stages).fit(adult_categorical)
    nodes = read_trees(model.stages[-1])
    assert (nodes.num_categories[~nodes.is_leaf] >= 0).any(), "the test needs categorical splits"
    frame = adult_holdout.copy()
    frame.loc[0, "workclass"] = "Never-seen"
    assert_onnx_matches_spark(model, frame, spark, tmp_path)


def test_categorical_splits_from_vector_indexer(spark, tmp_path, adult_categorical, adult_holdout):
    """StringIndexer → VectorAssembler → VectorIndexer → trees: multi-category 'in {…}' splits."""
    cats = ["workclass", "education", "occupation"]
    stages = [
        StringIndexer(inputCols=cats, outputCols=[f"{c}_i" for c in cats]),
        VectorAssembler(inputCols=[f"{c}_i" for c in cats] + ["age", "capital_gain"], outputCol="raw"),
        VectorIndexer(inputCol="raw", outputCol="features", maxCategories=20, handleInvalid="keep"),
        StringIndexer(inputCol="income", outputCol="label"),
        RandomForestClassifier(numTrees=15, maxDepth=8, seed=5, maxBins=32),
    ]
    model = Pipeline(stages=stages).fit(adult_categorical)
    nodes = read_trees(model.stages[-1])
    categorical = np.flatnonzero(~nodes.is_leaf & (nodes.num_categories >= 0))
    assert any(len(nodes.split_values[row]) > 1 for row in categorical), "needs multi-category splits"
    assert_onnx_matches_spark(model, adult_holdout, spark, tmp_path)


def test_single_leaf_tree(spark, tmp_path):
    data = spark.createDataFrame(pd.DataFrame({"x0": [1.0, 2.0, 3.0, 4.0], "target": [5.0] * 4}))
    model = Pipeline(
        stages=[
            VectorAssembler(inputCols=["x0"], outputCol="features"),
            DecisionTreeRegressor(labelCol="target"),
        ]
    ).fit(data)
    assert len(read_trees(model.stages[-1]).tree) == 1
    assert_onnx_matches_spark(model, pd.DataFrame({"x0": [-1e300, 0.0, 2.5, 1e300]}), spark, tmp_path)


def test_vector_indexer_with_error_mode_is_verified_with_a_row_check(spark, tmp_path, adult_categorical):
    """Spark raises on an unseen category under handleInvalid='error': the graph flags those rows (the
    refusals themselves: tests/scoring/test_refused_rows.py)."""
    stages = [
        StringIndexer(inputCol="workclass", outputCol="workclass_i"),
        VectorAssembler(inputCols=["workclass_i", "age"], outputCol="raw"),
        VectorIndexer(inputCol="raw", outputCol="features", maxCategories=20),
        StringIndexer(inputCol="income", outputCol="label"),
        DecisionTreeClassifier(maxDepth=4),
    ]
    model = Pipeline(stages=stages).fit(adult_categorical)
    conf = assert_onnx_matches_spark(model, adult_categorical.limit(300), spark, tmp_path)
    checks = [(c["column"], c["stage"].split()[0]) for c in conf["row_checks"]]
    assert ("raw", "VectorIndexerModel") in checks, checks


def test_categorical_values_outside_the_categories_go_where_spark_sends_them(spark, tmp_path):
    """Spark's CategoricalSplit tests the complement when the left categories are more than half of
    them, so a value outside 0..k-1 (7, -1, 0.5, NaN) goes left there; testing the left set alone
    sends it right. In-range values, -0.0 among them, are compared too."""
    from pyspark.ml.linalg import Vectors

    rng = np.random.default_rng(3)
    n = 2000
    category = rng.integers(0, 3, size=n).astype(float)
    x = rng.normal(size=n)
    label = ((category == 2) ^ (x > 0.5)).astype(float)
    raw = spark.createDataFrame(
        [(Vectors.dense([c, v]), float(y)) for c, v, y in zip(category, x, label, strict=True)],
        ["raw", "label"],
    )
    indexed = VectorIndexer(inputCol="raw", outputCol="features", maxCategories=8).fit(raw).transform(raw)
    forest = RandomForestClassifier(numTrees=12, maxDepth=5, seed=2).fit(indexed)
    nodes = read_trees(forest)
    categorical = np.flatnonzero(~nodes.is_leaf & (nodes.num_categories >= 0))
    assert any(len(nodes.split_values[r]) > nodes.num_categories[r] // 2 for r in categorical), (
        "the test needs a split whose left categories are more than half"
    )
    values = [7.0, -1.0, 0.5, 2.5, 3.0, 1e300, float("nan"), -0.0, 0.0, 1.0, 2.0]
    rows = [(Vectors.dense([c, v]),) for c in values for v in (-1.0, 0.0, 0.6, 2.0)]
    rows += [(Vectors.dense([c, v]),) for c, v in zip(category[:200], x[:200], strict=True)]
    frame = spark.createDataFrame(rows, ["features"])
    assert_onnx_matches_spark(PipelineModel(stages=[forest]), frame, spark, tmp_path)
