"""RFormulaModel: the fitted formula's internal pipeline, converted stage by stage.

``RFormula.fit`` (Spark 4.x) builds and fits a JVM ``PipelineModel`` that the RFormulaModel runs:
a StringIndexer per string term (with the formula's ``handleInvalid`` and
``stringIndexerOrderType``), an Interaction per ``a:b`` term (over the indexed columns),
OneHotEncoders for the single string terms (``dropLast``, except the first one when the formula
has no intercept), a VectorAssembler into ``featuresCol`` (with the formula's ``handleInvalid``),
a VectorAttributeRewriter (renames the features' ML attributes), a ColumnPruner (drops the
temporary columns) and, for a string label or ``forceIndexLabel``, a StringIndexer of the label.

The graph is those stages converted by the converters registered for them, as OneVsRest composes
its sub-models. The rewriter and the pruner change no values and are left out; so is the label
indexer: Spark's transform skips the label when its column is absent, as it is when scoring, so
the graph reads only the feature columns and writes only ``featuresCol``.

Not convertible (``UnsupportedStageError``, and the flavor serves with Spark):
- ``handleInvalid="skip"``: Spark drops rows with unseen categories or NaN, a graph cannot;
- vector-typed terms (Spark adds a VectorSizeHint for them): not converted or verified here;
- any internal stage of another class (a Spark version that builds the pipeline differently).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pyspark.ml.feature import RFormulaModel

from mlflow_sparkonnx.convert.converters import ConverterSpec
from mlflow_sparkonnx.convert.converters._graph import node
from mlflow_sparkonnx.exceptions import UnsupportedStageError
from mlflow_sparkonnx.sparkml.formula import describe_formula, feature_input_columns, internal_stages

_logger = logging.getLogger(__name__)


def _registered(stage: Any, inner: Any) -> Any:
    """The converter registered for an internal stage."""
    from mlflow_sparkonnx.convert.registration import stage_converter

    try:
        return stage_converter(inner)
    except KeyError:
        raise UnsupportedStageError(
            f"{describe_formula(stage)}: its internal {type(inner).__name__} has no ONNX converter"
        ) from None


def convert_rformula(scope: Any, operator: Any, container: Any) -> None:
    """Convert every internal stage with its registered converter; the assembled vector is the output."""
    stage = operator.raw_operator
    features = stage.getFeaturesCol()
    variables = {variable.raw_name: variable for variable in operator.inputs}
    for inner in internal_stages(stage):
        registered = _registered(stage, inner)
        sub_operator = scope.declare_local_operator(registered.operator_name, inner)
        # Interaction asks Spark for the metadata of its (indexed) inputs: it needs the session.
        sub_operator.raw_params = dict(getattr(operator, "raw_params", None) or {})
        sub_operator.inputs = [variables[c] for c in registered.input_columns(inner)]
        for column in registered.output_columns(inner):
            variable = scope.declare_local_variable(column)
            sub_operator.outputs.append(variable)
            variables[column] = variable
        registered.shape_calculator(sub_operator)
        registered.converter(scope, sub_operator, container)
        sub_operator.is_evaluated = True
    node(
        scope,
        container,
        "Identity",
        [variables[features].full_name],
        op_version=14,
        output=operator.outputs[0].full_name,
    )


def _features_width(operator: Any) -> int | None:
    """The number of features, as Spark's schema has it for an empty frame (no Spark job runs)."""
    from pyspark.sql.types import StructType

    from mlflow_sparkonnx.convert.converters._metadata import _spark_field

    stage = operator.raw_operator
    spark = (getattr(operator, "raw_params", None) or {}).get("SparkSession")
    if spark is None:
        return None
    try:
        frame = spark.createDataFrame([], StructType([_spark_field(v) for v in operator.inputs]))
        metadata = stage.transform(frame).schema[stage.getFeaturesCol()].metadata
        return int(metadata["ml_attr"]["num_attrs"])
    except Exception as exc:  # the width is informative only; the converter builds the same graph
        _logger.debug("%s: features width unknown (%s)", describe_formula(stage), exc)
        return None


@dataclass
class _ShapeOnly:
    """A stand-in for an onnxmltools variable or operator while only shapes are calculated."""

    raw_name: str = ""
    type: Any = None
    onnx_name: str = ""
    raw_operator: Any = None
    raw_params: dict[str, Any] | None = None
    inputs: list[Any] = field(default_factory=list)
    outputs: list[Any] = field(default_factory=list)


def _assembled_type(operator: Any) -> Any:
    """The tensor type the internal stages' shape calculators give the assembled features."""
    variables = {
        v.raw_name: _ShapeOnly(raw_name=v.raw_name, type=v.type, onnx_name=v.onnx_name)
        for v in operator.inputs
    }
    for inner in internal_stages(operator.raw_operator):
        registered = _registered(operator.raw_operator, inner)
        sub_operator = _ShapeOnly(raw_operator=inner, raw_params=getattr(operator, "raw_params", None))
        sub_operator.inputs = [variables[c] for c in registered.input_columns(inner)]
        for column in registered.output_columns(inner):
            variables[column] = _ShapeOnly(raw_name=column, onnx_name=column)
            sub_operator.outputs.append(variables[column])
        registered.shape_calculator(sub_operator)
    return variables[operator.raw_operator.getFeaturesCol()].type


def calculate_rformula_shapes(operator: Any) -> None:
    """The assembled features' type (float or double) ``[N, number of features]``.

    Runs the internal stages' shape calculators, so an unsupported formula fails here, before
    any node is written.
    """
    assembled = _assembled_type(operator)
    width = _features_width(operator) or assembled.shape[1]
    operator.outputs[0].type = type(assembled)([operator.inputs[0].type.shape[0], width])


SPECS = [
    ConverterSpec(
        RFormulaModel,
        convert_rformula,
        calculate_rformula_shapes,
        input_columns=feature_input_columns,
        output_columns=lambda stage: [stage.getFeaturesCol()],
    )
]
