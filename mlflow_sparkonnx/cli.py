"""The ``mlflow-sparkonnx`` command (also ``python -m mlflow_sparkonnx``): argument parsing and printing only.

Exit codes: 0 done; 1 refused (the promotion gate said no); 2 bad usage; 3 failed (model not found,
not a sparkonnx model, tracking server unreachable, ...).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

import click

EXIT_REFUSED = 1
EXIT_FAILED = 3


def _fail(message: str, code: int = EXIT_FAILED) -> None:
    prefix = "" if message.startswith("Refused") else ("Refused: " if code == EXIT_REFUSED else "Error: ")
    click.echo(f"{prefix}{message}", err=True)
    sys.exit(code)


def _run(action: Any) -> Any:
    """Run ``action``; expected failures become a one-line message and an exit code, not a traceback."""
    from mlflow.exceptions import MlflowException

    from mlflow_sparkonnx.exceptions import PromotionRefusedError

    try:
        return action()
    except PromotionRefusedError as exc:
        _fail(exc.message, EXIT_REFUSED)
    except MlflowException as exc:
        _fail(exc.message)
    except (OSError, ValueError) as exc:
        _fail(f"{type(exc).__name__}: {exc}")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--tracking-uri",
    envvar="MLFLOW_TRACKING_URI",
    help="MLflow tracking server or store (default: $MLFLOW_TRACKING_URI). The registry follows it "
    "unless $MLFLOW_REGISTRY_URI is set.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log what the library does (INFO) and Spark's warnings.")
def main(tracking_uri: str | None, verbose: bool) -> None:
    """Inspect, promote and upgrade sparkonnx models (MLflow models of Spark ML pipelines with a
    verified ONNX graph)."""
    import mlflow

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    # Spark, when a command needs it: no progress bars, and only its errors unless --verbose.
    spark_log_level = "WARN" if verbose else "ERROR"
    os.environ.setdefault(
        "PYSPARK_SUBMIT_ARGS",
        f"--conf spark.ui.showConsoleProgress=false --conf spark.log.level={spark_log_level} pyspark-shell",
    )
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)


@main.command()
@click.argument("model_uri")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON instead of tables.")
def inspect(model_uri: str, as_json: bool) -> None:
    """Show a model's conversion report: stages, converters, statuses, parity, runtime, requirements.

    MODEL_URI: a local path, runs:/<run_id>/<name>, models:/<name>/<version> or models:/<name>@<alias>.
    Needs neither Spark nor Java.
    """
    details = _run(lambda: _inspect(model_uri))
    if as_json:
        click.echo(json.dumps(details, indent=2, default=str))
        return
    click.echo(_format_inspection(model_uri, details))


def _inspect(model_uri: str) -> dict[str, Any]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="sparkonnx-inspect-") as download:
        return _inspect_downloaded(model_uri, download)


def _inspect_downloaded(model_uri: str, download: str) -> dict[str, Any]:
    from mlflow.models import Model
    from mlflow.tracking.artifact_utils import _download_artifact_from_uri

    from mlflow_sparkonnx.contract import FLAVOR_NAME, ModelContract
    from mlflow_sparkonnx.exceptions import SparkOnnxError
    from mlflow_sparkonnx.flavor.report import read_report

    local = _download_artifact_from_uri(model_uri, output_path=download)
    model = Model.load(local)
    if FLAVOR_NAME not in model.flavors:
        hint = (
            f" It is an mlflow.spark model: `mlflow-sparkonnx upgrade {model_uri}` converts it."
            if "spark" in model.flavors
            else ""
        )
        raise SparkOnnxError(
            f"'{model_uri}' is not a sparkonnx model (flavors: {sorted(model.flavors)}).{hint}"
        )
    contract = ModelContract.from_flavor(model.flavors[FLAVOR_NAME])
    requirements_path = os.path.join(local, "requirements.txt")
    requirements = []
    if os.path.exists(requirements_path):
        with open(requirements_path) as f:
            requirements = [line.strip() for line in f if line.strip()]
    return {
        "report": read_report(local, contract).to_dict(),
        "requirements": requirements,
        "inputs": [c.to_dict() for c in contract.inputs],
        "outputs": [c.to_dict() for c in contract.outputs],
        "registry_tags": _registry_tags(model_uri),
    }


def _registry_tags(model_uri: str) -> dict[str, str]:
    """The version's ``sparkonnx.*`` tags and aliases for a ``models:/name/version`` or ``@alias`` URI."""
    from mlflow.tracking import MlflowClient

    if not model_uri.startswith("models:/"):
        return {}
    ref = model_uri[len("models:/") :].strip("/")
    client = MlflowClient()
    try:
        if "@" in ref:
            name, alias = ref.split("@", 1)
            version = client.get_model_version_by_alias(name, alias)
        elif "/" in ref:
            name, number = ref.rsplit("/", 1)
            version = client.get_model_version(name, number)
        else:
            return {}
    except Exception:  # a logged model id (models:/m-...) is not a registry version
        return {}
    tags = {k: _tag_summary(k, v) for k, v in (version.tags or {}).items() if k.startswith("sparkonnx.")}
    tags["version"] = f"{version.name} version {version.version}"
    if version.aliases:
        tags["aliases"] = ", ".join(version.aliases)
    return tags


