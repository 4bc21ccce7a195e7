"""Inputs Spark refuses or drops, checked before either runtime runs, the same way for both.

An ONNX graph cannot raise, and it cannot drop a row. So what a stage would refuse is recorded
at save time for the raw input columns it reads (``flavor.recorded_rules``, kept in the model
contract as ``CategoryRule`` and ``NumericRule``) and checked on every call, here, in two forms
sharing one reason text per rule: on pandas columns (the pyfunc, ``transform``'s Python workers)
and as Spark expressions (``transform(runtime="spark")``, see :func:`spark_refusals`):
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
Rows a stage refuses mid-job on a computed column (a KMeans on a NaN) are flagged inside the ONNX
graph instead (``convert.converters._row_checks``, checked by the ONNX runtime);
:func:`spark_refusal_error` turns Spark's own error for them into the same ``InvalidInputError``.
``error`` (and out-of-range values): the call fails with ``InvalidInputError`` naming the column,
the row and the value. ``skip``: Spark would drop the row; here its outputs are null (the row is
kept, never lost). ``keep`` needs nothing: the graph does what Spark does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from mlflow_sparkonnx.contract import CategoryRule, Column, NumericRule
from mlflow_sparkonnx.exceptions import InvalidInputError
from mlflow_sparkonnx.scoring.schema import Columns

# ---- why a value is refused: one text per rule, for both runtimes --------------------------------

NAN_REFUSED = (
    "a null/NaN, which a stage reading it refuses (handleInvalid='error', Spark's default for "
    "VectorAssembler and Bucketizer); impute it, or refit that stage with handleInvalid='keep'"
)
UNSEEN_CATEGORY = (
    "a category not seen when the pipeline was fitted; its StringIndexer has handleInvalid='error' "
    "(refit with handleInvalid='keep' to score such rows)"
)


def outside_splits(rule: NumericRule) -> str:
    """Why a value outside a Bucketizer's outer splits is refused."""
    return f"outside its Bucketizer's splits [{rule.low}, {rule.high}], which Spark refuses"


def _lower_split_is_positive_zero(rule: NumericRule) -> bool:
    return rule.low == 0.0 and not np.signbit(rule.low)


def outside_bounds(values: np.ndarray, rule: NumericRule) -> np.ndarray:
    """Rows outside a Bucketizer's outer splits, as Spark decides it: its binary search orders -0.0
    below 0.0 (Java's ``Double.compare``), so -0.0 is outside when the lowest split is 0.0.
    Callers hold ``np.errstate(invalid="ignore")`` (NaN compares as outside of nothing)."""
    outside = (values < rule.low) | (values > rule.high)
    if _lower_split_is_positive_zero(rule):
        outside |= (values == 0.0) & np.signbit(values)
    return outside


def naive_bayes_rule(model_type: str) -> str:
    """Why a NaiveBayes of ``model_type`` refuses a value."""
    if model_type == "bernoulli":
        return "a value other than 0 or 1, which its NaiveBayes (modelType='bernoulli') refuses"
    return (
        f"a negative value or NaN, which its NaiveBayes (modelType='{model_type}') refuses "
        "(Spark requires nonnegative feature values)"
    )


def refusal(column: str, row: int, value: Any, why: str) -> InvalidInputError:
    """The error for a refused cell: ``Column 'c' row 3 holds 120.0, <why>.``"""
    value = value.item() if hasattr(value, "item") else value  # 120.0, not np.float64(120.0)
    return InvalidInputError(f"Column '{column}' row {row} holds {value!r}, {why}.")


def unseen_category_error(frame: Columns, columns: list[Column], value: str) -> InvalidInputError:
    """The error for Spark's "Unseen label" failure, naming the string column(s) holding ``value``."""
    for col in columns:
        if col.spark_type == "string":
            hits = np.flatnonzero(np.asarray(frame[col.name], dtype=object) == value)
            if len(hits):
                return refusal(col.name, int(hits[0]), value, UNSEEN_CATEGORY)
    for col in columns:  # a StringIndexer on a numeric column prints the number (NaN for a null)
        if col.is_numeric and (number := _as_number(value)) is not None:
            numbers = np.asarray(frame[col.name], dtype="float64")
            hits = np.flatnonzero(np.isnan(numbers) if np.isnan(number) else numbers == number)
            if len(hits):
                return refusal(col.name, int(hits[0]), numbers[hits[0]], UNSEEN_CATEGORY)
    return InvalidInputError(f"A StringIndexer met {value!r}, {UNSEEN_CATEGORY}.")


def _as_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


