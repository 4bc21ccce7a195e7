"""Scoring a Spark DataFrame: the native pipeline, or onnxruntime inside the Python workers.

``transform(spark_df, model_uri)`` appends the model's output columns to ``spark_df`` and stays
lazy. ``runtime="spark"`` runs the native ``PipelineModel.transform`` (fully distributed, in the
JVM); ``runtime="onnx"`` runs the verified graph with onnxruntime over Arrow batches in the Python
workers, each worker loading the graph once. Both return the same columns with the same types, the
ones the pyfunc returns: numbers as double, vectors as ``array<double>`` (LSH hashes as
``array<array<double>>``), strings as string.

Input rules are the pyfunc's: rows that a stage would refuse fail the job with an error naming the
column; rows that a stage with ``handleInvalid="skip"`` drops get null outputs, never removed.

Nulls under ``runtime="onnx"``: a null in a numeric column reaches the graph as NaN (pandas has one
missing value for floats), and some stages tell null from NaN (Spark 4.3, measured): a Bucketizer
with ``handleInvalid="keep"`` gives null for null but the extra bucket for NaN; OneHotEncoder null
vs the invalid category; FeatureHasher no feature vs a NaN value; Interaction an error vs NaN; a
StringIndexer on a numeric column an invalid value vs the label "NaN"; SQL on a double column
(``COALESCE``, ``IS NULL``, comparisons). VectorAssembler (every ``handleInvalid``) and Binarizer
(both give 0.0) treat them alike, so does a Bucketizer with ``"skip"`` or ``"error"`` (both rows
dropped; both refused by the input guards), and the SQL and FeatureHasher graphs already read NaN
as null in integral and boolean columns. So rows holding a null in a nullable numeric column that
some other stage reads are scored by the native pipeline and the rest by the graph (a union of the
two); a frame without such columns gets the plain ONNX plan. ``save_model`` records those columns
(``null_sensitive_inputs``, see ``sparkml.null_semantics``); for an older model, finding
them loads the native pipeline once per model on the driver. If the native pipeline cannot be
loaded, every row is scored by the graph and a row holding such a null fails the job instead
(never a silently different result). The worker side lives in ``spark_worker``.

NaN outputs stay NaN: pyspark's Arrow conversion of ``pandas_udf`` results reads NaN as null, so
numbers cross as ``FloatingArray`` (NaN values, a mask for the rows a ``"skip"`` rule drops) and
vectors that cross as lists carry a per-row flag that the JVM uses to turn the masked elements back
into NaN. Outputs a SQLTransformer produces are the exception: its graph writes SQL nulls as NaN,
so there NaN comes back as null (as Spark gives null; a genuine NaN from SQL then reads as null).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Tuple  # noqa: UP035 (pandas_udf reads the hints below; it rejects tuple[...])

import pandas as pd

from mlflow_sparkonnx.artifacts import temporary_dir_until_exit, verify_checksum
from mlflow_sparkonnx.contract import HASHES_TYPE, INTEGRAL_LIMITS, INTEGRAL_TYPES, Column, ModelContract
from mlflow_sparkonnx.exceptions import InvalidInputError
from mlflow_sparkonnx.scoring.guards import spark_refusals
from mlflow_sparkonnx.scoring.schema import not_whole_number
from mlflow_sparkonnx.scoring.spark_worker import (
    WorkerSpec,
    crosses_as_list,
    is_double_output,
    score_arrow_batches,
    score_batches,
)
from mlflow_sparkonnx.sparkml.native_model import load_native_pipeline
from mlflow_sparkonnx.sparkml.null_semantics import null_sensitive_inputs, sql_transformer_outputs
from mlflow_sparkonnx.sparkml.pipeline import drops_rows
from mlflow_sparkonnx.sparkml.session import is_connect_session

_logger = logging.getLogger(__name__)

_ORIGINAL = "__sparkonnx_original"
_SCORED = "__sparkonnx_scored"
_ROW_KEY = "__sparkonnx_row_key"
_PASSES_THROUGH = ("int", "double", "float", "bigint", "smallint", "tinyint", "boolean")

# On the driver: (application or Connect session id, file name) of the graphs already shipped.
_SHIPPED: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class _StageAnalysis:
    """What the driver reads from the native stage list; ``None`` where it could not be loaded."""

    null_sensitive: frozenset[str] | None  # numeric inputs some stage reads for which null is not NaN
    sql_outputs: frozenset[str] | None  # columns a SQLTransformer produces (None: unknown)


# On the driver: per model (graph and native sha256), what the stage list says (see _StageAnalysis).
_ANALYSES: dict[tuple[str, str | None], _StageAnalysis] = {}


def transform(
    spark_df: Any,
    model_uri: str,
    *,
    runtime: str = "auto",
    output_cols: list[str] | None = None,
    dfs_tmpdir: str | None = None,
) -> Any:
    """``spark_df`` with the model's output columns appended (lazy, like ``PipelineModel.transform``).

    ``runtime``: ``"spark"`` (the native pipeline), ``"onnx"`` (onnxruntime in the Python workers;
    needs a verified graph) or ``"auto"`` (onnx when the graph is verified). ``output_cols`` picks
    some of the recorded outputs (default: all). Input columns are matched by name; others pass through.
    Works from classic and Spark Connect sessions; when the native pipeline is needed outside a local
    session it is staged in ``dfs_tmpdir`` (default ``MLFLOW_DFS_TMP``, else ``/tmp/mlflow``), which the
    Spark Connect server or the cluster's executors must be able to read.
    """
    from mlflow.tracking.artifact_utils import _download_artifact_from_uri

    from mlflow_sparkonnx.scoring.runtime_choice import choose_runtime

    local_path = _download_artifact_from_uri(artifact_uri=model_uri)
    contract = ModelContract.read(local_path)
    chosen = choose_runtime(contract, {"runtime": runtime})
    inputs = list(contract.inputs)
    outputs = _pick_outputs(list(contract.outputs), output_cols)
    _check_frame(spark_df, inputs, outputs)
    _logger.info("Scoring a Spark DataFrame with %s using the %s runtime.", model_uri, chosen)

    def load_pipeline() -> Any:
        """The saved pipeline restricted to the stages the outputs need, loadable by executors."""
        return load_native_pipeline(local_path, contract, spark_df.sparkSession, dfs_tmpdir)

    if chosen == "onnx":
        return _transform_onnx(spark_df, local_path, contract, inputs, outputs, load_pipeline)
    return _transform_native(spark_df, contract, inputs, outputs, load_pipeline())


# ---- checks shared by both runtimes ------------------------------------------------------------------


def _pick_outputs(outputs: list[Column], output_cols: list[str] | None) -> list[Column]:
    if output_cols is None:
        return outputs
    by_name = {c.name: c for c in outputs}
    unknown = [name for name in output_cols if name not in by_name]
    if unknown:
        raise InvalidInputError(
            f"output_cols {unknown} are not outputs of this model; it records {list(by_name)}."
        )
    return [by_name[name] for name in output_cols]


def _check_frame(spark_df: Any, inputs: list[Column], outputs: list[Column]) -> None:
    """Missing inputs, types that cannot be scored, and output names already taken, refused up front."""
    from pyspark.ml.linalg import VectorUDT
    from pyspark.sql.types import ArrayType, NumericType, StringType

    fields = {f.name: f.dataType for f in spark_df.schema.fields}
    missing = [c for c in inputs if c.name not in fields]
    if missing:
        described = ", ".join(f"'{c.name}' ({c.spark_type})" for c in missing)
        raise InvalidInputError(f"Missing input column(s): {described}.")
    for col in inputs:
        given = fields[col.name]
        if col.is_numeric:
            ok = isinstance(given, NumericType) or given.simpleString() == "boolean"
        elif col.spark_type == "string":
            ok = isinstance(given, StringType)
        elif col.spark_type == "vector":
            ok = isinstance(given, VectorUDT) or (
                isinstance(given, ArrayType) and isinstance(given.elementType, NumericType)
            )
        else:
            ok = given.simpleString() == col.spark_type
        if not ok:
            raise InvalidInputError(
                f"Column '{col.name}' must be {col.spark_type} but the DataFrame has {given.simpleString()}."
            )
    taken = [c.name for c in outputs if c.name in fields]
    if taken:
        raise InvalidInputError(
            f"The DataFrame already has column(s) {taken} that the model outputs; rename or drop them, "
            "or pick other outputs with output_cols=."
        )


def _output_type(col: Column) -> str:
    """The Spark type of an output column, as the pyfunc returns it."""
    if col.is_numeric:
        return "double"
    if col.spark_type in ("string", "array<string>"):
        return col.spark_type
    if col.spark_type == HASHES_TYPE:  # LSH hashes: one single-element vector per hash table
        return "array<array<double>>"
    return "array<double>"


# ---- runtime="spark": the native pipeline ---------------------------------------------------------


def _transform_native(
    spark_df: Any, contract: ModelContract, inputs: list[Column], outputs: list[Column], pipeline: Any
) -> Any:
    """The native ``pipeline``'s outputs."""
    from pyspark.sql import functions as F

    given = {f.name: f.dataType.simpleString() for f in spark_df.schema.fields}
    feed = [_guarded(c, given[c.name], contract).alias(c.name) for c in inputs]
    if any(drops_rows(stage) for stage in pipeline.stages):
        # A stage may drop rows (handleInvalid="skip"): each distinct input row is scored once and the
        # outputs are joined back on the inputs' content, so dropped rows keep null outputs instead of
        # disappearing. The key is the inputs as JSON (exact: -0.0, NaN and null stay apart), never a
        # generated id: the frame is computed once per side of the join, and after a shuffle rows reach
        # a task in any order, so a monotonically_increasing_id pairs rows with other rows' outputs
        # (measured on a standalone cluster).
        key = F.to_json(F.struct(*[F.col(f"`{c.name}`") for c in inputs]))
        keyed = spark_df.withColumn(_ROW_KEY, key)
        scored = pipeline.transform(keyed.select(_ROW_KEY, *feed).dropDuplicates([_ROW_KEY]))
        scored = scored.select(_ROW_KEY, *[_native_output(c) for c in outputs])
        return keyed.join(scored, _ROW_KEY, "left").drop(_ROW_KEY)
    original = F.struct(*[spark_df[name] for name in spark_df.columns]).alias(_ORIGINAL)
    scored = pipeline.transform(spark_df.select(original, *feed))
    return scored.select(f"{_ORIGINAL}.*", *[_native_output(c) for c in outputs])


