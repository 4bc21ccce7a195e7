"""Feature selectors: VectorSlicer, ChiSqSelectorModel, UnivariateFeatureSelectorModel,
VarianceThresholdSelectorModel.

Each keeps some features of a vector, in a fixed order: ``Gather`` on axis 1 with the indices
as a scope-unique initializer (onnxmltools names its initializer ``indices_tensor`` for
VectorSlicer and ChiSqSelector alike, so two selectors in one pipeline collide).

- Fitted selectors keep ``selectedFeatures`` in increasing order: Spark sorts them in
  ``transform`` (UnivariateFeatureSelectorModel lists them by score, e.g. ``[0, 2, 1]``).
- VectorSlicer keeps ``indices`` then the features named in ``names``, as Spark does; the
  names are resolved against the input column's ML attributes, read from Spark at conversion.
"""

from __future__ import annotations

import logging
from typing import Any

from pyspark.ml.feature import (
    ChiSqSelectorModel,
    UnivariateFeatureSelectorModel,
    VarianceThresholdSelectorModel,
    VectorSlicer,
)

from mlflow_sparkonnx.convert.converters import ConverterSpec
from mlflow_sparkonnx.convert.converters._graph import (
    INT64,
    as_number_matrix,
    constant,
    node,
    same_float_type,
    width,
)
from mlflow_sparkonnx.convert.converters._metadata import column_metadata, vector_attributes
from mlflow_sparkonnx.exceptions import ConversionError

_logger = logging.getLogger(__name__)


def _slicer_indices(scope: Any, operator: Any) -> list[int]:
    stage = operator.raw_operator
    indices = [int(i) for i in stage.getIndices()]
    names = list(stage.getNames())
    if not names:
        return indices
    variable = operator.inputs[0]
    size = width(variable)
    attributes = vector_attributes(column_metadata(scope, operator, variable), size or 0)
    if attributes is None:
        raise ConversionError(
            f"VectorSlicer {stage.uid} selects by names {names}, but column '{variable.raw_name}' has no "
            "feature names in its Spark metadata"
        )
    by_name = {a.name: i for i, a in enumerate(attributes) if a.name is not None}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ConversionError(
            f"VectorSlicer {stage.uid}: column '{variable.raw_name}' has no features named {unknown}"
        )
    return indices + [by_name[n] for n in names]


def selected_indices(scope: Any, operator: Any) -> list[int]:
    """The input features the stage keeps, in output order."""
    stage = operator.raw_operator
    if isinstance(stage, VectorSlicer):
        return _slicer_indices(scope, operator)
    return sorted(int(i) for i in stage.selectedFeatures)


def convert_selector(scope: Any, operator: Any, container: Any) -> None:
    """``Gather(x, indices, axis=1)``."""
    indices = selected_indices(scope, operator)
    size = width(operator.inputs[0])
    out_of_range = [i for i in indices if i < 0 or (size is not None and i >= size)]
    if out_of_range:
        raise ConversionError(
            f"{type(operator.raw_operator).__name__} {operator.raw_operator.uid} selects features "
            f"{out_of_range}, outside the {size} features of '{operator.inputs[0].raw_name}'"
        )
    variable = operator.inputs[0]
    x = as_number_matrix(scope, container, variable)
    kept = constant(scope, container, "selected_features", INT64, [len(indices)], indices)
    node(scope, container, "Gather", [x, kept], op_version=13, axis=1, output=operator.outputs[0].full_name)


def calculate_selector_shape(operator: Any) -> None:
    """``[N, len(selected)]`` in the input's precision."""
    stage = operator.raw_operator
    if isinstance(stage, VectorSlicer):
        count = len(stage.getIndices()) + len(stage.getNames())
    else:
        count = len(stage.selectedFeatures)
    operator.outputs[0].type = same_float_type(operator.inputs[0], [operator.inputs[0].type.shape[0], count])


def _features_column(stage: Any) -> list[str]:
    return [stage.getFeaturesCol()]


def _input_column(stage: Any) -> list[str]:
    return [stage.getInputCol()]


def _output_column(stage: Any) -> list[str]:
    return [stage.getOutputCol()]


SPECS = [
    ConverterSpec(
        stage_class,
        convert_selector,
        calculate_selector_shape,
        input_columns=inputs,
        output_columns=_output_column,
        replaces_onnxmltools=replaces,
    )
    for stage_class, inputs, replaces in (
        (VectorSlicer, _input_column, True),
        (ChiSqSelectorModel, _features_column, True),
        (UnivariateFeatureSelectorModel, _features_column, False),
        (VarianceThresholdSelectorModel, _features_column, False),
    )
]