#: Spark's own messages for rows a stage refuses mid-job (the ONNX runtime's row checks raise on
#: the same rows): (pattern, the refused value's group or 0).
_SPARK_REFUSALS = (
    (re.compile(r"Unseen label: (.*?)\. To handle unseen labels"), 1),  # StringIndexer
    (re.compile(r"(Negative value|Unseen value): (\S+?)\.? (Input can't|To handle)"), 2),  # OneHotEncoder
    (re.compile(r"Both norms should be greater or equal to 0\.0, found norm1=[^,]+, norm2=[\w.+-]*\w"), 0),
    (re.compile(r"Cosine distance is not defined for zero-length vectors"), 0),  # k-means, cosine
    # A cast to int (ANSI): SQLTransformer, IndexToString, ALS ids; the value shown names its column.
    (
        re.compile(r"\[(CAST_OVERFLOW)\] The value (\S+?)D? of the type \"\w+\" cannot be cast to [^\n]*?\."),
        2,
    ),
    (re.compile(r"\[(DIVIDE_BY_ZERO|CAST_OVERFLOW|ARITHMETIC_OVERFLOW)\][^\n]*?\."), 0),  # SQL (ANSI)
    (  # SQL (ANSI): a string that is not a number of the type
        re.compile(
            r"\[CAST_INVALID_INPUT\] The value '.*?' of the type \"\w+\" cannot be cast to \"\w+\"", re.S
        ),
        0,
    ),
    (re.compile(r"Encountered (NaN|null) while assembling a row with handleInvalid = \"error\""), 0),
    (re.compile(r"VectorIndexer (encountered invalid value) (\S+) on feature index \d+"), 2),
    (re.compile(r"(Unseen index): (\S+) \?\?"), 2),  # IndexToString
    (re.compile(r"(Unseen value) (\S+) in feature [^.]+\. To handle unseen values"), 2),  # TargetEncoder
    (
        re.compile(r"ALS only supports non-Null values in Integer range \w[^:]*?(column) \w+, but got (\S+)"),
        2,
    ),
    (re.compile(r"\[USER_RAISED_EXCEPTION\] (\w+ Ids MUST NOT be Null|null)\b"), 0),  # ALS, a null id
    (re.compile(r"Must have at least 1 non zero entry"), 0),  # MinHashLSH, an all-zero vector
)  # the k-means ones: a NaN element; a zero vector under distanceMeasure="cosine"


def spark_refusal_error(
    exc: BaseException,
    frame: Columns,
    columns: list[Column],
    find_row: Callable[[], tuple[int, BaseException] | None] | None = None,
) -> InvalidInputError | None:
    """``exc`` as an ``InvalidInputError`` when it is Spark refusing a row (else None).

    A StringIndexer's unseen category is named by column and row from the value. For the others,
    a Spark job fails on whichever refused row a task meets first, not the batch's first one, so
    ``find_row()`` (re-scoring parts of the batch) gives the first refused row and its own error;
    the message names that row, and the raw column holding the refused value when one does (a
    OneHotEncoder's index), else quotes Spark's reason.
    """
    found = _refusal_match(exc)
    if found is None:
        return None
    match, value_group = found
    if value_group == 1:
        return unseen_category_error(frame, columns, match.group(1))
    located = find_row() if find_row is not None else None
    row = None
    if located is not None:
        row, exc = located
        match, value_group = _refusal_match(exc) or found
    reason = f"Spark refused it: '{match.group(0).strip()}'"
    if value_group and row is not None:
        column = _column_holding(frame, columns, row, match.group(value_group))
        if column is not None:
            return InvalidInputError(
                f"Column '{column}' row {row} holds {match.group(value_group)}; {reason}."
            )
    where = f"Row {row}" if row is not None else "A row"
    return InvalidInputError(f"{where} holds a value that a stage refuses; {reason}.")


def is_spark_refusal(exc: BaseException) -> bool:
    """Whether ``exc`` is Spark refusing a row (one of the messages above)."""
    return _refusal_match(exc) is not None


def _refusal_match(exc: BaseException) -> tuple[re.Match[str], int] | None:
    """The first of Spark's refusal messages found in ``exc``, with its value group."""
    text = str(exc)
    for pattern, value_group in _SPARK_REFUSALS:
        match = pattern.search(text)
        if match is not None:
            return match, value_group
    return None


def _column_holding(frame: Columns, columns: list[Column], row: int, shown: str) -> str | None:
    """The first numeric input column whose value in ``row`` is the number Spark printed as ``shown``."""
    try:
        target = float(shown)
    except ValueError:
        return None
    for col in columns:
        if col.is_numeric:
            value = float(np.asarray(frame[col.name], dtype="float64")[row])
            if value == target or (np.isnan(target) and np.isnan(value)):
                return col.name
    return None


