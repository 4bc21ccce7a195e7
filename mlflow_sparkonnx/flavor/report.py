"""The conversion report saved with every model: per stage who converts it and how it went, per
output how the ONNX graph compared with Spark.

Three files in ``sparkonnx_report/`` of the model directory (and, with ``log_model``, as run
artifacts the MLflow UI shows): ``report.json`` for machines, ``report.md`` / ``report.html``
for people, and ``parity.png``, ONNX against Spark per output on the parity rows.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlflow_sparkonnx.contract import ModelContract, OnnxStatus
from mlflow_sparkonnx.convert.verify import ABS_TOL, REL_TOL

_logger = logging.getLogger(__name__)

REPORT_DIR = "sparkonnx_report"
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
PARITY_PNG = "parity.png"
#: Points drawn per output in the scatter (a wide vector output is subsampled, deterministically).
_MAX_POINTS = 20_000


@dataclass
class StageReport:
    """One stage: its class, uid, who converts it, and what happened to it."""

    class_name: str
    uid: str
    converter: str  # onnxmltools | sparkonnx | user | none
    status: str
    reason: str


@dataclass
class ConversionReport:
    """What happened when a model was saved: the ONNX verdict, per stage and per output."""

    onnx_status: str
    onnx_reason: str
    default_runtime: str
    stages: list[StageReport]
    parity: dict[str, Any] | None
    versions: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConversionReport:
        stages = [StageReport(**s) for s in data.get("stages") or []]
        return cls(**{**data, "stages": stages})

    def to_markdown(self, plot_file: str | None = PARITY_PNG) -> str:
        """A readable page: verdict, stage table, parity table, and the plot."""
        lines = [
            "# sparkonnx conversion report",
            "",
            f"- **ONNX status:** {self.onnx_status} ({self.onnx_reason})",
            f"- **Default runtime:** {self.default_runtime}",
            "- **Versions:** "
            + ", ".join(f"{k.removesuffix('_version')} {v}" for k, v in self.versions.items()),
            "",
            "## Stages",
            "",
            "| # | stage | uid | converter | status | reason |",
            "|---|---|---|---|---|---|",
        ]
        for i, s in enumerate(self.stages):
            lines.append(
                f"| {i} | {s.class_name.rsplit('.', 1)[-1]} | {s.uid} | {s.converter} | {s.status} | "
                f"{_md_cell(s.reason)} |"
            )
        lines += ["", "## Parity", ""]
        if not self.parity:
            lines.append(f"Not measured: there is no ONNX graph to compare ({self.onnx_status}).")
        else:
            tol = self.parity.get("tolerance") or {"abs": ABS_TOL, "rel": REL_TOL}
            lines += [
                f"ONNX against Spark on {self.parity['rows']} rows of the input example; a value agrees "
                f"when |onnx − spark| ≤ {tol['abs']:g} + {tol['rel']:g}·|spark|.",
                "",
                "| output | max abs diff | max rel diff | mismatched rows |",
                "|---|---|---|---|",
            ]
            for name, o in self.parity["outputs"].items():
                lines.append(
                    f"| {name} | {o['max_abs_diff']:.3g} | {o['max_rel_diff']:.3g} | {o['mismatched_rows']} |"
                )
            if self.parity.get("edge_probes"):
                lines += ["", _describe_probes(self.parity["edge_probes"])]
        if plot_file:
            lines += ["", f"![ONNX against Spark per output]({plot_file})"]
        return "\n".join(lines) + "\n"

    def to_html(self, png: bytes | None) -> str:
        """The same page as HTML, the plot embedded (the MLflow UI shows it in its artifact view)."""
        rows = "".join(
            "<tr>"
            + "".join(
                f"<td>{html.escape(str(v))}</td>"
                for v in (i, s.class_name.rsplit(".", 1)[-1], s.uid, s.converter, s.status, s.reason)
            )
            + "</tr>"
            for i, s in enumerate(self.stages)
        )
        parity = "<p>Not measured: there is no ONNX graph to compare.</p>"
        if self.parity:
            parity_rows = "".join(
                f"<tr><td>{html.escape(name)}</td><td>{o['max_abs_diff']:.3g}</td>"
                f"<td>{o['max_rel_diff']:.3g}</td><td>{o['mismatched_rows']}</td></tr>"
                for name, o in self.parity["outputs"].items()
            )
            parity = (
                f"<p>ONNX against Spark on {self.parity['rows']} rows.</p><table><tr><th>output</th>"
                "<th>max abs diff</th><th>max rel diff</th><th>mismatched rows</th></tr>"
                f"{parity_rows}</table>"
            )
            if self.parity.get("edge_probes"):
                parity += f"<p>{html.escape(_describe_probes(self.parity['edge_probes']))}</p>"
        image = ""
        if png:
            image = f'<img alt="parity plot" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
        return (
            "<!doctype html><html><head><meta charset='utf-8'><title>sparkonnx conversion report</title>"
            "<style>body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:2px 6px}"
            "table{border-collapse:collapse}img{max-width:100%}</style></head><body>"
            f"<h1>sparkonnx conversion report</h1><p><b>ONNX status:</b> {html.escape(self.onnx_status)} "
            f"({html.escape(self.onnx_reason)})<br>"
            f"<b>Default runtime:</b> {html.escape(self.default_runtime)}"
            "</p><h2>Stages</h2><table><tr><th>#</th><th>stage</th><th>uid</th><th>converter</th>"
            f"<th>status</th><th>reason</th></tr>{rows}</table><h2>Parity</h2>{parity}{image}</body></html>"
        )


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def build_report(contract: ModelContract, analysis: Any) -> ConversionReport:
    """The report for a model being saved, from its contract and the analysis."""
    from mlflow_sparkonnx.convert.registration import converter_provider

    status = contract.onnx_status
    kept = list(analysis.pipeline.stages)
    providers = [converter_provider(s) or "none" for s in kept]
    first_missing = next((s for s, p in zip(kept, providers, strict=True) if p == "none"), None)
    stages = []
    for stage, provider in zip(kept, providers, strict=True):
        stage_status, reason = _stage_verdict(status, analysis.onnx_reason, provider, first_missing)
        stages.append(StageReport(_class_name(stage), stage.uid, provider, stage_status, reason))
    for stage in analysis.dropped_stages:
        stages.append(
            StageReport(
                _class_name(stage),
                stage.uid,
                converter_provider(stage) or "none",
                "dropped",
                "not needed for the outputs; not run when scoring",
            )
        )
    return ConversionReport(
        onnx_status=status.value,
        onnx_reason=contract.onnx_reason,
        default_runtime=contract.default_runtime,
        stages=stages,
        parity=contract.parity,
        versions=contract.saved_with,
    )


def _stage_verdict(status: OnnxStatus, reason: str, provider: str, first_missing: Any) -> tuple[str, str]:
    if status is OnnxStatus.DISABLED:
        return "not converted", "ONNX conversion disabled (onnx=False)"
    if provider == "none":
        return "unsupported", "no ONNX converter; the model is served by Spark"
    if status is OnnxStatus.UNSUPPORTED:
        if first_missing is None:  # a converter exists but refused a stage: the reason names it
            return "unsupported", f"a converter refused the pipeline: {reason}"
        return "not converted", f"converter available, but stage {first_missing.uid} has none"
    if status is OnnxStatus.VERIFIED:
        return "verified", "converted; the whole graph agrees with Spark"
    if status is OnnxStatus.MISMATCH:
        return (
            "mismatch",
            f"in the graph whose outputs differ from Spark (checked per output, not per stage): {reason}",
        )
    return status.value, f"the pipeline's conversion failed: {reason}"


def _class_name(stage: Any) -> str:
    return f"{type(stage).__module__}.{type(stage).__name__}"


def report_from_contract(contract: ModelContract) -> ConversionReport:
    """A report rebuilt from MLmodel alone (a model saved before reports were written)."""
    status = contract.onnx_status.value
    stages = [
        StageReport(name, uid, "unknown", status, "recorded before conversion reports")
        for name, uid in zip(contract.stages, contract.stage_uids, strict=False)
    ]
    stages += [
        StageReport(name, "", "unknown", "dropped", "not run when scoring")
        for name in contract.dropped_stages
    ]
    return ConversionReport(
        onnx_status=status,
        onnx_reason=contract.onnx_reason,
        default_runtime=contract.default_runtime,
        stages=stages,
        parity=contract.parity,
        versions=contract.saved_with,
    )


def read_report(model_dir: str, contract: ModelContract) -> ConversionReport:
    """The model's saved report, or one rebuilt from MLmodel when it has none."""
    path = os.path.join(model_dir, REPORT_DIR, REPORT_JSON)
    if not os.path.exists(path):
        return report_from_contract(contract)
    with open(path, encoding="utf-8") as f:
        return ConversionReport.from_dict(json.load(f))


