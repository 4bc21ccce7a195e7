"""Converting a (pruned) PipelineModel to one ONNX graph with onnxmltools."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mlflow_sparkonnx.contract import Column, RowCheck
from mlflow_sparkonnx.convert.converters._graph import spark_input_types
from mlflow_sparkonnx.convert.converters._row_checks import collecting_row_checks
from mlflow_sparkonnx.convert.float32_inputs import float32_inputs
from mlflow_sparkonnx.convert.float32_overflow import add_overflow_checks
from mlflow_sparkonnx.convert.input_types import initial_types
from mlflow_sparkonnx.convert.opset import align_opset
from mlflow_sparkonnx.convert.registration import converter_provider, required_opset
from mlflow_sparkonnx.convert.sparse_linear import sparsify_linear_heads
from mlflow_sparkonnx.convert.token_arrays import open_token_array_edges
from mlflow_sparkonnx.exceptions import ConversionError, SparkOnnxError, UnsupportedStageError
from mlflow_sparkonnx.sparkml.pipeline import stage_columns

_logger = logging.getLogger(__name__)


@dataclass
class ConvertedGraph:
    """The ONNX model, per pyfunc output column the graph output that holds it, its row checks, and
    the inputs it computes with in float32 (see :mod:`mlflow_sparkonnx.convert.float32_inputs`)."""

    model: Any
    output_names: dict[str, str]
    row_checks: list[RowCheck] = field(default_factory=list)
    float32_inputs: list[str] = field(default_factory=list)


def check_supported(stages: list[Any]) -> None:
    """Raise ``UnsupportedStageError`` naming the first stage without a converter."""
    for position, stage in enumerate(stages):
        if converter_provider(stage) is None:
            raise UnsupportedStageError(
                f"stage {position} ({type(stage).__name__}, uid {stage.uid}) has no ONNX converter"
            )


def convert_pipeline(
    pipeline: Any,
    inputs: list[Column],
    output_cols: list[str],
    spark: Any,
    target_opset: int | None = None,
    token_array_outputs: Sequence[str] = (),
) -> ConvertedGraph:
    """Convert ``pipeline`` to ONNX with typed ``inputs`` and exactly ``output_cols`` as outputs.

    ``token_array_outputs``: the output columns that are ``array<string>`` (their rows may differ
    in length; see :mod:`mlflow_sparkonnx.convert.token_arrays`).

    onnxmltools' own printing (coefficient dumps) is captured and logged at DEBUG level.
    """
    from onnxmltools import convert_sparkml

    check_supported(pipeline.stages)
    captured = io.StringIO()
    onnxmltools_logger = logging.getLogger("onnxmltools")
    previous_level = onnxmltools_logger.level
    onnxmltools_logger.setLevel(max(previous_level, logging.WARNING))  # per-tree INFO chatter
    try:
        input_types = {c.name: c.spark_type for c in inputs}  # converters that must tell int from double
        with (
            contextlib.redirect_stdout(captured),
            spark_input_types(input_types),
            collecting_row_checks() as row_checks,
        ):
            model = convert_sparkml(
                pipeline,
                "sparkonnx_pipeline",
                initial_types(inputs),
                target_opset=target_opset,
                spark_session=spark,
            )
            opset = required_opset(pipeline.stages)  # some converters ask by the input columns' types
    except SparkOnnxError:
        raise
    except Exception as exc:
        raise ConversionError(f"onnxmltools failed: {type(exc).__name__}: {exc}") from exc
    finally:
        onnxmltools_logger.setLevel(previous_level)
        if captured.getvalue():
            _logger.debug("onnxmltools printed during conversion:\n%s", captured.getvalue())
    align_opset(model, opset)
    output_names = open_token_array_edges(
        model,
        _select_outputs(model, output_cols, row_checks),
        token_inputs={c.name for c in inputs if c.spark_type == "array<string>"},
        token_outputs=set(token_array_outputs),
    )
    sparsify_linear_heads(model)  # no dense [N, numFeatures] vector before a linear head
    # After the sparse rewrite: the checks read only tensors still in the graph.
    add_overflow_checks(model, [(s, stage_columns(s)) for s in pipeline.stages], row_checks)
    return ConvertedGraph(
        model=model, output_names=output_names, row_checks=row_checks, float32_inputs=float32_inputs(model)
    )


def _select_outputs(model: Any, output_cols: list[str], row_checks: list[RowCheck]) -> dict[str, str]:
    """Make the graph's outputs exactly ``output_cols`` (exposing intermediates if needed), then
    one boolean ``[N]`` output per row check."""
    import onnx

    graph = model.graph
    by_name = {o.name: o for o in graph.output}
    missing = [c for c in output_cols if c not in by_name]
    if missing:
        inferred = onnx.shape_inference.infer_shapes(model)
        known = {v.name: v for v in inferred.graph.value_info}
        for name in missing:
            if name not in known:
                raise ConversionError(f"the ONNX graph does not produce the output column '{name}'")
            by_name[name] = known[name]
    del graph.output[:]
    graph.output.extend(by_name[c] for c in output_cols)
    flag = onnx.TensorProto.BOOL
    graph.output.extend(onnx.helper.make_tensor_value_info(c.output, flag, [None]) for c in row_checks)
    return {c: c for c in output_cols}
