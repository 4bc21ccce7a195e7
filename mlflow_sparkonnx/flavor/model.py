"""The ``sparkonnx`` MLflow flavor: what goes into the model directory and the MLmodel file."""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from types import SimpleNamespace
from typing import Any

import yaml
from mlflow import pyfunc
from mlflow.models import Model, ModelSignature, infer_signature
from mlflow.models.model import MLMODEL_FILE_NAME
from mlflow.models.utils import _save_example
from mlflow.tracking.artifact_utils import _download_artifact_from_uri
from mlflow.types import ColSpec, DataType, Schema
from mlflow.types.schema import Array
from mlflow.utils.environment import (
    _CONDA_ENV_FILE_NAME,
    _CONSTRAINTS_FILE_NAME,
    _PYTHON_ENV_FILE_NAME,
    _REQUIREMENTS_FILE_NAME,
    _mlflow_conda_env,
    _process_conda_env,
    _process_pip_requirements,
    _PythonEnv,
    _validate_env_arguments,
)
from mlflow.utils.file_utils import write_to
from mlflow.utils.model_utils import (
    _validate_and_copy_code_paths,
)
from mlflow.utils.requirements_utils import _get_pinned_requirement

from mlflow_sparkonnx._version import __version__
from mlflow_sparkonnx.artifacts import sha256_of, verify_checksum
from mlflow_sparkonnx.contract import FLAVOR_NAME, HASHES_TYPE, ModelContract, OnnxStatus
from mlflow_sparkonnx.exceptions import RuntimeUnavailableError, SparkOnnxError
from mlflow_sparkonnx.flavor.mlflow_compat import log_with_flavor, logged_model_location, model_name
from mlflow_sparkonnx.flavor.package_wheel import (
    check_package_wheel,
    conda_env_with_wheel,
    copy_package_wheel,
    requirements_with_wheel,
)
from mlflow_sparkonnx.flavor.report import REPORT_DIR, write_report
from mlflow_sparkonnx.flavor.search_tags import tag_logged_model
from mlflow_sparkonnx.sparkml.native_model import (
    NATIVE_MODEL_FILE,
    load_native_pipeline,
    write_native_archive,
)

_logger = logging.getLogger(__name__)

ONNX_MODEL_FILE = "model.onnx"
DEFAULT_PARITY_ROWS = 300
#: Rows of the input example stored as MLflow's ``input_example.json``.
STORED_EXAMPLE_ROWS = 5
_ONNX_CHOICES = ("auto", "require", False)


def _staging_prefix(path: str, pid: int) -> str:
    """Staging directories sit beside ``path``, hidden, named after it and the saving process."""
    return f".{os.path.basename(path)}.sparkonnx-{pid}-"


def _remove_abandoned_staging(path: str) -> None:
    """Delete staging directories for ``path`` left by a save whose process died (e.g. was killed)."""
    parent = os.path.dirname(path)
    pattern = re.compile(re.escape(f".{os.path.basename(path)}.sparkonnx-") + r"(\d+)-")
    for name in os.listdir(parent) if os.path.isdir(parent) else []:
        match = pattern.match(name)
        if match and not _process_alive(int(match.group(1))):
            _logger.warning("Removing %s, left by an interrupted save.", os.path.join(parent, name))
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _output_schema(analysis: Any) -> Schema:
    """The output schema from the recorded output columns (what both runtimes return).

    Built, not inferred: inferring it from predictions checks every element of every vector, which
    takes tens of seconds for a 2^18-wide output.
    """
    specs = []
    for col in analysis.outputs:
        if col.is_numeric:
            specs.append(ColSpec(DataType.double, col.name))
        elif col.spark_type == "string":
            specs.append(ColSpec(DataType.string, col.name))
        elif col.spark_type == "array<string>":
            specs.append(ColSpec(Array(DataType.string), col.name))
        elif col.spark_type == HASHES_TYPE:  # one single-element list per hash table
            specs.append(ColSpec(Array(Array(DataType.double)), col.name))
        else:  # vectors and numeric arrays come back as lists of floats
            specs.append(ColSpec(Array(DataType.double), col.name))
    return Schema(specs)


def get_default_pip_requirements(include_pyspark: bool = False) -> list[str]:
    """Requirements to serve a model; pyspark only for a model without a verified graph.

    ``mlflow-skinny`` (same version as ``mlflow``) loads and serves the model; the full ``mlflow``
    package would more than double a JVM-free serving image without being used there.
    """
    packages = ["mlflow-skinny", "onnx", "onnxruntime", "numpy", "pandas"]
    if include_pyspark:
        packages.append("pyspark")
    return [_get_pinned_requirement(p) for p in packages] + [f"mlflow-sparkonnx=={__version__}"]


