"""Reading a fitted RFormula: the internal pipeline Spark built for it, and the columns it reads.

``RFormula.fit`` builds and fits a JVM ``PipelineModel`` (StringIndexers, Interactions,
OneHotEncoders, a VectorAssembler, and metadata-only stages) that the RFormulaModel runs. The input
rules and the converter read those internal stages as if they were top-level ones.
"""

from __future__ import annotations

from typing import Any

from mlflow_sparkonnx.exceptions import UnsupportedStageError
from mlflow_sparkonnx.sparkml.jvm import java_object
from mlflow_sparkonnx.sparkml.params import param_columns

_FEATURE = "org.apache.spark.ml.feature."
#: Internal stages that compute values: converted with their registered converters.
_CONVERTED = {
    f"{_FEATURE}StringIndexerModel",
    f"{_FEATURE}OneHotEncoderModel",
    f"{_FEATURE}Interaction",
    f"{_FEATURE}VectorAssembler",
}
#: Internal stages that only rename ML attributes or drop temporary columns.
_METADATA_ONLY = {f"{_FEATURE}VectorAttributeRewriter", f"{_FEATURE}ColumnPruner"}


def describe_formula(stage: Any) -> str:
    return f"RFormula '{stage.getFormula()}' (uid {stage.uid})"


def internal_stages(stage: Any) -> list[Any]:
    """The internal stages that compute the features, as pyspark objects, in pipeline order.

    Leaves out the label's StringIndexer and the metadata-only stages; raises
    ``UnsupportedStageError`` for what the graph cannot reproduce (see the module docstring).
    Input validation (unseen categories, NaN with ``handleInvalid="error"``) can read the
    StringIndexers and the VectorAssembler returned here as it reads top-level ones.
    """
    from pyspark.ml.feature import StringIndexerModel
    from pyspark.ml.wrapper import JavaParams

    if stage.getHandleInvalid() == "skip":
        raise UnsupportedStageError(
            f"{describe_formula(stage)} has handleInvalid='skip': Spark drops rows with unseen categories "
            "or NaN, which an ONNX graph cannot; refit with handleInvalid='keep' or 'error'"
        )
    java = java_object(stage, "resolvedFormula, pipelineModel")
    label = str(java.resolvedFormula().label())
    found: list[Any] = []
    for java_stage in java.pipelineModel().stages():
        class_name = java_stage.getClass().getName()
        if class_name in _METADATA_ONLY:
            continue
        if class_name == f"{_FEATURE}VectorSizeHint":
            raise UnsupportedStageError(
                f"{describe_formula(stage)} has a vector-typed term (column "
                f"'{java_stage.getInputCol()}'); vector terms are not converted"
            )
        if class_name not in _CONVERTED:
            raise UnsupportedStageError(
                f"{describe_formula(stage)}: its fitted pipeline holds a {class_name}, which this converter "
                "does not know"
            )
        wrapped = JavaParams._from_java(java_stage)
        is_label_indexer = (
            isinstance(wrapped, StringIndexerModel)
            and param_columns(wrapped, "inputCol") == [label]
            and param_columns(wrapped, "outputCol") == [stage.getLabelCol()]
        )
        if not is_label_indexer:
            found.append(wrapped)
    return found


def feature_input_columns(stage: Any) -> list[str]:
    """The columns the formula's terms read (never the label), in the formula's order.

    Read from the fitted formula itself, so it holds for formulas the graph cannot convert too.
    """
    terms = java_object(stage, "resolvedFormula").resolvedFormula().terms()
    found: list[str] = []
    for i in range(terms.length()):
        term = terms.apply(i)
        for j in range(term.length()):
            column = str(term.apply(j))
            if column not in found:
                found.append(column)
    return found


def with_internal_stages(stages: list[Any]) -> list[Any]:
    """``stages`` with each RFormulaModel replaced by its internal StringIndexers and VectorAssembler.

    Their ``handleInvalid`` rules apply to the raw columns exactly as top-level ones do. An
    RFormulaModel the graph cannot reproduce (``skip``) is kept as it is: it is scored by Spark.
    """
    from pyspark.ml.feature import RFormulaModel

    expanded: list[Any] = []
    for stage in stages:
        if isinstance(stage, RFormulaModel):
            try:
                expanded.extend(internal_stages(stage))
                continue
            except UnsupportedStageError:
                pass
        expanded.append(stage)
    return expanded
