"""The model contract: the ``sparkonnx`` block of a model's MLmodel file as one frozen, typed object.

``save_model`` builds a :class:`ModelContract` and writes it once (:meth:`ModelContract.to_flavor`);
everything that loads, scores, promotes or inspects a saved model reads it once
(:meth:`ModelContract.read`) and passes the object on. Nothing else parses the block. This module
imports nothing from the package: it is the bottom layer.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

FLAVOR_NAME = "sparkonnx"
MLMODEL_FILE = "MLmodel"

NUMERIC_TYPES = frozenset({"tinyint", "smallint", "int", "bigint", "float", "double", "boolean"})
INTEGRAL_TYPES = frozenset({"tinyint", "smallint", "int", "bigint"})
#: The largest magnitude each integral Spark type holds (exclusive upper bound for positives).
INTEGRAL_LIMITS = {"tinyint": 2.0**7, "smallint": 2.0**15, "int": 2.0**31, "bigint": 2.0**63}
_SEQUENCE_TYPES = ("vector", "array<")
#: The Spark type of an LSH model's hashes: one single-element vector per hash table.
HASHES_TYPE = "array<vector>"
#: Fills the short rows of a ragged ``array<string>`` input fed to the ONNX graph: a Unicode
#: noncharacter (reserved for internal use), so the runtime refuses it as a real token.
TOKEN_FILL = "\uffffsparkonnx-fill"
#: Output-name prefix of a graph's string-to-double casts (onnxruntime reads them with ``std::stod``,
#: which follows the process's ``LC_NUMERIC``): the ONNX runtime checks the decimal point first.
PARSED_NUMBER_OUTPUT = "sparkonnx_parsed_number"


def token_count_output(graph_output: str) -> str:
    """The graph output holding each row's real token count for the token-array output given."""
    return f"{graph_output}__count"


class OnnxStatus(str, Enum):
    """What became of the ONNX conversion at save time."""

    VERIFIED = "verified"  # agrees with Spark on every parity row: the graph is kept
    MISMATCH = "mismatch"  # converted, but disagrees with Spark: dropped
    UNSUPPORTED = "unsupported"  # a stage (or a setting of one) has no converter
    FAILED = "failed"  # the converter raised, or onnxruntime refused the graph
    DISABLED = "disabled"  # save_model(onnx=False)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Column:
    """One named column and its Spark type (``size`` is a vector's length, if known).

    ``spark_type`` is Spark's ``simpleString`` (``double``, ``int``, ``string``, ``array<string>``)
    or ``vector`` for ``pyspark.ml.linalg`` vectors.
    """

    name: str
    spark_type: str
    size: int | None = None

    @property
    def is_numeric(self) -> bool:
        """A number: both runtimes give it as a double (a DECIMAL too, as Spark casts it)."""
        return self.spark_type in NUMERIC_TYPES or self.spark_type.startswith("decimal(")

    @property
    def is_integral(self) -> bool:
        """An integral or boolean column: there NaN can only mean a null."""
        return self.spark_type in INTEGRAL_TYPES or self.spark_type == "boolean"

    @property
    def is_sequence(self) -> bool:
        return self.spark_type.startswith(_SEQUENCE_TYPES)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Column:
        return cls(name=data["name"], spark_type=data["spark_type"], size=data.get("size"))


@dataclass(frozen=True)
class CategoryRule:
    """A raw string column read by a StringIndexer that does not keep unseen values."""

    labels: tuple[str, ...]
    handle_invalid: str  # "error": refuse the call; "skip": null outputs for the row

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CategoryRule:
        return cls(labels=tuple(data["labels"]), handle_invalid=data["handle_invalid"])

    def to_dict(self) -> dict[str, Any]:
        return {"handle_invalid": self.handle_invalid, "labels": list(self.labels)}


@dataclass(frozen=True)
class NumericRule:
    """What stages reading a raw numeric (or vector) column refuse (MLmodel ``numeric_guards``).

    ``low``/``high``: a Bucketizer's finite outer splits; ``nan``: the strictest ``handleInvalid``
    of a Bucketizer or VectorAssembler reading it (``keep``, ``skip``, ``error``); ``naive_bayes``:
    the model type of a NaiveBayes whose features come from it; ``vector``: a raw vector column
    (checked element by element).
    """

    low: float = float("-inf")
    high: float = float("inf")
    nan: str = "keep"
    naive_bayes: str | None = None
    vector: bool = False

    @property
    def bounded(self) -> bool:
        return self.low != float("-inf") or self.high != float("inf")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NumericRule:
        return cls(
            low=float(data.get("low", float("-inf"))),
            high=float(data.get("high", float("inf"))),
            nan=data.get("nan", "keep"),
            naive_bayes=data.get("naive_bayes"),
            vector=bool(data.get("vector", False)),
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"low": self.low, "high": self.high, "nan": self.nan}
        if self.naive_bayes:
            data["naive_bayes"] = self.naive_bayes
        if self.vector:
            data["vector"] = True
        return data