def get_default_conda_env(include_pyspark: bool = False) -> dict[str, Any]:
    """The conda environment MLflow writes next to the model."""
    return _mlflow_conda_env(additional_pip_deps=get_default_pip_requirements(include_pyspark))


def save_model(
    spark_model: Any,
    path: str,
    *,
    input_example: Any = None,
    signature: ModelSignature | None = None,
    output_cols: list[str] | None = None,
    onnx: str | bool = "auto",
    target_opset: int | None = None,
    parity_rows: int = DEFAULT_PARITY_ROWS,
    pip_requirements: Any = None,
    extra_pip_requirements: Any = None,
    conda_env: Any = None,
    code_paths: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    dfs_tmpdir: str | None = None,
    package_wheel: str | os.PathLike[str] | None = None,
    mlflow_model: Model | None = None,
) -> None:
    """Save a fitted Spark ML model with its zipped native form and, if verified, an ONNX graph.

    ``input_example`` (pandas or Spark DataFrame of raw input rows) types the inputs and gives
    the parity rows (its first ``parity_rows``). ``onnx="auto"`` keeps a verified graph and
    otherwise saves native-only with a warning; ``"require"`` raises instead; ``False`` skips
    conversion. Nothing is left at ``path`` if saving fails. ``dfs_tmpdir`` is where a Spark
    Connect server (or a cluster) writes the native model before it is fetched (default:
    ``MLFLOW_DFS_TMP``, else ``/tmp/mlflow``, on the server's side). ``package_wheel`` (a path to
    this package's ``.whl``) is stored in the model and its requirements install it from there, for
    serving environments whose package index does not have ``mlflow-sparkonnx``.
    """
    from mlflow_sparkonnx.flavor.analysis import analyse
    from mlflow_sparkonnx.sparkml.pipeline import as_pipeline_model
    from mlflow_sparkonnx.sparkml.session import get_or_create_spark

    if onnx not in _ONNX_CHOICES:
        raise SparkOnnxError(f"onnx must be one of 'auto', 'require' or False, not {onnx!r}.")
    if parity_rows < 1:
        raise SparkOnnxError(f"parity_rows must be at least 1, not {parity_rows}.")
    _validate_env_arguments(conda_env, pip_requirements, extra_pip_requirements)
    wheel = check_package_wheel(package_wheel) if package_wheel is not None else None
    path = os.path.abspath(path)
    if os.path.exists(path) and (not os.path.isdir(path) or os.listdir(path)):
        raise SparkOnnxError(f"Path '{path}' already exists and is not empty.")

    pipeline = as_pipeline_model(spark_model)
    spark = get_or_create_spark()
    analysis = analyse(
        pipeline,
        input_example,
        output_cols=output_cols,
        onnx=onnx,
        target_opset=target_opset,
        parity_rows=parity_rows,
        spark=spark,
    )

    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    _remove_abandoned_staging(path)
    staging = tempfile.mkdtemp(prefix=_staging_prefix(path, os.getpid()), dir=parent)
    try:
        _write_model_dir(
            staging,
            pipeline,
            analysis,
            spark=spark,
            dfs_tmpdir=dfs_tmpdir,
            mlflow_model=mlflow_model or Model(),
            signature=signature,
            code_paths=code_paths,
            metadata=metadata,
            env=(conda_env, pip_requirements, extra_pip_requirements),
            package_wheel=wheel,
        )
        if os.path.isdir(path):
            os.rmdir(path)  # empty, checked above
        os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _logger.info(
        "Saved %s: ONNX %s (%s); default runtime %s.",
        path,
        analysis.onnx_status,
        analysis.onnx_reason,
        analysis.default_runtime,
    )