def write_report(directory: str, contract: ModelContract, analysis: Any) -> ConversionReport:
    """Write ``report.json``, ``report.md``, ``report.html`` and ``parity.png`` into ``directory``."""
    report = build_report(contract, analysis)
    os.makedirs(directory, exist_ok=True)
    png_path = os.path.join(directory, PARITY_PNG)
    png = None
    try:
        write_parity_plot(png_path, analysis.predictions, analysis.onnx_predictions, analysis.outputs, report)
    except ImportError:
        _logger.warning("matplotlib is not installed: the conversion report has no parity plot.")
    else:
        with open(png_path, "rb") as f:
            png = f.read()
    with open(os.path.join(directory, REPORT_JSON), "w", encoding="utf-8") as f:
        json.dump(report.to_dict(), f, indent=2, allow_nan=True)
    with open(os.path.join(directory, REPORT_MD), "w", encoding="utf-8") as f:
        f.write(report.to_markdown(PARITY_PNG if png else None))
    with open(os.path.join(directory, REPORT_HTML), "w", encoding="utf-8") as f:
        f.write(report.to_html(png))
    return report


def _describe_probes(probes: dict[str, Any]) -> str:
    """One sentence on the edge probes: how many rows, each outcome, the divergence if any."""
    sentence = (
        f"Edge probes: {probes['rows']} rows beyond the example (nulls, NaN, ±inf, split points, unseen "
        f"strings): {probes['scored']} scored, {probes['dropped']} dropped, {probes['refused']} refused"
    )
    if probes.get("divergence"):
        return f"{sentence}; diverges from Spark: {probes['divergence']}."
    return f"{sentence}, as Spark does."