def _tag_summary(key: str, value: str) -> str:
    """The JSON tags (parity figures, failed attempts) as one readable line."""
    from mlflow_sparkonnx.lifecycle.promotion import TAG_FAILED, TAG_PARITY

    try:
        data = json.loads(value) if key in (TAG_PARITY, TAG_FAILED) else None
    except ValueError:
        return value
    if key == TAG_PARITY and isinstance(data, dict):
        return f"{data.get('summary')} [{data.get('checked')}]"
    if key == TAG_FAILED and isinstance(data, dict):
        return f"{data.get('at')} (alias {data.get('alias')}): {data.get('reason')}"
    return value


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = ["  " + "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def _format_inspection(model_uri: str, details: dict[str, Any]) -> str:
    report = details["report"]
    versions = ", ".join(f"{k.removesuffix('_version')} {v}" for k, v in report["versions"].items())
    out = [
        f"Model:           {model_uri}",
        f"ONNX status:     {report['onnx_status']} ({report['onnx_reason']})",
        f"Default runtime: {report['default_runtime']}",
        f"Saved with:      {versions}",
        "",
        "Stages",
        _table(
            ["#", "stage", "uid", "converter", "status", "reason"],
            [
                [i, s["class_name"].rsplit(".", 1)[-1], s["uid"], s["converter"], s["status"], s["reason"]]
                for i, s in enumerate(report["stages"])
            ],
        ),
        "",
    ]
    parity = report.get("parity")
    if parity:
        tol = parity.get("tolerance") or {}
        out += [
            f"Parity at save time ({parity['rows']} rows; |onnx - spark| <= {tol.get('abs')} + "
            f"{tol.get('rel')}*|spark|)",
            _table(
                ["output", "max abs diff", "max rel diff", "mismatched rows"],
                [
                    [name, f"{o['max_abs_diff']:.3g}", f"{o['max_rel_diff']:.3g}", o["mismatched_rows"]]
                    for name, o in parity["outputs"].items()
                ],
            ),
        ]
    else:
        out.append("Parity at save time: not measured (no ONNX graph to compare)")
    out += [
        "",
        "Inputs:          " + ", ".join(f"{c['name']} ({c['spark_type']})" for c in details["inputs"] or []),
        "Outputs:         " + ", ".join(f"{c['name']} ({c['spark_type']})" for c in details["outputs"] or []),
        "Requirements:    " + ", ".join(details["requirements"]),
    ]
    tags = details.get("registry_tags") or {}
    if tags:
        out += ["", "Registry"] + [f"  {k}: {v}" for k, v in tags.items()]
    return "\n".join(out)


def _read_frame(path: str) -> Any:
    import pandas as pd

    lower = path.lower()
    if lower.endswith(".parquet"):
        return pd.read_parquet(path)
    if lower.endswith(".json") or lower.endswith(".jsonl"):
        return pd.read_json(path, orient="records", lines=lower.endswith(".jsonl"))
    if lower.endswith(".csv"):
        return pd.read_csv(path)
    raise ValueError(f"--validation-data '{path}': use a .csv, .parquet, .json (records) or .jsonl file")


@main.command()
@click.argument("name")
@click.argument("version")
@click.option("--alias", default="champion", show_default=True, help="The alias to point at the version.")
@click.option(
    "--validation-data",
    type=click.Path(exists=True, dir_okay=False),
    help="Extra rows to check parity on: .csv, .parquet, .json (records) or .jsonl, raw input columns.",
)
@click.option(
    "--require-runtime",
    type=click.Choice(["onnx", "spark"]),
    help="Refuse unless this runtime can serve the version (onnx: a verified graph is required).",
)
@click.option("--copy-to", help="Copy the version into this registered model and set the alias there.")
def promote(
    name: str,
    version: str,
    alias: str,
    validation_data: str | None,
    require_runtime: str | None,
    copy_to: str | None,
) -> None:
    """Re-validate version VERSION of registered model NAME here, then set the alias on it.

    ONNX and Spark (when Java is available) score the stored input example plus --validation-data;
    any disagreement beyond the save-time tolerance refuses the promotion (exit 1) and leaves the
    alias where it was.
    """
    from mlflow_sparkonnx.lifecycle.promotion import promote as promote_version

    frame = _run(lambda: _read_frame(validation_data)) if validation_data else None
    result = _run(
        lambda: promote_version(
            name, version, alias, validation_data=frame, require_runtime=require_runtime, copy_to=copy_to
        )
    )
    figures = result.figures
    copied = f" (copied from {result.source[0]} version {result.source[1]})" if copy_to else ""
    click.echo(f"Promoted {result.name} version {result.version} to {result.model_uri}{copied}")
    click.echo(f"  runtime:      {result.runtime}")
    click.echo(f"  check:        {figures.get('summary')} [{figures.get('checked')}]")
    if figures.get("excluded_rows"):
        click.echo(f"  left out:     {figures['excluded_rows']} rows Spark refuses")
    if figures.get("onnx_refused_rows"):
        click.echo(f"  left out:     {figures['onnx_refused_rows']} rows the ONNX runtime refuses")
    for output, o in (figures.get("outputs") or {}).items():
        click.echo(
            f"  {output}: max abs diff {o['max_abs_diff']:.3g}, max rel diff {o['max_rel_diff']:.3g}, "
            f"mismatched rows {o['mismatched_rows']}"
        )
    click.echo(f"  validated at: {result.validated_at}")


@main.command()
@click.argument("model_uri")
@click.option("--name", default="model", show_default=True, help="Name of the new model in the run.")
@click.option("--register", "registered_model_name", help="Also register it under this name.")
@click.option(
    "--experiment", help="Experiment (name) to log into; default: the active one ($MLFLOW_EXPERIMENT_ID)."
)
def upgrade(model_uri: str, name: str, registered_model_name: str | None, experiment: str | None) -> None:
    """Convert an mlflow.spark model to a sparkonnx model (no retraining) and log it.

    MODEL_URI: runs:/<run_id>/<name>, models:/<name>/<version> or a path. The graph is verified on the
    model's stored input example; signature and example are kept; the new model is tagged
    sparkonnx.upgraded_from. Needs pyspark and Java.
    """
    import mlflow

    from mlflow_sparkonnx.contract import FLAVOR_NAME, ModelContract
    from mlflow_sparkonnx.lifecycle.upgrade import upgrade as upgrade_model

    if experiment:
        _run(lambda: mlflow.set_experiment(experiment))
    info = _run(lambda: upgrade_model(model_uri, name=name, registered_model_name=registered_model_name))
    contract = ModelContract.from_flavor(info.flavors[FLAVOR_NAME])
    click.echo(f"Upgraded {model_uri} to {info.model_uri} (run {info.run_id})")
    click.echo(f"  ONNX status:     {contract.onnx_status} ({contract.onnx_reason})")
    click.echo(f"  default runtime: {contract.default_runtime}")
    if registered_model_name:
        click.echo(f"  registered:      {registered_model_name} version {info.registered_model_version}")
