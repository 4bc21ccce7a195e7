"""Spark's ML attribute metadata of a converter's input column (not a converter module).

Some stages read their input column's metadata rather than their own params: IndexToString
without ``labels`` takes the nominal values, Interaction one-hot encodes nominal features,
VectorSlicer resolves ``names``. That metadata is written by upstream stages (StringIndexer,
Bucketizer, VectorAssembler, ...) and exists only on Spark's schema. Here it is asked of
Spark itself: the stages upstream of the column are applied, in pipeline order, to an empty
DataFrame typed like the graph's inputs (a lazy transform: no Spark job runs), and the
column's metadata is read from the resulting schema.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from mlflow_sparkonnx.exceptions import ConversionError

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Attribute:
    """One feature's ML attribute: its kind ("numeric", "nominal", "binary"), name and nominal values."""

    kind: str
    name: str | None = None
    values: tuple[str, ...] | None = None
    num_values: int | None = None

    @property
    def nominal_size(self) -> int | None:
        """Spark's ``NominalAttribute.getNumValues``: the number of values, when known."""
        if self.kind != "nominal":
            return None
        return len(self.values) if self.values is not None else self.num_values


def producer_of(scope: Any, variable: Any) -> Any | None:
    """The operator of ``scope`` that writes ``variable`` (None for a graph input)."""
    for candidate in scope.operators.values():
        if any(out.onnx_name == variable.onnx_name for out in candidate.outputs):
            return candidate
    return None


def _ancestors(scope: Any, operator: Any, variable: Any) -> tuple[list[Any], list[Any]]:
    """The operators upstream of ``variable`` (pipeline order) and the graph inputs they start from."""
    order = {id(op): i for i, op in enumerate(scope.operators.values())}
    found: dict[int, Any] = {}
    roots: dict[str, Any] = {}
    pending = [variable]
    while pending:
        current = pending.pop()
        producer = producer_of(scope, current)
        if producer is None:
            roots[current.onnx_name] = current
        elif id(producer) not in found:
            found[id(producer)] = producer
            pending.extend(producer.inputs)
    return sorted(found.values(), key=lambda op: order[id(op)]), list(roots.values())


def _spark_field(variable: Any) -> Any:
    from onnxmltools.convert.common.data_types import StringTensorType
    from pyspark.ml.linalg import VectorUDT
    from pyspark.sql.types import ArrayType, DoubleType, StringType, StructField

    shape = variable.type.shape
    columns = shape[1] if len(shape) > 1 else 1
    if isinstance(variable.type, StringTensorType):
        data_type = StringType() if columns == 1 else ArrayType(StringType())
        return StructField(variable.raw_name, data_type)
    if columns == 1:
        return StructField(variable.raw_name, DoubleType())
    metadata = {"ml_attr": {"num_attrs": columns}} if isinstance(columns, int) else {}
    return StructField(variable.raw_name, VectorUDT(), metadata=metadata)


def column_metadata(scope: Any, operator: Any, variable: Any) -> dict[str, Any]:
    """Spark's schema metadata of ``variable`` (an input of ``operator``) as the fitted pipeline writes it."""
    field = column_field(scope, operator, variable)
    return {} if field is None else dict(field.metadata)  # a raw input: callers' frames carry none


def column_field(scope: Any, operator: Any, variable: Any) -> Any | None:
    """Spark's schema field (type and metadata) of a computed ``variable``; None for a raw input."""
    from pyspark.sql.types import StructType

    spark = (getattr(operator, "raw_params", None) or {}).get("SparkSession")
    upstream, roots = _ancestors(scope, operator, variable)
    if not upstream:
        return None
    if spark is None:
        raise ConversionError(
            f"{type(operator.raw_operator).__name__} needs the Spark type of column '{variable.raw_name}', "
            "which needs a SparkSession during conversion"
        )
    frame = spark.createDataFrame([], StructType([_spark_field(v) for v in roots]))
    try:
        for stage_operator in upstream:
            frame = stage_operator.raw_operator.transform(frame)
        return frame.schema[variable.raw_name]
    except Exception as exc:
        raise ConversionError(
            f"could not read Spark's schema of column '{variable.raw_name}' for "
            f"{type(operator.raw_operator).__name__}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        ) from exc


def scalar_attribute(metadata: dict[str, Any]) -> Attribute:
    """The attribute of a scalar column (numeric when the metadata says nothing)."""
    attr = metadata.get("ml_attr") or {}
    kind = attr.get("type", "numeric")
    values = tuple(attr["vals"]) if "vals" in attr else None
    return Attribute(kind=kind, name=attr.get("name"), values=values, num_values=attr.get("num_vals"))


def vector_attributes(metadata: dict[str, Any], size: int) -> list[Attribute] | None:
    """Per-feature attributes of a vector column; None when the metadata does not list them."""
    group = metadata.get("ml_attr") or {}
    listed = group.get("attrs")
    if not listed:
        return None
    attributes: list[Attribute] = [Attribute(kind="numeric")] * size
    for kind, entries in listed.items():
        for entry in entries:
            values = tuple(entry["vals"]) if "vals" in entry else None
            attributes[int(entry["idx"])] = Attribute(
                kind=kind, name=entry.get("name"), values=values, num_values=entry.get("num_vals")
            )
    return attributes