def _guarded(col: Column, given_type: str, contract: ModelContract) -> Any:
    """The input column as the pipeline reads it; values the pyfunc refuses fail the job, naming it."""
    from pyspark.sql import functions as F

    value = F.col(f"`{col.name}`")
    checks = []
    if col.spark_type == "string":
        checks.append((value.isNull(), F.lit("a null; string columns must hold strings")))
    category = contract.closed_categories.get(col.name)
    checks += spark_refusals(value, given_type, category, contract.numeric_guards.get(col.name))
    if col.is_numeric and col.spark_type in INTEGRAL_TYPES and not _fits(given_type, col.spark_type):
        checks.append(_whole_number_check(value, col.spark_type))
        # Whole numbers within range now: cast as the pyfunc's Spark frame has them (NaN means null there).
        value = F.when(F.isnan(value.cast("double")), F.lit(None)).otherwise(value.cast(col.spark_type))
    elif col.is_numeric and given_type != col.spark_type:
        value = value.cast(col.spark_type)
    if not checks:
        return value
    guarded = None
    for condition, problem in checks:
        error = F.raise_error(F.concat(F.lit(f"Column '{col.name}' holds "), problem, F.lit(".")))
        guarded = F.when(condition, error) if guarded is None else guarded.when(condition, error)
    return guarded.otherwise(value)


