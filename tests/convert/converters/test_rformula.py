"""Parity of RFormulaModel (its internal stages converted one by one) with Spark, and what it refuses."""

from __future__ import annotations

import mlflow.pyfunc
import pandas as pd
import pytest
import yaml
from parity import assert_onnx_matches_spark
from pyspark.ml import Pipeline
from pyspark.ml.classification import LogisticRegression, RandomForestClassifier
from pyspark.ml.feature import RFormula
from pyspark.ml.regression import LinearRegression

import mlflow_sparkonnx
from mlflow_sparkonnx.exceptions import InvalidInputError

FEATURES = ["age", "workclass", "education", "sex", "hours_per_week", "capital_gain", "fnlwgt"]

#: (formula, handleInvalid, stringIndexerOrderType, predictor) — one fitted model each.
CASES = {
    "dot_string_label_keep_lr": (
        "income ~ .",
        "keep",
        "frequencyDesc",
        lambda: LogisticRegression(maxIter=20, regParam=0.01),
    ),
    "terms_interactions_keep_forest": (
        "income ~ age + workclass + sex:education + age:hours_per_week",
        "keep",
        "alphabetAsc",
        lambda: RandomForestClassifier(numTrees=5, maxDepth=5, seed=2),
    ),
    "dot_minus_numeric_label_error_linear": (
        "hours_per_week ~ . - fnlwgt - income",
        "error",
        "frequencyAsc",
        lambda: LinearRegression(maxIter=20, regParam=0.1),
    ),
    "no_intercept_error_lr": (
        "income ~ workclass + education:sex + capital_gain - 1",
        "error",
        "alphabetDesc",
        lambda: LogisticRegression(maxIter=20, regParam=0.01),
    ),
}


@pytest.fixture(scope="module")
def train(adult_train) -> pd.DataFrame:
    return adult_train[[*FEATURES, "income"]].head(2000)


@pytest.fixture(scope="module")
def scoring(adult_holdout) -> pd.DataFrame:
    """300 held-out rows, then edge rows: zeros, negatives, large values (all seen categories)."""
    frame = adult_holdout[FEATURES].head(300).reset_index(drop=True)
    edges = pd.DataFrame(
        {
            "age": [0, -5, 1_000_000, 17, 90, 45],
            "workclass": ["Private", "State-gov", "Self-emp-inc", "?", "Local-gov", "Private"],
            "education": ["Bachelors", "HS-grad", "Doctorate", "Preschool", "Masters", "9th"],
            "sex": ["Male", "Female", "Male", "Female", "Male", "Female"],
            "hours_per_week": [0, -40, 99, 1, 10_000_000, 40],
            "capital_gain": [0, -1, 99_999, 10_000_000, 0, 5],
            "fnlwgt": [0, -3, 1_500_000, 12_285, 77_516, 200_000],
        }
    )
    return pd.concat([frame, edges], ignore_index=True)


@pytest.fixture(scope="module")
def scoring_with_unseen(scoring) -> pd.DataFrame:
    """The scoring rows plus categories never seen in training (handleInvalid="keep" maps them)."""
    unseen = scoring.tail(4).copy()
    unseen["workclass"] = ["Martian-gov", "", "private", "State-gov"]
    unseen["education"] = ["Bachelors", "PhD", "", "hs-grad"]
    unseen["sex"] = ["Other", "Male", "", "Female"]
    return pd.concat([scoring, unseen], ignore_index=True)


def _fit(spark, train: pd.DataFrame, case: str):
    formula, handle_invalid, order, predictor = CASES[case]
    rformula = RFormula(formula=formula, handleInvalid=handle_invalid, stringIndexerOrderType=order)
    return Pipeline(stages=[rformula, predictor()]).fit(spark.createDataFrame(train))


@pytest.mark.parametrize("case", list(CASES))
def test_rformula_pipeline_matches_spark(spark, tmp_path, train, scoring, scoring_with_unseen, case):
    formula, handle_invalid, _, _ = CASES[case]
    model = _fit(spark, train, case)
    frame = scoring_with_unseen if handle_invalid == "keep" else scoring
    label = formula.split("~")[0].strip()
    conf = assert_onnx_matches_spark(model, frame.drop(columns=[label], errors="ignore"), spark, tmp_path)

    inputs = [c["name"] for c in conf["inputs"]]
    assert label not in inputs  # scoring needs only the feature columns
    if "- fnlwgt" in formula:
        assert "fnlwgt" not in inputs
    assert conf["stages"][0] == "pyspark.ml.feature.RFormulaModel"
    parity = conf["parity"]
    diffs = {name: out["max_abs_diff"] for name, out in parity["outputs"].items()}
    print(f"{case}: rows={parity['rows']} max_abs_diff={diffs}")
    if handle_invalid == "error":
        # Spark raises on an unseen category; both runtimes must refuse it, naming the column.
        unseen = frame.head(3).drop(columns=[label], errors="ignore").copy()
        unseen.loc[1, "workclass"] = "Martian-gov"
        for runtime in ("onnx", "spark"):
            model = mlflow.pyfunc.load_model(str(tmp_path / "model"), model_config={"runtime": runtime})
            with pytest.raises(InvalidInputError, match="'workclass' row 1 holds 'Martian-gov'"):
                model.get_raw_model().predict(unseen)


def test_handle_invalid_skip_is_reported_unsupported(spark, tmp_path, train, scoring):
    """Spark drops rows with unseen categories under "skip"; the graph cannot, so no graph is kept.

    (A numeric label: with a string label and "skip", Spark's own transform needs the label column.)
    """
    rformula = RFormula(formula="hours_per_week ~ workclass + age", handleInvalid="skip")
    model = Pipeline(stages=[rformula]).fit(spark.createDataFrame(train))
    path = tmp_path / "model"
    mlflow_sparkonnx.save_model(
        model,
        str(path),
        input_example=scoring[["workclass", "age"]].head(20),
        output_cols=["features"],
        onnx="auto",
    )
    conf = yaml.safe_load((path / "MLmodel").read_text())["flavors"]["sparkonnx"]
    assert conf["onnx_status"] == "unsupported"
    assert "handleInvalid='skip'" in conf["onnx_reason"]
    assert conf["onnx_model"] is None
