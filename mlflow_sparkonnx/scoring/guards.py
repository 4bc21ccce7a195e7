"""Inputs Spark refuses or drops, checked before either runtime runs, the same way for both.

An ONNX graph cannot raise, and it cannot drop a row. So what a stage would refuse is recorded
at save time for the raw input columns it reads, and checked on every call:
- unseen categories of a StringIndexer with ``handleInvalid="error"`` or ``"skip"``;
- values outside a Bucketizer's finite outer splits (Spark always raises), and NaN (or null) in
  a column a Bucketizer or VectorAssembler reads when its ``handleInvalid`` is ``error`` (Spark's
  default) or ``skip``;
- feature values a NaiveBayes model refuses (Spark raises and scores nothing): negative or NaN
  for ``multinomial`` and ``complement``, anything but 0 and 1 for ``bernoulli`` (``gaussian``
  refuses nothing). Checked on the raw columns the features are assembled from: a raw vector
  column, or the raw numeric (and vector) columns of the VectorAssembler that makes them. When an
  earlier transforming stage (a scaler, say) makes them, the raw values cannot tell; that is
  logged at save time, and such rows get NaN outputs from the graph (never a label) while Spark
  raises.
- for the ONNX runtime only: a null (NaN) in an integral or boolean column that a stage reads
  differently from NaN (``null_sensitive_inputs``: a Bucketizer with ``keep``, FeatureHasher, ...),
  which the graph would score as NaN; the Spark runtime scores it as Spark does.
``error`` (and out-of-range values): the call fails with ``InvalidInputError`` naming the column,
the row and the value. ``skip``: Spark would drop the row; here its outputs are null (the row is
kept, never lost). ``keep`` needs nothing: the graph does what Spark does.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from mlflow_sparkonnx.contract import Column
from mlflow_sparkonnx.exceptions import InvalidInputError
from mlflow_sparkonnx.scoring.schema import Columns
from mlflow_sparkonnx.sparkml.formula import with_internal_stages

_logger = logging.getLogger(__name__)


def closed_categories(stages: list[Any], inputs: list[Column]) -> dict[str, dict[str, Any]]:
    """``{column: {"handle_invalid": "error"|"skip", "labels": [...]}}`` for raw string inputs."""
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
    return closed


#: How strict a NaN rule is; the strictest stage reading a column wins.
_NAN_STRICTNESS = {"keep": 0, "skip": 1, "error": 2}
#: NaiveBayes model types whose features Spark checks, strictest last (bernoulli: 0 or 1 only).
_NAIVE_BAYES_STRICTNESS = {"multinomial": 1, "complement": 1, "bernoulli": 2}


def numeric_guards(stages: list[Any], inputs: list[Column]) -> dict[str, dict[str, Any]]:
    """``{column: {"low", "high", "nan"[, "naive_bayes"][, "vector"]}}`` for raw inputs stages check.

    Bucketizer: its outer splits bound the column and its ``handleInvalid`` rules NaN.
    VectorAssembler: its ``handleInvalid`` rules NaN (Spark's default, ``error``, refuses it).
    NaiveBayes: ``naive_bayes`` (its model type) rules the values of the raw columns its features
    come from; ``vector`` marks a raw vector column (checked element by element).
    """
    from pyspark.ml.classification import NaiveBayesModel
    from pyspark.ml.feature import Bucketizer, VectorAssembler

    from mlflow_sparkonnx.sparkml.pipeline import stage_columns

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
                _logger.warning(
                    "NaiveBayes (modelType=%r, uid %s) reads '%s', which %s computes: rows that become "
                    "invalid there (%s) cannot be refused before scoring. Spark raises on them; the ONNX "
                    "graph gives them NaN outputs (prediction included), never a label.",
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
        c: {k: float(v) if k in ("low", "high") else v for k, v in e.items()}
        for c, e in guards.items()
        if np.isfinite(e["low"]) or np.isfinite(e["high"]) or e["nan"] != "keep" or "naive_bayes" in e
    }


def null_sensitive_inputs(stages: list[Any], inputs: list[Column]) -> dict[str, str]:
    """``{column: reader}``: numeric inputs some stage reads for which a null is not a NaN.

    A null in a numeric column reaches an ONNX graph as NaN (pandas has one missing value for
    floats), and Spark 4.3 tells them apart in most stages (a Bucketizer with ``keep`` gives null
    for null but its extra bucket for NaN; FeatureHasher, Interaction, OneHotEncoder, a numeric
    StringIndexer and SQL on a double column differ too). Not listed: columns read only by a
    VectorAssembler or a Binarizer (null and NaN give the same result in every mode) or a Bucketizer
    with ``skip`` or ``error`` (both dropped; both refused by ``numeric_guards``), and integral or
    boolean columns a SQLTransformer or a FeatureHasher reads (their graphs read NaN there as null,
    as Spark does: a null adds nothing to the hash).
    ``reader`` names the first stage that tells them apart; a stage whose columns cannot be read
    counts as reading every numeric input.
    """
    from pyspark.ml.feature import Binarizer, Bucketizer, FeatureHasher, SQLTransformer, VectorAssembler

    from mlflow_sparkonnx.sparkml.pipeline import stage_columns

    numeric = {c.name: c.spark_type for c in inputs if c.is_numeric}
    sensitive: dict[str, str] = {}
    for stage in with_internal_stages(stages):
        if isinstance(stage, (VectorAssembler, Binarizer)):
            continue
        if isinstance(stage, Bucketizer) and stage.getHandleInvalid() != "keep":
            continue  # skip drops both; error: numeric_guards refuses both in either runtime
        reader = f"{type(stage).__name__} ({stage.uid})"
        read = stage_columns(stage).inputs
        for name in numeric if read is None else read:
            if name not in numeric or name in sensitive:
                continue
            if isinstance(stage, (SQLTransformer, FeatureHasher)) and numeric[name] not in (
                "float",
                "double",
            ):
                continue  # their graphs read NaN in an integral or boolean column as the null it is
            sensitive[name] = reader
    return sensitive


def nulls_refused_by_onnx(
    inputs: list[Column], null_sensitive: dict[str, str], ranges: dict[str, dict[str, Any]]
) -> dict[str, str]:
    """The integral and boolean columns of ``null_sensitive``: there a NaN means null (both runtimes
    read it so), which the ONNX runtime cannot score as Spark does. Float columns hold NaN as NaN.
    Left out: columns whose NaN ``ranges`` (``numeric_guards``) already refuses or skips, as Spark
    refuses or drops such a row before the stage that would tell null from NaN matters."""
    from mlflow_sparkonnx.contract import INTEGRAL_TYPES

    kinds = {c.name: c.spark_type for c in inputs}
    return {
        column: reader
        for column, reader in null_sensitive.items()
        if (kinds.get(column) in INTEGRAL_TYPES or kinds.get(column) == "boolean")
        and ranges.get(column, {}).get("nan", "keep") == "keep"
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


def naive_bayes_rule(model_type: str) -> str:
    """Why a NaiveBayes of ``model_type`` refuses a value (the same words in every runtime)."""
    if model_type == "bernoulli":
        return "a value other than 0 or 1, which its NaiveBayes (modelType='bernoulli') refuses"
    return (
        f"a negative value or NaN, which its NaiveBayes (modelType='{model_type}') refuses "
        "(Spark requires nonnegative feature values)"
    )


def _naive_bayes_refusals(values: np.ndarray, model_type: str) -> tuple[np.ndarray, str]:
    """Per value, does a NaiveBayes of ``model_type`` refuse it; and why (Spark's rule)."""
    with np.errstate(invalid="ignore"):
        if model_type == "bernoulli":
            refused = (values != 0.0) & (values != 1.0)
        else:
            refused = ~(values >= 0.0)
    return refused, naive_bayes_rule(model_type)


def find_violations(
    frame: Columns, closed: dict[str, dict[str, Any]], ranges: dict[str, dict[str, Any]]
) -> tuple[list[tuple[str, np.ndarray, str]], np.ndarray]:
    """``(refused, skip)``: per refused column its row mask and the reason; the rows to null.

    ``frame`` is a pandas DataFrame or a mapping of column name to a 1-D array (all of one length).
    """
    refused: list[tuple[str, np.ndarray, str]] = []
    skip = np.zeros(_row_count(frame), dtype=bool)
    for column, entry in ranges.items():
        if entry.get("vector"):
            refused.append(_vector_refusals(column, frame[column], entry["naive_bayes"]))
            continue
        values = np.asarray(frame[column], dtype="float64")
        with np.errstate(invalid="ignore"):
            outside = (values < entry["low"]) | (values > entry["high"])
        bounds = f"[{entry['low']}, {entry['high']}]"
        refused.append((column, outside, f"outside its Bucketizer's splits {bounds}, which Spark refuses"))
        missing = np.isnan(values)
        if entry["nan"] == "error":
            refused.append(
                (
                    column,
                    missing,
                    (
                        "a null/NaN, which a stage reading it refuses (handleInvalid='error', Spark's "
                        "default for VectorAssembler and Bucketizer); impute it, or refit that stage with "
                        "handleInvalid='keep'"
                    ),
                )
            )
        elif entry["nan"] == "skip":
            skip |= missing
        if entry.get("naive_bayes"):
            bad, why = _naive_bayes_refusals(values, entry["naive_bayes"])
            if entry["nan"] != "keep":
                bad &= ~missing  # NaN never reaches the NaiveBayes: an earlier stage refuses or drops it
            refused.append((column, bad, why))
    for column, entry in closed.items():
        labels = set(entry["labels"])
        values = np.asarray(frame[column], dtype=object)
        unseen = np.fromiter((value not in labels for value in values), dtype=bool, count=len(values))
        if entry["handle_invalid"] == "error":
            refused.append(
                (
                    column,
                    unseen,
                    (
                        "a category not seen when the pipeline was fitted; its StringIndexer has "
                        "handleInvalid='error' (refit with handleInvalid='keep' to score such rows)"
                    ),
                )
            )
        else:
            skip |= unseen
    return [r for r in refused if r[1].any()], skip


def _vector_refusals(column: str, vectors: Any, model_type: str) -> tuple[str, np.ndarray, str]:
    """``(column, rows, why)`` for a raw vector column a NaiveBayes reads: rows holding a refused element."""
    rows = np.fromiter(
        (_naive_bayes_refusals(np.asarray(v, dtype="float64"), model_type)[0].any() for v in vectors),
        dtype=bool,
        count=len(vectors),
    )
    why = _naive_bayes_refusals(np.zeros(0), model_type)[1]
    return column, rows, f"a vector holding {why}"


def rows_to_skip(
    frame: Columns, closed: dict[str, dict[str, Any]], ranges: dict[str, dict[str, Any]] | None = None
) -> np.ndarray:
    """A boolean mask of rows whose outputs are null; raises ``InvalidInputError`` for refused rows."""
    refused, skip = find_violations(frame, closed, ranges or {})
    if refused:
        column, mask, why = refused[0]
        row = int(np.flatnonzero(mask)[0])
        value = np.asarray(frame[column])[row]
        value = value.item() if hasattr(value, "item") else value  # 120.0, not np.float64(120.0)
        raise InvalidInputError(f"Column '{column}' row {row} holds {value!r}, {why}.")
    return skip


class InputGuards:
    """A model's recorded refusal rules, prepared once at load time and checked on every call.

    ``rows_to_skip`` answers as the function of that name (plus, for the ONNX runtime, the
    ``nulls_refused`` rule, which that function does not know): it first checks the columns
    with the rules precomputed (label sets built once, no range test on unbounded columns, no
    message text); only when a column breaks a rule does it hand over to ``find_violations``,
    which names the column, row and value.
    """

    def __init__(
        self,
        closed: dict[str, dict[str, Any]],
        ranges: dict[str, dict[str, Any]] | None = None,
        nulls_refused: dict[str, str] | None = None,
    ):
        self.closed = closed
        self.ranges = ranges or {}
        #: Integral or boolean columns whose null (NaN here) a stage reads differently from a NaN:
        #: the ONNX runtime cannot tell them apart, so it refuses them (``nulls_refused_by_onnx``).
        self.nulls_refused = nulls_refused or {}
        self._numeric = []  # (column, low, high, bounded, nan rule, naive_bayes model type or None)
        self._nan_refused = []  # columns whose only rule is "no NaN" (a VectorAssembler's default)
        self._vector = any(entry.get("vector") for entry in self.ranges.values())
        for column, entry in self.ranges.items():
            low, high = float(entry["low"]), float(entry["high"])
            bounded = not (low == -np.inf and high == np.inf)  # (-inf, inf) refuses no number
            naive_bayes = entry.get("naive_bayes")
            if not bounded and naive_bayes is None and entry["nan"] == "error":
                self._nan_refused.append(column)
            else:
                self._numeric.append((column, low, high, bounded, entry["nan"], naive_bayes))
        self._closed = [
            (column, frozenset(entry["labels"]), entry["handle_invalid"] == "error")
            for column, entry in closed.items()
        ]

    def rows_to_skip(self, frame: Columns) -> np.ndarray:
        """A boolean mask of rows whose outputs are null; raises ``InvalidInputError`` for refused rows."""
        for column, reader in self.nulls_refused.items():
            missing = np.isnan(np.asarray(frame[column], dtype="float64"))
            if missing.any():
                raise InvalidInputError(
                    f"Column '{column}' row {int(np.flatnonzero(missing)[0])} holds a null, which "
                    f"{reader} reads differently from NaN; the ONNX graph sees NaN and cannot tell "
                    "them apart. Fill the nulls, or score with runtime='spark'."
                )
        if self._vector:  # raw vector columns are checked element by element: the general path
            return rows_to_skip(frame, self.closed, self.ranges)
        n_rows = _row_count(frame)
        if self._nan_refused:  # one NaN test for all of them, not one per column (~3 us each)
            values = [np.asarray(frame[column], dtype="float64") for column in self._nan_refused]
            if np.isnan(np.concatenate(values)).any():
                return rows_to_skip(frame, self.closed, self.ranges)
        skip = None
        for column, low, high, bounded, nan_rule, naive_bayes in self._numeric:
            values = np.asarray(frame[column], dtype="float64")
            if bounded or naive_bayes is not None:  # (errstate costs ~2 us: only where it is needed)
                with np.errstate(invalid="ignore"):
                    if bounded and ((values < low) | (values > high)).any():
                        return rows_to_skip(frame, self.closed, self.ranges)
                    if naive_bayes is not None:
                        bad, _ = _naive_bayes_refusals(values, naive_bayes)
                        if nan_rule != "keep":
                            bad &= ~np.isnan(values)
                        if bad.any():
                            return rows_to_skip(frame, self.closed, self.ranges)
            if nan_rule == "keep":
                continue
            missing = np.isnan(values)
            if missing.any():
                if nan_rule == "error":
                    return rows_to_skip(frame, self.closed, self.ranges)
                skip = missing if skip is None else skip | missing
        for column, labels, refuse in self._closed:
            unseen = [value not in labels for value in frame[column]]
            if any(unseen):
                if refuse:
                    return rows_to_skip(frame, self.closed, self.ranges)
                mask = np.array(unseen, dtype=bool)
                skip = mask if skip is None else skip | mask
        return np.zeros(n_rows, dtype=bool) if skip is None else skip


def _row_count(frame: Columns) -> int:
    if isinstance(frame, pd.DataFrame):
        return len(frame)
    return len(next(iter(frame.values()), ()))