def _write_model_dir(
    path: str,
    pipeline: Any,
    analysis: Any,
    *,
    spark: Any,
    dfs_tmpdir: str | None,
    mlflow_model: Model,
    signature: ModelSignature | None,
    code_paths: list[str] | None,
    metadata: dict[str, Any] | None,
    env: tuple[Any, Any, Any],
    package_wheel: str | None,
) -> None:
    import onnx as onnx_lib

    write_native_archive(pipeline, os.path.join(path, NATIVE_MODEL_FILE), spark, dfs_tmpdir)
    verified = analysis.onnx_status is OnnxStatus.VERIFIED
    if verified:
        onnx_lib.save_model(analysis.graph.model, os.path.join(path, ONNX_MODEL_FILE))

    code_dir_subpath = _validate_and_copy_code_paths(code_paths, path)
    example = analysis.raw_example.head(STORED_EXAMPLE_ROWS)
    if signature is None:
        signature = ModelSignature(inputs=infer_signature(example).inputs, outputs=_output_schema(analysis))
    mlflow_model.signature = signature
    _save_example(mlflow_model, _json_friendly(example), path)
    if metadata is not None:
        mlflow_model.metadata = metadata

    pyfunc.add_to_model(
        mlflow_model,
        loader_module="mlflow_sparkonnx",
        data=".",
        code=code_dir_subpath,
        conda_env=_CONDA_ENV_FILE_NAME,
        python_env=_PYTHON_ENV_FILE_NAME,
        model_config={"runtime": "auto", "spark_conf": {}},
    )
    contract = model_contract(analysis, path)
    mlflow_model.add_flavor(FLAVOR_NAME, code=code_dir_subpath, **contract.to_flavor())
    mlflow_model.save(os.path.join(path, MLMODEL_FILE_NAME))
    _write_environment(path, env, include_pyspark=not verified, package_wheel=package_wheel)
    write_report(os.path.join(path, REPORT_DIR), contract, analysis)


def model_contract(analysis: Any, path: str) -> ModelContract:
    """What the model in ``path`` records about itself (its MLmodel ``sparkonnx`` block)."""
    from mlflow_sparkonnx.flavor.analysis import onnx_batch_rows
    from mlflow_sparkonnx.sparkml.pipeline import stage_names

    verified = analysis.onnx_status is OnnxStatus.VERIFIED
    return ModelContract(
        sparkonnx_version=__version__,
        versions=_library_versions(),
        native_model=NATIVE_MODEL_FILE,
        native_model_sha256=sha256_of(os.path.join(path, NATIVE_MODEL_FILE)),
        onnx_model=ONNX_MODEL_FILE if verified else None,
        onnx_model_sha256=sha256_of(os.path.join(path, ONNX_MODEL_FILE)) if verified else None,
        stages=tuple(stage_names(analysis.pipeline.stages)),
        stage_uids=tuple(s.uid for s in analysis.pipeline.stages),
        dropped_stages=tuple(stage_names(analysis.dropped_stages)),
        inputs=tuple(analysis.inputs),
        closed_categories=analysis.closed_categories,
        numeric_guards=analysis.numeric_guards,
        null_sensitive_inputs=analysis.null_sensitive_inputs,
        sql_outputs=analysis.sql_outputs,
        outputs=tuple(analysis.outputs),
        onnx_outputs=analysis.graph.output_names if verified else None,
        onnx_batch_rows=onnx_batch_rows(analysis.pipeline.stages),
        row_checks=tuple(analysis.graph.row_checks) if verified else (),
        float32_inputs=tuple(analysis.graph.float32_inputs) if verified else (),
        onnx_status=analysis.onnx_status,
        onnx_reason=analysis.onnx_reason,
        parity=_parity_record(analysis),
        default_runtime=analysis.default_runtime,
    )


def _parity_record(analysis: Any) -> dict[str, Any] | None:
    """The parity figures, with the edge probes' outcome counts when they ran."""
    if analysis.parity is None:
        return None
    record = analysis.parity.to_dict()
    if analysis.edge_probes is not None:
        record["edge_probes"] = analysis.edge_probes.to_dict()
    return record


