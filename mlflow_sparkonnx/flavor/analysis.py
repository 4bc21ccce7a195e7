"""Save-time analysis: which stages run, which columns go in and out, and the ONNX verdict.

``analyse`` does the work ``save_model`` needs before anything is written: it prunes the
pipeline, types the inputs from the example, runs Spark on the parity rows, converts to
ONNX, and verifies the graph against Spark.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlflow_sparkonnx.contract import CategoryRule, Column, NumericRule, OnnxStatus
from mlflow_sparkonnx.convert.to_onnx import ConvertedGraph, convert_pipeline
from mlflow_sparkonnx.convert.verify import ParityReport, verify_parity
from mlflow_sparkonnx.exceptions import (
    ConversionError,
    InvalidInputError,
    ParityMismatchError,
    SparkOnnxError,
    UnsupportedStageError,
)
from mlflow_sparkonnx.flavor.edge_probes import EdgeProbeReport, probe_edges
from mlflow_sparkonnx.flavor.recorded_rules import closed_categories, numeric_guards
from mlflow_sparkonnx.scoring.guards import find_violations, nulls_refused_by_onnx
from mlflow_sparkonnx.scoring.runtimes.onnx_runtime import OnnxRuntime
from mlflow_sparkonnx.scoring.runtimes.spark_runtime import SparkRuntime
from mlflow_sparkonnx.scoring.schema import (
    coerce_inputs,
    columns_from_spark_schema,
    spark_frame_to_pandas,
    to_spark_frame,
)
from mlflow_sparkonnx.sparkml.null_semantics import null_sensitive_inputs, sql_transformer_outputs
from mlflow_sparkonnx.sparkml.pipeline import (
    default_output_columns,
    prune_stages,
    required_input_columns,
    stage_columns,
)

_logger = logging.getLogger(__name__)


@dataclass
class Analysis:
    """Everything save_model records about a pipeline."""

    pipeline: Any
    dropped_stages: list[Any]
    inputs: list[Column]
    outputs: list[Column]
    example: pd.DataFrame
    raw_example: pd.DataFrame
    onnx_status: OnnxStatus
    onnx_reason: str
    graph: ConvertedGraph | None = None
    parity: ParityReport | None = None
    predictions: pd.DataFrame | None = field(default=None, repr=False)
    #: The graph's outputs on the same parity rows (paired with ``predictions``; the report plots them).
    onnx_predictions: pd.DataFrame | None = field(default=None, repr=False)
    closed_categories: dict[str, CategoryRule] = field(default_factory=dict)
    numeric_guards: dict[str, NumericRule] = field(default_factory=dict)
    null_sensitive_inputs: dict[str, str] = field(default_factory=dict)
    #: Columns a SQLTransformer produces (None: a statement that cannot be parsed).
    sql_outputs: tuple[str, ...] | None = ()
    #: Outcomes of the save-time edge probes (None when the graph failed parity or was not built).
    edge_probes: EdgeProbeReport | None = None

    @property
    def default_runtime(self) -> str:
        return "onnx" if self.onnx_status == OnnxStatus.VERIFIED else "spark"


def example_to_frames(input_example: Any, spark: Any, limit: int) -> tuple[pd.DataFrame, list[Column]]:
    """The example's first ``limit`` rows as pandas, and its columns with Spark types."""
    from pyspark.sql import DataFrame as SparkDataFrame

    if isinstance(input_example, SparkDataFrame):
        limited = input_example.limit(limit)
        first = limited.first()
        columns = columns_from_spark_schema(limited.schema, first)
        decimals = [c for c in columns if c.spark_type.startswith("decimal(")]
        if decimals:  # the pyfunc takes numbers as doubles; a DECIMAL input would not round-trip
            raise InvalidInputError(
                f"Input column '{decimals[0].name}' is {decimals[0].spark_type}: cast it to double in the "
                "input example and when scoring (DECIMAL outputs are supported, DECIMAL inputs are not)."
            )
        return spark_frame_to_pandas(limited), columns
    if isinstance(input_example, pd.DataFrame):
        frame = input_example.head(limit).reset_index(drop=True)
        return frame, [_column_from_pandas(frame, name) for name in frame.columns]
    raise TypeError(
        "input_example must be a pandas DataFrame or a Spark DataFrame of raw input rows, "
        f"not {type(input_example).__name__}."
    )


