"""Reading a fitted Spark ML pipeline: its stages, the columns they read and write.

Everything here works on pyspark objects but never starts a Spark job.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from mlflow_sparkonnx.sparkml.params import param_value

_logger = logging.getLogger(__name__)

_SINGLE_INPUT_PARAMS = ("inputCol", "featuresCol", "offsetCol", "userCol", "itemCol")  # the last two: ALS
_OUTPUT_PARAMS = (
    "outputCol",
    "predictionCol",
    "rawPredictionCol",
    "probabilityCol",
    "varianceCol",
    "linkPredictionCol",
    "quantilesCol",
    "topicDistributionCol",  # LDA models
)


@dataclass(frozen=True)
class StageColumns:
    """The columns one stage reads and writes; ``inputs is None`` when they cannot be known."""

    inputs: tuple[str, ...] | None
    outputs: tuple[str, ...]


def as_pipeline_model(spark_model: Any) -> Any:
    """Return a flat ``PipelineModel`` for a fitted pipeline, a single stage or a tuning model.

    Nested ``PipelineModel`` stages are flattened; a ``CrossValidatorModel`` or
    ``TrainValidationSplitModel`` is replaced by its ``bestModel`` (and that is logged).
    """
    from pyspark.ml import PipelineModel, Transformer
    from pyspark.ml.tuning import CrossValidatorModel, TrainValidationSplitModel

    if isinstance(spark_model, (CrossValidatorModel, TrainValidationSplitModel)):
        _logger.info(
            "Saving the bestModel of %s (%s).",
            type(spark_model).__name__,
            type(spark_model.bestModel).__name__,
        )
        return as_pipeline_model(spark_model.bestModel)
    if not isinstance(spark_model, Transformer):
        raise TypeError(
            f"spark_model must be a fitted pyspark.ml PipelineModel, Transformer or Model, "
            f"not {type(spark_model).__name__}. Did you pass an unfitted Pipeline or Estimator?"
        )
    return PipelineModel(stages=_flatten(spark_model))


def _flatten(stage: Any) -> list[Any]:
    from pyspark.ml import PipelineModel
    from pyspark.ml.tuning import CrossValidatorModel, TrainValidationSplitModel

    if isinstance(stage, PipelineModel):
        return [leaf for inner in stage.stages for leaf in _flatten(inner)]
    if isinstance(stage, (CrossValidatorModel, TrainValidationSplitModel)):
        return _flatten(stage.bestModel)
    return [stage]


def stage_columns(stage: Any) -> StageColumns:
    """The input and output columns of a stage, read from its params."""
    from pyspark.ml.feature import RFormulaModel, SQLTransformer, VectorSizeHint

    if isinstance(stage, VectorSizeHint):  # it checks its column and rewrites that column's metadata
        return StageColumns(inputs=(stage.getInputCol(),), outputs=(stage.getInputCol(),))
    if isinstance(stage, SQLTransformer):
        # The columns its statement references and the ones it adds; None when it cannot be parsed.
        from mlflow_sparkonnx.sparkml.sql_statement import sql_stage_columns

        sql_inputs, sql_outputs = sql_stage_columns(stage)
        return StageColumns(inputs=sql_inputs, outputs=sql_outputs)
    if isinstance(stage, RFormulaModel):
        # featuresCol is its output here, not an input; the label is read only when present.
        from mlflow_sparkonnx.exceptions import UnsupportedStageError
        from mlflow_sparkonnx.sparkml.formula import feature_input_columns

        outputs = (stage.getFeaturesCol(), stage.getLabelCol())
        try:
            return StageColumns(inputs=tuple(feature_input_columns(stage)), outputs=outputs)
        except UnsupportedStageError:  # the formula is out of reach (Spark Connect): inputs unknown
            return StageColumns(inputs=None, outputs=outputs)
    multi_in = param_value(stage, "inputCols", set_only=True)
    if multi_in:
        inputs: tuple[str, ...] | None = tuple(multi_in)
    else:
        single = [v for v in (param_value(stage, p) for p in _SINGLE_INPUT_PARAMS) if v]
        inputs = tuple(single) if single else None

    outputs = list(param_value(stage, "outputCols", set_only=True) or [])
    for name in _OUTPUT_PARAMS:
        value = param_value(stage, name)
        if value and not (name == "outputCol" and outputs):
            outputs.append(value)
    return StageColumns(inputs=inputs, outputs=tuple(outputs))


def default_output_columns(stages: list[Any]) -> list[str] | None:
    """``prediction`` (+ ``probability``) of the last predictor, else the last stage's outputs
    (an RFormula's features, an LDA model's topic distribution)."""
    from pyspark.ml.feature import RFormulaModel

    if not stages:
        return None
    last = stages[-1]
    if isinstance(last, RFormulaModel):  # its label column exists only when the caller sends the label
        return [last.getFeaturesCol()]
    prediction = param_value(last, "predictionCol")
    if prediction:
        cols = [prediction]
        probability = param_value(last, "probabilityCol")
        if probability:
            cols.append(probability)
        return cols
    outputs = list(stage_columns(last).outputs)
    return outputs or None


def prune_stages(
    stages: list[Any], output_cols: list[str], input_columns: Collection[str] = ()
) -> tuple[list[Any], list[Any]]:
    """Split stages into those needed for ``output_cols`` and those that are not.

    A stage is needed when one of its outputs is needed; its inputs then become needed.
    Stages whose columns cannot be read (SQLTransformer, custom code) are always kept, and
    so is everything before them. A stage with ``handleInvalid="skip"`` is needed too when
    Spark would run it on ``input_columns`` (the caller's columns): its filter drops rows from
    every output. (A stage that raises on a row, ``"error"`` or KMeans on NaN, does so in a
    projection of a column nobody selects, which Spark computes or not depending on the plan:
    such a stage stays dropped.) The exception is a StringIndexer whose output no stage reads,
    the training label's: Spark skips it when its column is absent, as it is when callers score.
    Such label indexers are the typical dropped stages.
    """
    columns = [stage_columns(stage) for stage in stages]
    needed: set[str] | None = set(output_cols) | _row_dropping_outputs(stages, columns, set(input_columns))
    kept_reversed, dropped = [], []
    for stage, cols in zip(reversed(stages), reversed(columns), strict=True):
        if needed is None or cols.inputs is None or needed & set(cols.outputs):
            kept_reversed.append(stage)
            if needed is not None:
                needed = None if cols.inputs is None else needed | set(cols.inputs)
        else:
            dropped.append(stage)
    for stage in dropped:
        _logger.info(
            "Stage %s (%s) is not needed for the outputs %s; it is not run when scoring.",
            stage.uid,
            type(stage).__name__,
            output_cols,
        )
    return list(reversed(kept_reversed)), list(reversed(dropped))


def _row_dropping_outputs(stages: list[Any], columns: list[StageColumns], available: set[str]) -> set[str]:
    """Outputs of the stages that Spark runs on ``available`` columns and that drop rows."""
    from pyspark.ml.feature import StringIndexerModel

    read = {c for cols in columns for c in (cols.inputs or ())}
    dropping: set[str] = set()
    for stage, cols in zip(stages, columns, strict=True):
        if cols.inputs is None or not set(cols.inputs) <= available:
            continue  # Spark could not run it on the caller's columns
        available |= set(cols.outputs)
        label_indexer = isinstance(stage, StringIndexerModel) and not read & set(cols.outputs)
        if drops_rows(stage) and not label_indexer:
            dropping |= set(cols.outputs)
    return dropping


def drops_rows(stage: Any) -> bool:
    """Whether Spark filters rows out in ``stage``: ``handleInvalid="skip"``, or an ALS model's
    ``coldStartStrategy="drop"`` (the rows of unknown users and items)."""
    if stage.hasParam("coldStartStrategy") and stage.getOrDefault("coldStartStrategy") == "drop":
        return True
    return stage.hasParam("handleInvalid") and stage.getOrDefault("handleInvalid") == "skip"


def required_input_columns(stages: list[Any]) -> list[str] | None:
    """Columns the stages read that no earlier stage produces; ``None`` if unknowable."""
    produced: set[str] = set()
    required: list[str] = []
    for stage in stages:
        cols = stage_columns(stage)
        if cols.inputs is None:
            return None
        required.extend(c for c in cols.inputs if c not in produced and c not in required)
        produced.update(cols.outputs)
    return required


def stage_names(stages: list[Any]) -> list[str]:
    """Fully qualified class names of the stages, in order."""
    return [f"{type(s).__module__}.{type(s).__name__}" for s in stages]