def nulls_refused_by_onnx(
    inputs: list[Column], null_sensitive: Mapping[str, str], ranges: Mapping[str, NumericRule]
) -> dict[str, str]:
    """The integral and boolean columns of ``null_sensitive``: there a NaN means null (both runtimes
    read it so), which the ONNX runtime cannot score as Spark does. Float columns hold NaN as NaN.
    Left out: columns whose NaN ``ranges`` (``numeric_guards``) already refuses or skips, as Spark
    refuses or drops such a row before the stage that would tell null from NaN matters."""
    integral = {c.name for c in inputs if c.is_integral}
    return {
        column: reader
        for column, reader in null_sensitive.items()
        if column in integral and (column not in ranges or ranges[column].nan == "keep")
    }


# ---- pandas: the pyfunc and the Python workers ----------------------------------------------------


def _naive_bayes_refusals(values: np.ndarray, model_type: str) -> np.ndarray:
    """Per value, does a NaiveBayes of ``model_type`` refuse it (Spark's rule)."""
    with np.errstate(invalid="ignore"):
        if model_type == "bernoulli":
            return (values != 0.0) & (values != 1.0)
        return ~(values >= 0.0)


def find_violations(
    frame: Columns, closed: Mapping[str, CategoryRule], ranges: Mapping[str, NumericRule]
) -> tuple[list[tuple[str, np.ndarray, str]], np.ndarray]:
    """``(refused, skip)``: per refused column its row mask and the reason; the rows to null.

    ``frame`` is a pandas DataFrame or a mapping of column name to a 1-D array (all of one length).
    """
    refused: list[tuple[str, np.ndarray, str]] = []
    skip = np.zeros(_row_count(frame), dtype=bool)
    for column, rule in ranges.items():
        if rule.vector:
            refused.append(_vector_refusals(column, frame[column], rule.naive_bayes or "multinomial"))
            continue
        values = np.asarray(frame[column], dtype="float64")
        with np.errstate(invalid="ignore"):
            refused.append((column, outside_bounds(values, rule), outside_splits(rule)))
        missing = np.isnan(values)
        if rule.nan == "error":
            refused.append((column, missing, NAN_REFUSED))
        elif rule.nan == "skip":
            skip |= missing
        if rule.naive_bayes:
            bad = _naive_bayes_refusals(values, rule.naive_bayes)
            if rule.nan != "keep":
                bad &= ~missing  # NaN never reaches the NaiveBayes: an earlier stage refuses or drops it
            refused.append((column, bad, naive_bayes_rule(rule.naive_bayes)))
    for column, category in closed.items():
        labels = set(category.labels)
        values = np.asarray(frame[column], dtype=object)
        unseen = np.fromiter((value not in labels for value in values), dtype=bool, count=len(values))
        if category.handle_invalid == "error":
            refused.append((column, unseen, UNSEEN_CATEGORY))
        else:
            skip |= unseen
    return [r for r in refused if r[1].any()], skip


def _vector_refusals(column: str, vectors: Any, model_type: str) -> tuple[str, np.ndarray, str]:
    """``(column, rows, why)`` for a raw vector column a NaiveBayes reads: rows holding a refused element."""
    rows = np.fromiter(
        (_naive_bayes_refusals(np.asarray(v, dtype="float64"), model_type).any() for v in vectors),
        dtype=bool,
        count=len(vectors),
    )
    return column, rows, f"a vector holding {naive_bayes_rule(model_type)}"