def _fits(given_type: str, recorded: str) -> bool:
    """Whether every value of a ``given_type`` column is a whole number within ``recorded``'s range."""
    if given_type == "boolean":
        return True
    return given_type in INTEGRAL_TYPES and INTEGRAL_LIMITS[given_type] <= INTEGRAL_LIMITS[recorded]


def _whole_number_check(value: Any, recorded: str) -> tuple[Any, Any]:
    """The pyfunc's rule for an integral column: no fraction, no infinity, nothing out of range."""
    from pyspark.sql import functions as F

    number = value.cast("double")
    limit = INTEGRAL_LIMITS[recorded]
    # x % 1 is NaN for ±inf and non-zero for a fraction; NaN is a null (the stages' null rules apply).
    bad = ~F.isnan(number) & ((number >= limit) | (number < -limit) | ~((number % 1.0) == 0.0))
    return bad, F.concat(number.cast("string"), F.lit(f", {not_whole_number(recorded)}"))


def _native_output(col: Column) -> Any:
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    value = F.col(f"`{col.name}`")
    if col.spark_type == "vector":
        value = vector_to_array(value, "float64")
    elif col.spark_type == HASHES_TYPE:
        value = F.transform(value, lambda vector: vector_to_array(vector, "float64"))
    return value.cast(_output_type(col)).alias(col.name)


# ---- runtime="onnx": onnxruntime in the Python workers -------------------------------------------