def write_parity_plot(
    path: str,
    spark_result: pd.DataFrame | None,
    onnx_result: pd.DataFrame | None,
    outputs: list[Any],
    report: ConversionReport,
) -> None:
    """ONNX against Spark per output (top) and the per-row difference against the tolerance (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    if onnx_result is None or spark_result is None or not outputs:
        fig, ax = plt.subplots(figsize=(7, 2.5))
        ax.axis("off")
        ax.text(
            0.5,
            0.5,
            f"No ONNX outputs to compare: {report.onnx_status}\n{_wrap(report.onnx_reason)}",
            ha="center",
            va="center",
        )
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return
    fig, axes = plt.subplots(2, len(outputs), figsize=(4.8 * len(outputs), 8.5), squeeze=False)
    for i, col in enumerate(outputs):
        _plot_output(axes[0, i], axes[1, i], col, spark_result[col.name], onnx_result[col.name])
    fig.suptitle(f"ONNX vs Spark on {len(spark_result)} parity rows: {report.onnx_status}")
    # Fixed margins (inches) fit the labels above: tight_layout measured ~40% of each save_model's plot.
    fig_width = 4.8 * len(outputs)
    fig.subplots_adjust(
        left=0.85 / fig_width, right=1 - 0.2 / fig_width, bottom=0.07, top=0.92, wspace=0.45, hspace=0.3
    )
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _wrap(text: str, width: int = 80) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


#: Values plotted: beyond it matplotlib cannot compute an axis range (differences overflow to inf).
_PLOT_LIMIT = 1e300


def _plot_output(top: Any, bottom: Any, col: Any, spark: pd.Series, onnx: pd.Series) -> None:
    pairs = [(s, o) for s, o in zip(spark, onnx, strict=True) if s is not None and o is not None]
    numeric = col.is_numeric or (col.is_sequence and col.spark_type != "array<string>")
    if not numeric:
        equal = sum(1 for s, o in pairs if s == o)
        top.bar(["equal", "different"], [equal, len(pairs) - equal], color=["tab:green", "tab:red"])
        top.set_title(f"{col.name} ({col.spark_type}): rows equal")
        bottom.axis("off")
        return
    spark_rows = [np.asarray(s, dtype="float64").ravel() for s, _ in pairs]  # nested (LSH hashes): flat
    onnx_rows = [np.asarray(o, dtype="float64").ravel() for _, o in pairs]
    width = max((len(r) for r in spark_rows), default=1)
    same_shape = [i for i, (s, o) in enumerate(zip(spark_rows, onnx_rows, strict=True)) if s.shape == o.shape]
    s_flat = np.concatenate([spark_rows[i] for i in same_shape]) if same_shape else np.empty(0)
    o_flat = np.concatenate([onnx_rows[i] for i in same_shape]) if same_shape else np.empty(0)
    component = np.concatenate([np.arange(len(spark_rows[i])) for i in same_shape]) if same_shape else s_flat
    if len(s_flat) > _MAX_POINTS:
        keep = np.random.default_rng(0).choice(len(s_flat), _MAX_POINTS, replace=False)
        s_flat, o_flat, component = s_flat[keep], o_flat[keep], component[keep]
    with np.errstate(invalid="ignore"):  # beyond ±1e300 the axis range itself overflows
        finite = (np.abs(s_flat) < _PLOT_LIMIT) & (np.abs(o_flat) < _PLOT_LIMIT)
    top.scatter(s_flat[finite], o_flat[finite], s=8, c=component[finite], cmap="tab10", alpha=0.7)
    if finite.any():
        low = float(min(s_flat[finite].min(), o_flat[finite].min()))
        high = float(max(s_flat[finite].max(), o_flat[finite].max()))
        top.plot([low, high], [low, high], color="grey", linewidth=0.8, linestyle="--")
    top.set_xlabel("Spark")
    top.set_ylabel("ONNX")
    top.set_title(f"{col.name} ({col.spark_type}{f', {width} values' if width > 1 else ''})")

    diffs = np.array([_row_diff(s, o) for s, o in zip(spark_rows, onnx_rows, strict=True)])
    with np.errstate(invalid="ignore"):
        allowed = np.array([ABS_TOL + REL_TOL * float(np.nanmax(np.abs(s), initial=0.0)) for s in spark_rows])
    finite_diffs = diffs[np.abs(diffs) < _PLOT_LIMIT]
    top_limit = max(ABS_TOL * 10, float(finite_diffs.max(initial=0.0)) * 3)
    bad = diffs > allowed
    rows = np.arange(len(diffs))
    bottom.scatter(rows[~bad], diffs[~bad], s=8, color="tab:blue", label="within tolerance")
    if bad.any():
        bottom.scatter(rows[bad], np.minimum(diffs[bad], top_limit), s=12, color="tab:red", label="differs")
    bottom.axhline(ABS_TOL, color="tab:orange", linewidth=0.8, label=f"tolerance floor {ABS_TOL:g}")
    bottom.set_yscale("symlog", linthresh=1e-9)
    bottom.set_ylim(0, top_limit)
    bottom.set_xlabel("parity row")
    bottom.set_ylabel("max |ONNX − Spark| in the row")
    bottom.set_title(f"{int(bad.sum())} of {len(diffs)} rows differ; max {float(diffs.max(initial=0)):.2g}")
    bottom.legend(fontsize=7, loc="upper right")


def _row_diff(spark: np.ndarray, onnx: np.ndarray) -> float:
    """The largest |onnx − spark| in a row; NaN against NaN is 0, NaN against a number is inf."""
    if spark.shape != onnx.shape:
        return float("inf")
    if not len(spark):
        return 0.0
    with np.errstate(invalid="ignore"):
        diff = np.abs(onnx - spark)
    both_nan = np.isnan(spark) & np.isnan(onnx)
    same_inf = np.isinf(spark) & (spark == onnx)
    diff = np.where(both_nan | same_inf, 0.0, diff)
    return float(np.where(np.isnan(diff), np.inf, diff).max())
