"""Which stages tell a null from a NaN in the numeric columns they read (Spark 4.3, measured).

An ONNX graph sees one missing value, NaN, where Spark has two; ``save_model`` records the inputs
where that matters (``null_sensitive_inputs``) and ``transform(runtime="onnx")`` sends rows with a
null there to the native pipeline. Also here: the columns a SQLTransformer produces, whose NaN
outputs stand for SQL nulls.
"""

from __future__ import annotations

from typing import Any

from mlflow_sparkonnx.contract import Column
from mlflow_sparkonnx.sparkml.formula import with_internal_stages
from mlflow_sparkonnx.sparkml.pipeline import stage_columns


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


def sql_transformer_outputs(stages: list[Any]) -> tuple[str, ...] | None:
    """The columns the pipeline's SQLTransformers produce; None when a statement cannot be parsed."""
    from pyspark.ml.feature import SQLTransformer

    produced: list[str] = []
    for stage in with_internal_stages(stages):
        if isinstance(stage, SQLTransformer):
            columns = stage_columns(stage)
            if columns.inputs is None:
                return None
            produced.extend(c for c in columns.outputs if c not in produced)
    return tuple(produced)