def _transform_onnx(
    spark_df: Any,
    local_path: str,
    contract: ModelContract,
    inputs: list[Column],
    outputs: list[Column],
    load_pipeline: Callable[[], Any],
) -> Any:
    """The graph's outputs; rows with a null it would read as NaN where Spark does not go to Spark."""
    nullable = _nullable_numeric(spark_df, inputs)
    has_sql = any(name.rsplit(".", 1)[-1] == "SQLTransformer" for name in contract.stages)
    needs_sql = has_sql and any(is_double_output(c) for c in outputs)
    # save_model records both; for an older model they come from its stages (one native load, cached).
    recorded_sql = contract.sql_outputs is not None or not needs_sql
    recorded_nulls = contract.null_sensitive_inputs is not None or not nullable
    analysis = None if recorded_sql and recorded_nulls else _stage_analysis(contract, load_pipeline)
    if not needs_sql:
        sql_outputs: frozenset[str] | None = frozenset()
    elif contract.sql_outputs is not None:
        sql_outputs = frozenset(contract.sql_outputs)
    else:
        sql_outputs = analysis.sql_outputs if analysis else None
    keep_nan = _keep_nan(outputs, sql_outputs)

    def with_graph(frame: Any, refuse_nulls: dict[str, bool] | None = None) -> Any:
        return _score_with_graph(frame, local_path, contract, inputs, outputs, keep_nan, refuse_nulls)

    if not nullable:
        return with_graph(spark_df)
    if contract.null_sensitive_inputs is not None:
        sensitive: frozenset[str] | None = frozenset(contract.null_sensitive_inputs)
    else:
        sensitive = analysis.null_sensitive if analysis else None
    if sensitive is None:
        # Which stages tell null from NaN is unknown: the graph scores every row, and a row that
        # holds a null it would read as NaN fails the job instead of giving a different result.
        return with_graph(spark_df, nullable)
    names = [name for name in nullable if name in sensitive]
    if not names:
        return with_graph(spark_df)
    sensitive_nullable = {name: nullable[name] for name in names}
    condition = _any_missing(sensitive_nullable)
    try:
        pipeline = load_pipeline()
    except Exception as exc:  # the native pipeline cannot be loaded: refuse those nulls instead
        _logger.warning(
            "Could not load the native pipeline to score rows with a null in %s (%s: %s). Every row is "
            "scored by ONNX; a row holding such a null fails the job.",
            names,
            type(exc).__name__,
            exc,
        )
        return with_graph(spark_df, sensitive_nullable)
    _logger.info("Rows with a null in %s are scored by the native pipeline, the others by ONNX.", names)
    by_spark = _transform_native(spark_df.filter(condition), contract, inputs, outputs, pipeline)
    return with_graph(spark_df.filter(~condition)).unionByName(by_spark)


def _nullable_numeric(spark_df: Any, inputs: list[Column]) -> dict[str, bool]:
    """The numeric inputs that can hold a null, each with whether a NaN there is a null too.

    A NaN in a float column given for an integral (or boolean) input is a null, as in the pyfunc.
    """
    nullable = {}
    for col in inputs:
        if not col.is_numeric:
            continue
        field = spark_df.schema[col.name]
        nan_is_null = col.spark_type not in ("float", "double") and field.dataType.typeName() in (
            "float",
            "double",
        )
        if field.nullable or nan_is_null:
            nullable[col.name] = nan_is_null
    return nullable


def _missing(name: str, nan_is_null: bool) -> Any:
    from pyspark.sql import functions as F

    value = F.col(f"`{name}`")
    return (value.isNull() | F.isnan(value)) if nan_is_null else value.isNull()


def _any_missing(columns: dict[str, bool]) -> Any:
    """A condition true on rows holding a null in one of ``columns`` (name → NaN is a null too)."""
    condition = None
    for name, nan_is_null in columns.items():
        missing = _missing(name, nan_is_null)
        condition = missing if condition is None else condition | missing
    return condition


def _keep_nan(outputs: list[Column], sql_outputs: frozenset[str] | None) -> list[str]:
    """The double outputs whose NaN must stay NaN: all but those a SQLTransformer produces
    (``sql_outputs``; None when unknown: then none, as a NaN may stand for a SQL null)."""
    if sql_outputs is None:
        return []
    return [c.name for c in outputs if is_double_output(c) and c.name not in sql_outputs]