@dataclass(frozen=True)
class RowCheck:
    """A graph output flagging rows a stage refuses or drops in Spark (MLmodel ``row_checks``).

    Spark raises on some rows mid-job (a KMeans on a NaN, a OneHotEncoder on an index it never
    saw); a graph cannot, so it computes a boolean per row in ``output`` and the ONNX runtime raises
    ``InvalidInputError`` naming ``column`` (the stage's input, raw or computed) and the row. With
    ``action="drop"`` Spark filters the rows out instead (ALS's ``coldStartStrategy="drop"``): the
    ONNX runtime returns them with null outputs, as the Spark runtime does. With
    ``action="onnx_only"`` Spark scores the row but the graph cannot compute it as Spark does (a
    float32 overflow, a character onnxruntime case-maps otherwise): the ONNX runtime refuses it and
    the Spark runtime scores it.
    """

    output: str
    stage: str  # "KMeansModel (uid KMeans_1a2b)"
    column: str
    why: str
    action: str = "refuse"  # or "drop", "onnx_only"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RowCheck:
        return cls(
            output=data["output"],
            stage=data["stage"],
            column=data["column"],
            why=data["why"],
            action=data.get("action", "refuse"),
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.action == "refuse":  # the models saved before drops were known
            del data["action"]
        return data


@dataclass(frozen=True)
class ModelContract:
    """Everything a saved model records about itself, typed (see ``MLmodel.example``)."""

    inputs: tuple[Column, ...]
    outputs: tuple[Column, ...]
    onnx_status: OnnxStatus
    onnx_reason: str
    native_model: str = "sparkml.zip"
    native_model_sha256: str | None = None
    onnx_model: str | None = None
    onnx_model_sha256: str | None = None
    #: pyfunc output column -> ONNX graph output name (verified models).
    onnx_outputs: dict[str, str] | None = None
    onnx_batch_rows: int | None = None
    stages: tuple[str, ...] = ()
    stage_uids: tuple[str, ...] = ()
    dropped_stages: tuple[str, ...] = ()
    closed_categories: dict[str, CategoryRule] = field(default_factory=dict)
    numeric_guards: dict[str, NumericRule] = field(default_factory=dict)
    #: Numeric inputs a stage reads for which null is not NaN -> that stage; None: not recorded.
    null_sensitive_inputs: dict[str, str] | None = None
    #: Output columns a SQLTransformer produces; None: not recorded (or a statement not parsed).
    sql_outputs: tuple[str, ...] | None = None
    #: Graph outputs flagging rows a stage refuses, checked after every ONNX run.
    row_checks: tuple[RowCheck, ...] = ()
    #: Numeric inputs the graph computes with in float32: the ONNX runtime refuses finite values
    #: beyond float32's range in them (older models: none recorded).
    float32_inputs: tuple[str, ...] = ()
    #: ONNX vs Spark on the parity rows, as recorded (per output: max diffs, mismatched rows).
    parity: dict[str, Any] | None = None
    default_runtime: str = "spark"
    sparkonnx_version: str | None = None
    #: pyspark, onnx, onnxruntime, onnxmltools at save time (None: not installed).
    versions: dict[str, str | None] = field(default_factory=dict)
    #: Keys this version does not know, kept so that a round trip loses nothing.
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def verified(self) -> bool:
        return self.onnx_status is OnnxStatus.VERIFIED and self.onnx_model is not None

    @property
    def pyspark_version(self) -> str | None:
        return self.versions.get("pyspark")

    @property
    def saved_with(self) -> dict[str, str | None]:
        """``{"sparkonnx_version": ..., "pyspark_version": ..., ...}`` as MLmodel records them."""
        return {
            "sparkonnx_version": self.sparkonnx_version,
            **{f"{k}_version": v for k, v in self.versions.items()},
        }

    def describe_status(self) -> str:
        """``"verified (…reason…)"``: the status and its recorded reason, for messages."""
        return f"{self.onnx_status.value}: {self.onnx_reason}" if self.onnx_reason else self.onnx_status.value

    # ---- reading and writing the MLmodel block ----------------------------------------------------

    @classmethod
    def read(cls, model_dir: str | os.PathLike[str]) -> ModelContract:
        """The contract of the model in local directory ``model_dir`` (its MLmodel file, parsed once).

        A model without the flavor gets MLflow's own error (``MlflowException``), as for any flavor.
        """
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C parser: 1-2 ms instead of ~11 ms
        with open(os.path.join(model_dir, MLMODEL_FILE)) as f:
            flavors = (yaml.load(f, Loader=loader) or {}).get("flavors") or {}
        if FLAVOR_NAME not in flavors:
            from mlflow.utils.model_utils import _get_flavor_configuration

            _get_flavor_configuration(model_path=str(model_dir), flavor_name=FLAVOR_NAME)  # raises
        return cls.from_flavor(flavors[FLAVOR_NAME])

    @classmethod
    def from_flavor(cls, block: Mapping[str, Any]) -> ModelContract:
        """The contract from an MLmodel ``sparkonnx`` block (a mapping as YAML gives it)."""
        data = dict(block)
        take = data.pop
        version_keys = [k for k in data if k.endswith("_version") and k != "sparkonnx_version"]
        versions = {key[: -len("_version")]: take(key) for key in version_keys}
        closed = take("closed_categories", None) or {}
        guards = take("numeric_guards", None) or {}
        null_sensitive = take("null_sensitive_inputs", None)
        sql_outputs = take("sql_outputs", None)
        row_checks = take("row_checks", None) or ()
        float32_inputs = take("float32_inputs", None) or ()
        fields = {
            "inputs": tuple(Column.from_dict(c) for c in take("inputs")),
            "outputs": tuple(Column.from_dict(c) for c in take("outputs")),
            "onnx_status": OnnxStatus(take("onnx_status")),
            "onnx_reason": take("onnx_reason", "") or "",
            "native_model": take("native_model", "sparkml.zip"),
            "native_model_sha256": take("native_model_sha256", None),
            "onnx_model": take("onnx_model", None),
            "onnx_model_sha256": take("onnx_model_sha256", None),
            "onnx_outputs": dict(take("onnx_outputs", None) or {}) or None,
            "onnx_batch_rows": take("onnx_batch_rows", None),
            "stages": tuple(take("stages", None) or ()),
            "stage_uids": tuple(take("stage_uids", None) or ()),
            "dropped_stages": tuple(take("dropped_stages", None) or ()),
            "closed_categories": {k: CategoryRule.from_dict(v) for k, v in closed.items()},
            "numeric_guards": {k: NumericRule.from_dict(v) for k, v in guards.items()},
            "null_sensitive_inputs": None if null_sensitive is None else dict(null_sensitive),
            "sql_outputs": None if sql_outputs is None else tuple(sql_outputs),
            "row_checks": tuple(RowCheck.from_dict(c) for c in row_checks),
            "float32_inputs": tuple(float32_inputs),
            "parity": take("parity", None),
            "default_runtime": take("default_runtime", "spark"),
            "sparkonnx_version": take("sparkonnx_version", None),
        }
        return cls(**fields, versions=versions, extra=data)  # data: what is left, kept for the round trip

    def to_flavor(self) -> dict[str, Any]:
        """The MLmodel ``sparkonnx`` block (plain types, YAML-ready)."""
        block: dict[str, Any] = {
            "sparkonnx_version": self.sparkonnx_version,
            **{f"{name}_version": version for name, version in self.versions.items()},
            "native_model": self.native_model,
            "native_model_sha256": self.native_model_sha256,
            "onnx_model": self.onnx_model,
            "onnx_model_sha256": self.onnx_model_sha256,
            "stages": list(self.stages),
            "stage_uids": list(self.stage_uids),
            "dropped_stages": list(self.dropped_stages),
            "inputs": [c.to_dict() for c in self.inputs],
            "closed_categories": {k: v.to_dict() for k, v in self.closed_categories.items()},
            "numeric_guards": {k: v.to_dict() for k, v in self.numeric_guards.items()},
            "null_sensitive_inputs": _dict_or_none(self.null_sensitive_inputs),
            "sql_outputs": None if self.sql_outputs is None else list(self.sql_outputs),
            "outputs": [c.to_dict() for c in self.outputs],
            "onnx_outputs": dict(self.onnx_outputs) if self.onnx_outputs else None,
            "onnx_batch_rows": self.onnx_batch_rows,
            "row_checks": [c.to_dict() for c in self.row_checks],
            "float32_inputs": list(self.float32_inputs),
            "onnx_status": self.onnx_status.value,
            "onnx_reason": self.onnx_reason,
            "parity": self.parity,
            "default_runtime": self.default_runtime,
        }
        block.update(self.extra)
        return block


def _dict_or_none(mapping: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if mapping is None else dict(mapping)