def rows_to_skip(
    frame: Columns, closed: Mapping[str, CategoryRule], ranges: Mapping[str, NumericRule] | None = None
) -> np.ndarray:
    """A boolean mask of rows whose outputs are null; raises ``InvalidInputError`` for refused rows."""
    refused, skip = find_violations(frame, closed, ranges or {})
    if refused:
        column, mask, why = refused[0]
        row = int(np.flatnonzero(mask)[0])
        raise refusal(column, row, np.asarray(frame[column])[row], why)
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
        closed: Mapping[str, CategoryRule],
        ranges: Mapping[str, NumericRule] | None = None,
        nulls_refused: Mapping[str, str] | None = None,
    ):
        self.closed = closed
        self.ranges = ranges or {}
        #: Integral or boolean columns whose null (NaN here) a stage reads differently from a NaN:
        #: the ONNX runtime cannot tell them apart, so it refuses them (``nulls_refused_by_onnx``).
        self.nulls_refused = nulls_refused or {}
        self._numeric = []  # (column, rule) for rules beyond "no NaN"
        self._nan_refused = []  # columns whose only rule is "no NaN" (a VectorAssembler's default)
        self._vector = any(rule.vector for rule in self.ranges.values())
        for column, rule in self.ranges.items():
            if not rule.bounded and rule.naive_bayes is None and rule.nan == "error":
                self._nan_refused.append(column)
            else:
                self._numeric.append((column, rule))
        self._closed = [
            (column, frozenset(rule.labels), rule.handle_invalid == "error")
            for column, rule in closed.items()
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
        for column, rule in self._numeric:
            values = np.asarray(frame[column], dtype="float64")
            if rule.bounded or rule.naive_bayes is not None:  # (errstate costs ~2 us: only where needed)
                with np.errstate(invalid="ignore"):
                    if rule.bounded and outside_bounds(values, rule).any():
                        return rows_to_skip(frame, self.closed, self.ranges)
                    if rule.naive_bayes is not None:
                        bad = _naive_bayes_refusals(values, rule.naive_bayes)
                        if rule.nan != "keep":
                            bad &= ~np.isnan(values)
                        if bad.any():
                            return rows_to_skip(frame, self.closed, self.ranges)
            if rule.nan == "keep":
                continue
            missing = np.isnan(values)
            if missing.any():
                if rule.nan == "error":
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


# ---- Spark expressions: transform(runtime="spark") -----------------------------------------------


def spark_refusals(
    value: Any, given_type: str, category: CategoryRule | None, rule: NumericRule | None
) -> list[tuple[Any, Any]]:
    """``[(condition, shown value + reason)]``: the rows of Spark column ``value`` that the rules refuse.

    The same rules and reasons as :func:`find_violations`; ``given_type`` is the column's type in
    the scored DataFrame (a vector may come as ``array<double>``). Skip rules are the native
    pipeline's own (it drops the row; ``transform`` keeps it with null outputs).
    """
    from pyspark.sql import functions as F

    checks = []
    if category is not None and category.handle_invalid == "error":
        unseen = ~value.isin(list(category.labels))
        checks.append((unseen, F.concat(F.lit("'"), value, F.lit(f"', {UNSEEN_CATEGORY}"))))
    if rule is not None and rule.vector:
        checks.append(_vector_naive_bayes_check(value, given_type, rule.naive_bayes or "multinomial"))
    elif rule is not None:
        number = value.cast("double")
        missing = value.isNull() | F.isnan(number)
        if rule.bounded:
            outside = (number < rule.low) | (number > rule.high)
            if _lower_split_is_positive_zero(rule):  # SQL says -0.0 = 0.0; its text does not
                outside = outside | ((number == 0.0) & (number.cast("string") == "-0.0"))
            checks.append((outside, F.concat(number.cast("string"), F.lit(f", {outside_splits(rule)}"))))
        if rule.nan == "error":
            checks.append((missing, F.lit(NAN_REFUSED)))
        if rule.naive_bayes:
            refused = _spark_naive_bayes_refusals(number, rule.naive_bayes)
            # NaN (or null, which a VectorAssembler makes NaN) reaches the NaiveBayes only under "keep".
            refused = (missing | refused) if rule.nan == "keep" else (~missing & refused)
            shown = F.coalesce(number.cast("string"), F.lit("null"))
            checks.append((refused, F.concat(shown, F.lit(f", {naive_bayes_rule(rule.naive_bayes)}"))))
    return checks


def _spark_naive_bayes_refusals(number: Any, model_type: str) -> Any:
    """Whether a NaiveBayes of ``model_type`` refuses ``number`` (null for null), as a Spark condition."""
    from pyspark.sql import functions as F

    if model_type == "bernoulli":
        return ~((number == 0.0) | (number == 1.0))
    return (number < 0.0) | F.isnan(number)  # Spark SQL orders NaN above every number


def _vector_naive_bayes_check(value: Any, given_type: str, model_type: str) -> tuple[Any, Any]:
    """A raw vector column a NaiveBayes reads: refuse a row holding an element it refuses."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    elements = value.cast("array<double>") if given_type.startswith("array") else vector_to_array(value)
    bad = F.exists(elements, lambda x: F.coalesce(_spark_naive_bayes_refusals(x, model_type), F.lit(True)))
    shown = F.coalesce(elements.cast("string"), F.lit("null"))
    why = f", a vector holding {naive_bayes_rule(model_type)}"
    return F.coalesce(bad, F.lit(False)), F.concat(shown, F.lit(why))