def _stage_analysis(contract: ModelContract, load_pipeline: Callable[[], Any]) -> _StageAnalysis:
    """What an older model did not record, from its stages (cached per model; a failed load is not)."""
    key = (contract.onnx_model_sha256 or "", contract.native_model_sha256)
    cached = _ANALYSES.get(key)
    if cached is not None:
        return cached
    try:
        stages = load_pipeline().stages
    except Exception as exc:  # any load failure: degrade to checked ONNX-only scoring
        _logger.warning(
            "Could not load the native pipeline to find the stages that tell null from NaN (%s: %s). "
            "Every row is scored by ONNX; a row holding a null in a nullable numeric input fails the job, "
            "and NaN outputs of a pipeline with a SQLTransformer come back as null.",
            type(exc).__name__,
            exc,
        )
        return _StageAnalysis(null_sensitive=None, sql_outputs=None)
    sql_outputs = sql_transformer_outputs(stages)
    _ANALYSES[key] = _StageAnalysis(
        null_sensitive=frozenset(null_sensitive_inputs(stages, list(contract.inputs))),
        sql_outputs=None if sql_outputs is None else frozenset(sql_outputs),
    )
    return _ANALYSES[key]


def _refusing_nulls(value: Any, name: str, nan_is_null: bool) -> Any:
    """``value``, failing the job on a row where column ``name`` holds a null."""
    from pyspark.sql import functions as F

    what = "a null (NaN in a float column given for an integral one)" if nan_is_null else "a null"
    message = (
        f"Column '{name}' holds {what}, which the ONNX graph would read as NaN, and the native "
        "pipeline that tells which stages treat null unlike NaN could not be loaded (see the driver's "
        "log). Impute the column, or score with runtime='spark'."
    )
    return F.when(_missing(name, nan_is_null), F.raise_error(F.lit(message))).otherwise(value)


def _score_with_graph(
    spark_df: Any,
    local_path: str,
    contract: ModelContract,
    inputs: list[Column],
    outputs: list[Column],
    keep_nan: list[str],
    refuse_nulls: dict[str, bool] | None = None,
) -> Any:
    """The graph's outputs appended; NaN stays NaN in ``keep_nan``; ``refuse_nulls``: see _refusing_nulls."""
    from pyspark.ml.functions import vector_to_array

    onnx_path = os.path.join(local_path, contract.onnx_model or "")
    sha256 = contract.onnx_model_sha256 or ""
    verify_checksum(onnx_path, sha256)
    file_name = _ship(spark_df.sparkSession, onnx_path, sha256)
    spec = WorkerSpec(
        file_name=file_name,
        contract=contract,  # the worker's graph fetches every output; the UDF returns those asked for
        selected=tuple(c.name for c in outputs),
        split=_fixed_widths(onnx_path, contract.onnx_outputs or {}, outputs),
        keep_nan=tuple(keep_nan),
    )
    fields = _result_fields(outputs, spec.split, keep_nan)
    score = _scoring_udf(spec, fields)
    args = []
    for col in inputs:
        value = spark_df[col.name]
        if col.spark_type == "vector" and spark_df.schema[col.name].dataType.typeName() != "array":
            value = vector_to_array(value, "float64")
        if refuse_nulls and col.name in refuse_nulls:
            value = _refusing_nulls(value, col.name, refuse_nulls[col.name])
        args.append(value)
    scored = spark_df.withColumn(_SCORED, score(*args))
    return scored.select(
        *[spark_df[name] for name in spark_df.columns],
        *[_scored_column(c, spec.split.get(c.name), c.name in keep_nan) for c in outputs],
    )


def _scoring_udf(spec: WorkerSpec, fields: list[tuple[str, str]]) -> Any:
    """The UDF the workers run: an ``arrow_udf`` where pyspark has them (4.1+), else a ``pandas_udf``.

    The Arrow form skips pyspark's pandas conversions of inputs and results (1M rows through a
    constant UDF with this model's inputs and outputs: 1.25 s against 1.47 s).
    """
    from pyspark.sql import functions as F

    result_type = "struct<" + ", ".join(f"`{name}`: {spark_type}" for name, spark_type in fields) + ">"
    if hasattr(F, "arrow_udf"):
        import pyarrow as pa

        def score_arrow(batches: Any) -> Any:
            yield from score_arrow_batches(batches, spec, fields)

        # Hints as objects: this module's are strings, and pyarrow is imported here only.
        score_arrow.__annotations__ = {
            "batches": Iterator[Tuple[pa.Array, ...]],  # noqa: UP006
            "return": Iterator[pa.Array],
        }
        return F.arrow_udf(score_arrow, result_type)

    @F.pandas_udf(result_type)  # type: ignore[call-overload]
    def score(batches: Iterator[Tuple[pd.Series, ...]]) -> Iterator[pd.DataFrame]:  # noqa: UP006
        yield from score_batches(batches, spec)

    return score