def _column_from_pandas(frame: pd.DataFrame, name: Any) -> Column:
    series = frame[name]
    if not isinstance(name, str):
        raise InvalidInputError(f"Input column names must be strings; got {name!r}.")
    if pd.api.types.is_bool_dtype(series):
        return Column(name, "boolean")
    if pd.api.types.is_integer_dtype(series):
        return Column(name, "bigint")
    if pd.api.types.is_float_dtype(series):
        return Column(name, "double")
    first = next((v for v in series if v is not None), None)
    if isinstance(first, str) or first is None:
        return Column(name, "string")
    if hasattr(first, "toArray"):
        return Column(name, "vector", int(first.size))
    if hasattr(first, "__len__"):
        # An empty list says nothing: the first non-empty row tells strings from numbers.
        sample = next((v for v in series if v is not None and len(v)), first)
        if any(isinstance(x, str) for x in sample):
            return Column(name, "array<string>")
        return Column(name, "vector", len(first))
    raise InvalidInputError(
        f"Input column '{name}' holds {type(first).__name__} values, which have no Spark type here."
    )


def analyse(
    pipeline: Any,
    input_example: Any,
    *,
    output_cols: list[str] | None,
    onnx: str | bool,
    target_opset: int | None,
    parity_rows: int,
    spark: Any,
) -> Analysis:
    """Prune, type, run Spark, convert and verify; never writes anything."""
    stages = list(pipeline.stages)
    chosen_outputs = list(output_cols) if output_cols else default_output_columns(stages)
    if not chosen_outputs:
        raise SparkOnnxError("Cannot tell the pipeline's output columns; pass output_cols=[...].")
    if input_example is None:
        raise SparkOnnxError(
            "input_example is required: a pandas or Spark DataFrame of raw input rows. It types "
            "the model's inputs and supplies the rows the ONNX graph is verified on."
        )
    frame, example_columns = example_to_frames(input_example, spark, parity_rows)
    kept, dropped = prune_stages(stages, chosen_outputs, [c.name for c in example_columns])
    from pyspark.ml import PipelineModel

    pruned = PipelineModel(stages=kept)
    required = required_input_columns(kept)
    if required is None:
        inputs = example_columns
    else:
        by_name = {c.name: c for c in example_columns}
        absent = [name for name in required if name not in by_name]
        if absent:
            raise InvalidInputError(f"input_example lacks the column(s) {absent} that the pipeline reads.")
        # In the example's order, not the stages': the signature (and so spark_udf's positional
        # arguments) follows the caller's data.
        needed = set(required)
        inputs = [c for c in example_columns if c.name in needed]
    coerced = coerce_inputs(frame, inputs)
    closed = closed_categories(kept, inputs)
    ranges = numeric_guards(kept, inputs)
    null_sensitive = null_sensitive_inputs(kept, inputs)
    left_out = _rows_left_out(coerced, closed, ranges, nulls_refused_by_onnx(inputs, null_sensitive, ranges))
    if left_out.any():
        _logger.info(
            "%d input_example rows hold values a stage refuses or drops (unseen categories, values "
            "outside Bucketizer splits, nulls the ONNX runtime refuses); they are left out of the "
            "parity rows.",
            int(left_out.sum()),
        )
        coerced = coerced[~left_out].reset_index(drop=True)
        frame = frame[~left_out].reset_index(drop=True)
    outputs = _output_columns(pruned, coerced, inputs, chosen_outputs, spark)
    spark_runtime = SparkRuntime(pruned, inputs, outputs, spark)
    spark_result = spark_runtime.predict(coerced)
    raw_example = frame[[c.name for c in inputs]]
    analysis = Analysis(
        pruned,
        dropped,
        inputs,
        outputs,
        coerced,
        raw_example,
        OnnxStatus.DISABLED,
        "ONNX conversion disabled (onnx=False)",
        predictions=spark_result,
        closed_categories=closed,
        numeric_guards=ranges,
        null_sensitive_inputs=null_sensitive,
        sql_outputs=sql_transformer_outputs(kept),
    )
    if onnx is False:
        return analysis
    _convert_and_verify(analysis, spark_result, target_opset, spark)
    if onnx == "require" and analysis.onnx_status != OnnxStatus.VERIFIED:
        error = {OnnxStatus.MISMATCH: ParityMismatchError, OnnxStatus.UNSUPPORTED: UnsupportedStageError}.get(
            analysis.onnx_status, ConversionError
        )
        raise error(f"onnx='require' but the ONNX graph is {analysis.onnx_status}: {analysis.onnx_reason}")
    if analysis.onnx_status != OnnxStatus.VERIFIED:
        _logger.warning(
            "Saving native-only (ONNX %s): %s. The model will be served with Spark.",
            analysis.onnx_status,
            analysis.onnx_reason,
        )
    return analysis