def _library_versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str | None] = {}
    for package in ("pyspark", "onnx", "onnxruntime", "onnxmltools"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return versions


def _json_friendly(frame: Any) -> Any:
    """Vectors as plain lists, so MLflow can store the example as JSON."""
    return frame.map(lambda v: list(v) if hasattr(v, "__len__") and not isinstance(v, str) else v)


def _write_environment(
    path: str, env: tuple[Any, Any, Any], include_pyspark: bool, package_wheel: str | None
) -> None:
    conda_env, pip_requirements, extra_pip_requirements = env
    if conda_env is None:
        default_reqs = get_default_pip_requirements(include_pyspark) if pip_requirements is None else None
        conda_env, pip_requirements, pip_constraints = _process_pip_requirements(
            default_reqs, pip_requirements, extra_pip_requirements
        )
    else:
        conda_env, pip_requirements, pip_constraints = _process_conda_env(conda_env)
    if package_wheel is not None:  # after MLflow's processing, which would treat the option as a package
        copy_package_wheel(package_wheel, path)
        pip_requirements = requirements_with_wheel(pip_requirements)
        conda_env = conda_env_with_wheel(conda_env)
    with open(os.path.join(path, _CONDA_ENV_FILE_NAME), "w") as f:
        yaml.safe_dump(conda_env, stream=f, default_flow_style=False)
    if pip_constraints:
        write_to(os.path.join(path, _CONSTRAINTS_FILE_NAME), "\n".join(pip_constraints))
    write_to(os.path.join(path, _REQUIREMENTS_FILE_NAME), "\n".join(pip_requirements))
    _PythonEnv.current().to_yaml(os.path.join(path, _PYTHON_ENV_FILE_NAME))


#: What ``Model.log`` needs of a flavor: its ``save_model``, and the name a logged model records.
_LOGGING_FLAVOR = SimpleNamespace(__name__="mlflow_sparkonnx", save_model=save_model)


def log_model(
    spark_model: Any,
    name: str | None = None,
    *,
    artifact_path: str | None = None,
    registered_model_name: str | None = None,
    await_registration_for: int = 300,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    model_type: str | None = None,
    step: int = 0,
    model_id: str | None = None,
    **save_kwargs: Any,
) -> Any:
    """Log a Spark ML model as a sparkonnx model in the active run; returns a ``ModelInfo``.

    Takes every ``save_model`` argument; ``registered_model_name`` also registers a version. The
    run, the logged model and the version are tagged with the ONNX verdict (``sparkonnx.onnx_status``,
    ``sparkonnx.default_runtime``, ``sparkonnx.parity_summary``), so they can be searched by it.
    ``name`` (MLflow 3) and ``artifact_path`` (its MLflow 2 spelling) are the same thing. On MLflow 2,
    which has no logged models, ``params`` and ``tags`` are recorded on the run.
    """
    name = model_name(name, artifact_path)
    info = log_with_flavor(
        _LOGGING_FLAVOR,
        name,
        params=params,
        tags=tags,
        model_type=model_type,
        step=step,
        model_id=model_id,
        spark_model=spark_model,
        registered_model_name=registered_model_name,
        await_registration_for=await_registration_for,
        **save_kwargs,
    )
    tag_logged_model(info, ModelContract.from_flavor(info.flavors[FLAVOR_NAME]), registered_model_name)
    _log_report_to_run(info, name)
    return info


def _log_report_to_run(info: Any, name: str) -> None:
    """Copy the model's report into its run's artifacts (``sparkonnx_report/<name>``) for the UI."""
    from mlflow.artifacts import download_artifacts
    from mlflow.tracking import MlflowClient

    if not info.run_id:
        return
    location = logged_model_location(info)
    with tempfile.TemporaryDirectory(prefix="sparkonnx-report-") as tmp:
        local = download_artifacts(artifact_uri=f"{location}/{REPORT_DIR}", dst_path=tmp)
        MlflowClient().log_artifacts(info.run_id, local, artifact_path=f"{REPORT_DIR}/{name}")


def load_model(model_uri: str, dst_path: str | None = None, dfs_tmpdir: str | None = None) -> Any:
    """Load the native ``PipelineModel`` (needs pyspark, and Java or a Spark Connect session).

    Stages the saved pipeline dropped as unneeded for its outputs are not in it. Under Spark
    Connect the model is staged in ``dfs_tmpdir`` (default ``MLFLOW_DFS_TMP``) for the server to read.
    """
    from mlflow_sparkonnx.sparkml.session import get_or_create_spark

    local_path = _download_artifact_from_uri(artifact_uri=model_uri, output_path=dst_path)
    return load_native_pipeline(local_path, ModelContract.read(local_path), get_or_create_spark(), dfs_tmpdir)


def load_onnx_model(model_uri: str) -> Any:
    """Load the verified ONNX graph as an ``onnx.ModelProto``."""
    import onnx

    local_path = _download_artifact_from_uri(artifact_uri=model_uri)
    contract = ModelContract.read(local_path)
    if not contract.verified or contract.onnx_model is None:
        raise RuntimeUnavailableError(
            f"Model '{model_uri}' has no verified ONNX graph (status {contract.describe_status()})."
        )
    onnx_path = os.path.join(local_path, contract.onnx_model)
    verify_checksum(onnx_path, contract.onnx_model_sha256)
    return onnx.load(onnx_path)