#: Vector outputs at most this wide cross from Python as one double per element (see _fixed_widths).
_MAX_SPLIT_WIDTH = 64


def _fixed_widths(onnx_path: str, onnx_outputs: dict[str, str], outputs: list[Column]) -> dict[str, int]:
    """Vector outputs whose width the graph fixes (a probability has one entry per class).

    Those cross from the Python workers as one double column per element and are rebuilt into an
    ``array<double>`` by the JVM: an Arrow list of small lists per row costs far more to convert
    on both sides (measured on 1M rows of a binary forest: 3.5 s of plumbing against 2 s).
    """
    import onnx

    graph_outputs = {o.name: o for o in onnx.load(onnx_path, load_external_data=False).graph.output}
    widths = {}
    for col in outputs:
        if col.is_numeric or col.spark_type in ("string", "array<string>"):
            continue
        dims = graph_outputs[onnx_outputs[col.name]].type.tensor_type.shape.dim
        if len(dims) == 2 and dims[1].HasField("dim_value") and 0 < dims[1].dim_value <= _MAX_SPLIT_WIDTH:
            widths[col.name] = int(dims[1].dim_value)
    return widths


def _result_fields(
    outputs: list[Column], split: dict[str, int], keep_nan: list[str]
) -> list[tuple[str, str]]:
    """The (name, Spark type) of each field of the UDF's result struct."""
    fields = []
    for col in outputs:
        if col.name in split:
            fields += [(f"{col.name}#{i}", "double") for i in range(split[col.name])]
            fields.append((f"{col.name}#null", "boolean"))
        else:
            fields.append((col.name, _output_type(col)))
            if crosses_as_list(col) and col.name in keep_nan:
                fields.append((f"{col.name}#nan", "boolean"))
    return fields


def _nan_for_null(element: Any) -> Any:
    """An array element Arrow read as null back to the NaN it was (a vector output holds no null)."""
    from pyspark.sql import functions as F

    return F.coalesce(element, F.lit(math.nan))


def _scored_column(col: Column, width: int | None, keep_nan: bool) -> Any:
    from pyspark.sql import functions as F

    if width is None:
        value = F.col(f"{_SCORED}.`{col.name}`")
        if keep_nan and crosses_as_list(col):
            # Arrow read the row's NaN elements as nulls (a vector output holds no real null):
            # rows flagged as holding a NaN get them back; the others pay only the flag.
            has_nan = F.col(f"{_SCORED}.`{col.name}#nan`")
            if col.spark_type == HASHES_TYPE:
                restored = F.transform(value, lambda vector: F.transform(vector, _nan_for_null))
            else:
                restored = F.transform(value, _nan_for_null)
            value = F.when(has_nan, restored).otherwise(value)
        return value.alias(col.name)
    elements = F.array(*[F.col(f"{_SCORED}.`{col.name}#{i}`") for i in range(width)])
    is_null = F.col(f"{_SCORED}.`{col.name}#null`")
    return F.when(is_null, F.lit(None).cast("array<double>")).otherwise(elements).alias(col.name)


def _ship(spark: Any, onnx_path: str, sha256: str) -> str:
    """Add the graph to the session's files under a name unique to its content; return that name.

    A classic session adds it to its SparkContext, a Spark Connect session uploads it as an artifact;
    either way the Python workers find it with ``SparkFiles.get``.
    """
    file_name = f"sparkonnx-{sha256[:24]}.onnx"
    connect = is_connect_session(spark)
    key = (spark.session_id if connect else spark.sparkContext.applicationId, file_name)
    if key not in _SHIPPED:
        if connect:  # uploaded now
            with tempfile.TemporaryDirectory(prefix="sparkonnx-ship-") as folder:
                staging = os.path.join(folder, file_name)
                shutil.copyfile(onnx_path, staging)
                spark.addArtifacts(staging, file=True)
        else:  # a cluster's executors fetch it from the driver while the application runs
            staging = os.path.join(temporary_dir_until_exit("sparkonnx-ship-"), file_name)
            shutil.copyfile(onnx_path, staging)
            spark.sparkContext.addFile(staging)
        _SHIPPED.add(key)
    return file_name