#: Dense elements one ONNX batch may hold in its widest intermediate (16 MiB of float32).
_DENSE_ELEMENTS_PER_BATCH = 1 << 22
#: Tokens per document assumed for ``[rows, tokens, size]`` intermediates (Word2Vec).
_TOKENS_PER_ROW = 1024


def onnx_batch_rows(stages: list[Any], model: Any | None = None) -> int:
    """Rows per ONNX run: fewer when the graph holds wide dense rows (``[N, 2^18]`` floats → 16 rows).

    With the final ONNX ``model``, the widths are read from the graph itself, so a dense vector
    the conversion rewrote away (see :mod:`mlflow_sparkonnx.convert.sparse_linear`) no longer
    shrinks the batch; without it, from the stages' parameters (HashingTF/FeatureHasher
    ``numFeatures``, CountVectorizer's vocabulary). Word2Vec's ``[rows, tokens, size]`` floats are
    counted from the stage either way, allowing ~1k tokens per row.
    """
    from mlflow_sparkonnx.scoring.runtimes.onnx_runtime import DEFAULT_BATCH_ROWS

    widths = [1]
    for stage in stages:
        if model is None and stage.hasParam("numFeatures") and stage.isDefined(stage.getParam("numFeatures")):
            widths.append(int(stage.getOrDefault("numFeatures")))
        if model is None and hasattr(stage, "vocabulary"):
            widths.append(len(stage.vocabulary))
        if hasattr(stage, "getVectorSize"):  # Word2Vec: [rows, tokens, size] floats
            widths.append(int(stage.getVectorSize()) * _TOKENS_PER_ROW)
    if model is not None:
        widths.extend(_graph_row_widths(model))
    return max(1, min(DEFAULT_BATCH_ROWS, _DENSE_ELEMENTS_PER_BATCH // max(widths)))


def _graph_row_widths(model: Any) -> list[int]:
    """Elements per row of the graph's tensors whose per-row shape is fixed.

    Two sources: shapes ONNX shape inference knows (``[N, d1, ...]`` with every ``d`` known), and
    ``ConstantOfShape`` fills of ``Concat(Shape(x)[0:1], constants)`` (the converters' dense
    ``[N, width]`` zeros, whose width inference cannot see). Tensors with a data-dependent
    dimension (tokens per row) are not counted.
    """
    import onnx
    from onnx import numpy_helper

    widths = []
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # an unusual graph: the fills below still count
        inferred = model
    graph = inferred.graph
    for info in [*graph.input, *graph.value_info, *graph.output]:
        tensor = info.type.tensor_type
        dims = tensor.shape.dim
        if tensor.elem_type == onnx.TensorProto.STRING or len(dims) < 2:
            continue
        if all(d.HasField("dim_value") and d.dim_value > 0 for d in dims[1:]):
            widths.append(int(np.prod([d.dim_value for d in dims[1:]])))
    constants = {i.name: i for i in model.graph.initializer}
    constants.update(
        {n.output[0]: n.attribute[0].t for n in model.graph.node if n.op_type == "Constant" and n.attribute}
    )
    producers = {out: n for n in model.graph.node for out in n.output}
    for fill in (n for n in model.graph.node if n.op_type == "ConstantOfShape"):
        concat = producers.get(fill.input[0])
        if concat is None or concat.op_type != "Concat" or len(concat.input) < 2:
            continue
        rows, *rest = concat.input
        if rows in constants or any(name not in constants for name in rest):
            continue
        values = [numpy_helper.to_array(constants[name]).reshape(-1) for name in rest]
        widths.append(int(np.prod(np.concatenate(values))))
    return widths


def _rows_left_out(
    frame: pd.DataFrame,
    closed: dict[str, CategoryRule],
    ranges: dict[str, NumericRule],
    nulls_refused: dict[str, str],
) -> Any:
    """Rows a stage refuses or drops, and rows holding a null the ONNX runtime refuses."""
    refused, left_out = find_violations(frame, closed, ranges)
    for _, mask, _ in refused:
        left_out = left_out | mask
    for column in nulls_refused:
        left_out = left_out | np.isnan(frame[column].to_numpy(dtype="float64"))
    return left_out


def _output_columns(
    pipeline: Any, frame: pd.DataFrame, inputs: list[Column], names: list[str], spark: Any
) -> list[Column]:
    transformed = pipeline.transform(to_spark_frame(frame.head(1), inputs, spark))
    available = {f.name for f in transformed.schema.fields}
    unknown = [n for n in names if n not in available]
    if unknown:
        produced = sorted({c for s in pipeline.stages for c in stage_columns(s).outputs})
        raise SparkOnnxError(
            f"output_cols {unknown} are not produced by the pipeline (it produces {produced})."
        )
    return columns_from_spark_schema(transformed.select(*names).schema)


def _convert_and_verify(
    analysis: Analysis, spark_result: pd.DataFrame, target_opset: int | None, spark: Any
) -> None:
    try:
        graph = convert_pipeline(
            analysis.pipeline,
            analysis.inputs,
            [c.name for c in analysis.outputs],
            spark,
            target_opset,
            token_array_outputs=[c.name for c in analysis.outputs if c.spark_type == "array<string>"],
        )
        onnx_runtime = OnnxRuntime(
            graph.model.SerializeToString(),
            analysis.inputs,
            analysis.outputs,
            graph.output_names,
            batch_rows=onnx_batch_rows(analysis.pipeline.stages),  # as MLmodel records it
            row_checks=tuple(graph.row_checks),
            float32_inputs=graph.float32_inputs,
        )
        onnx_result = onnx_runtime.predict(analysis.example)
    except UnsupportedStageError as exc:
        analysis.onnx_status, analysis.onnx_reason = OnnxStatus.UNSUPPORTED, exc.message
        return
    except Exception as exc:  # an invalid graph fails at session creation or at run time
        message = exc.message if isinstance(exc, SparkOnnxError) else f"{type(exc).__name__}: {exc}"
        analysis.onnx_status, analysis.onnx_reason = OnnxStatus.FAILED, message.splitlines()[0][:500]
        return
    analysis.graph = graph
    analysis.onnx_predictions = onnx_result
    analysis.parity = verify_parity(spark_result, onnx_result, analysis.outputs)
    if not analysis.parity.passed:
        analysis.onnx_status, analysis.onnx_reason = OnnxStatus.MISMATCH, analysis.parity.describe_failure()
        return
    rules = (analysis.closed_categories, analysis.numeric_guards, analysis.null_sensitive_inputs)
    try:
        probes = probe_edges(
            analysis.pipeline, analysis.example, analysis.inputs, analysis.outputs, onnx_runtime, rules, spark
        )
    except Exception as exc:  # probing failed: the graph is not verified, the save goes on
        _logger.warning("Edge probes could not run; the graph is not verified.", exc_info=True)
        probes = EdgeProbeReport(0, 0, 0, 0, f"could not run ({type(exc).__name__}: {exc})"[:300])
    analysis.edge_probes = probes
    limited = {*graph.float32_inputs, *probes.range_limited}  # the ONNX runtime's float32-range inputs
    graph.float32_inputs = [c.name for c in analysis.inputs if c.name in limited]
    if probes.divergence:
        analysis.onnx_status = OnnxStatus.MISMATCH
        analysis.onnx_reason = f"edge probes: {probes.divergence}"
    else:
        analysis.onnx_status = OnnxStatus.VERIFIED
        analysis.onnx_reason = (
            f"all outputs agree with Spark on {analysis.parity.rows} rows and {probes.rows} edge probes"
        )
