"""Save-time: what the pipeline's stages refuse or drop, derived from the fitted stages.

``save_model`` records these rules in the model contract (``closed_categories``,
``numeric_guards``, ``null_sensitive_inputs``); ``scoring.guards`` checks them on every call in
both runtimes. Only this module looks at the stages for them.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from mlflow_sparkonnx.contract import CategoryRule, Column, NumericRule
from mlflow_sparkonnx.sparkml.formula import with_internal_stages
from mlflow_sparkonnx.sparkml.pipeline import stage_columns

_logger = logging.getLogger(__name__)


def closed_categories(stages: list[Any], inputs: list[Column]) -> dict[str, CategoryRule]:
    """The raw string inputs a StringIndexer reads without keeping unseen values, with their rule."""
    from pyspark.ml.feature import StringIndexerModel

    string_inputs = {c.name for c in inputs if c.spark_type == "string"}
    closed: dict[str, dict[str, Any]] = {}
    for stage in with_internal_stages(stages):
        if not isinstance(stage, StringIndexerModel) or stage.getHandleInvalid() == "keep":
            continue
        if stage.isSet(stage.inputCols):
            columns = stage.getInputCols()
        else:
            columns = [stage.getInputCol()]
        for column, labels in zip(columns, stage.labelsArray, strict=True):
            if column not in string_inputs:
                continue
            entry = closed.setdefault(column, {"handle_invalid": "skip", "labels": list(labels)})
            entry["labels"] = [label for label in entry["labels"] if label in set(labels)]
            if stage.getHandleInvalid() == "error":
                entry["handle_invalid"] = "error"
    return {column: CategoryRule.from_dict(entry) for column, entry in closed.items()}


#: How strict a NaN rule is; the strictest stage reading a column wins.
_NAN_STRICTNESS = {"keep": 0, "skip": 1, "error": 2}
#: NaiveBayes model types whose features Spark checks, strictest last (bernoulli: 0 or 1 only).
_NAIVE_BAYES_STRICTNESS = {"multinomial": 1, "complement": 1, "bernoulli": 2}


def numeric_guards(stages: list[Any], inputs: list[Column]) -> dict[str, NumericRule]:
    """The raw numeric (and vector) inputs that stages check, each with its rule (MLmodel ``numeric_guards``).

    Bucketizer: its outer splits bound the column and its ``handleInvalid`` rules NaN.
    VectorAssembler: its ``handleInvalid`` rules NaN (Spark's default, ``error``, refuses it).
    NaiveBayes: ``naive_bayes`` (its model type) rules the values of the raw columns its features
    come from; ``vector`` marks a raw vector column (checked element by element).
    """
    from pyspark.ml.classification import NaiveBayesModel
    from pyspark.ml.feature import Bucketizer, VectorAssembler

    numeric_inputs = {c.name for c in inputs if c.is_numeric}
    vector_inputs = {c.name for c in inputs if c.spark_type == "vector"}
    guards: dict[str, dict[str, Any]] = {}
    producers: dict[str, Any] = {}  # column → the stage that writes it

    def entry_for(column: str) -> dict[str, Any]:
        return guards.setdefault(column, {"low": -np.inf, "high": np.inf, "nan": "keep"})

    def guard(column: str, stage: Any, low: float = -np.inf, high: float = np.inf) -> None:
        if column not in numeric_inputs:
            return
        entry = entry_for(column)
        entry["low"], entry["high"] = max(entry["low"], low), min(entry["high"], high)
        rule = stage.getHandleInvalid()
        if _NAN_STRICTNESS[rule] > _NAN_STRICTNESS[entry["nan"]]:
            entry["nan"] = rule

    def guard_naive_bayes(stage: Any) -> None:
        model_type = stage.getModelType()
        if model_type not in _NAIVE_BAYES_STRICTNESS:
            return  # gaussian: Spark checks nothing
        features = stage.getFeaturesCol()
        producer = producers.get(features)
        if isinstance(producer, VectorAssembler):
            read = list(producer.getInputCols())
        else:
            read = [features]
        raw = set(numeric_inputs) | set(vector_inputs)
        for column in read:
            if column in producers and _safe_for(producers[column], model_type):
                continue
            if column not in raw or column in producers:
                made_by = type(producers[column]).__name__ if column in producers else "an earlier stage"
                _logger.info(
                    "NaiveBayes (modelType=%r, uid %s) reads '%s', which %s computes: rows that become "
                    "invalid there (%s) are refused by the graph's row check (ONNX runtime) and by Spark.",
                    model_type,
                    stage.uid,
                    column,
                    made_by,
                    "a value other than 0 or 1" if model_type == "bernoulli" else "a negative value or NaN",
                )
                continue
            entry = entry_for(column)
            if column in vector_inputs:
                entry["vector"] = True
            current = entry.get("naive_bayes")
            if current is None or _NAIVE_BAYES_STRICTNESS[model_type] > _NAIVE_BAYES_STRICTNESS[current]:
                entry["naive_bayes"] = model_type

    for stage in with_internal_stages(stages):
        if isinstance(stage, Bucketizer):
            if stage.isSet(stage.inputCols):
                pairs = zip(stage.getInputCols(), stage.getSplitsArray(), strict=True)
            else:
                pairs = [(stage.getInputCol(), stage.getSplits())]
            for column, splits in pairs:
                guard(column, stage, float(splits[0]), float(splits[-1]))
        elif isinstance(stage, VectorAssembler):
            for column in stage.getInputCols():
                guard(column, stage)
        elif isinstance(stage, NaiveBayesModel):
            guard_naive_bayes(stage)
        for column in stage_columns(stage).outputs:
            producers[column] = stage
    return {
        column: NumericRule.from_dict(entry)
        for column, entry in guards.items()
        if np.isfinite(entry["low"])
        or np.isfinite(entry["high"])
        or entry["nan"] != "keep"
        or "naive_bayes" in entry
    }


def _safe_for(producer: Any, model_type: str) -> bool:
    """Whether every value ``producer`` writes is one a NaiveBayes of ``model_type`` accepts.

    OneHotEncoder writes 0 and 1; StringIndexer and Bucketizer write indices (0, 1, 2, …), which
    multinomial and complement accept and bernoulli refuses from 2 on.
    """
    from pyspark.ml.feature import Bucketizer, OneHotEncoderModel, StringIndexerModel

    if isinstance(producer, OneHotEncoderModel):
        return True
    return isinstance(producer, (StringIndexerModel, Bucketizer)) and model_type != "bernoulli"
