"""The conversion report written with every model: report.json, report.md/html and parity.png."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
import yaml

from mlflow_sparkonnx.flavor.report import PARITY_PNG, REPORT_DIR, REPORT_HTML, REPORT_JSON, REPORT_MD

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def load(path: str) -> tuple[dict, dict]:
    with open(os.path.join(path, "MLmodel")) as f:
        conf = yaml.safe_load(f)["flavors"]["sparkonnx"]
    with open(os.path.join(path, REPORT_DIR, REPORT_JSON)) as f:
        return conf, json.load(f)


def read_png(path: str) -> np.ndarray:
    from matplotlib import image

    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    return image.imread(path)


@pytest.mark.parametrize("name", ["lr", "rf", "glr", "sql"])
def test_every_saved_model_has_the_report_files(saved_models, name):
    files = set(os.listdir(os.path.join(saved_models[name], REPORT_DIR)))
    assert files == {REPORT_JSON, REPORT_MD, REPORT_HTML, PARITY_PNG}
    conf, report = load(saved_models[name])
    assert report["onnx_status"] == conf["onnx_status"]
    assert report["default_runtime"] == conf["default_runtime"]
    assert report["parity"] == conf["parity"]
    # Every stage MLmodel knows about, kept then dropped, by class and uid.
    kept = [s for s in report["stages"] if s["status"] != "dropped"]
    assert [s["class_name"] for s in kept] == conf["stages"]
    assert [s["uid"] for s in kept] == conf["stage_uids"]
    assert [s["class_name"] for s in report["stages"] if s["status"] == "dropped"] == conf["dropped_stages"]


def test_verified_pipeline_names_our_converters(saved_models):
    _, report = load(saved_models["lr"])
    assert report["onnx_status"] == "verified"
    by_class = {s["class_name"].rsplit(".", 1)[-1]: s for s in report["stages"]}
    assert by_class["LogisticRegressionModel"]["converter"] == "sparkonnx"
    assert by_class["OneHotEncoderModel"]["converter"] == "sparkonnx"
    assert all(s["status"] == "verified" for s in report["stages"] if s["status"] != "dropped")
    dropped = [s for s in report["stages"] if s["status"] == "dropped"]
    assert len(dropped) == 1 and "not run when scoring" in dropped[0]["reason"]


def test_unsupported_stage_is_named_with_the_construct(saved_models):
    _, report = load(saved_models["sql"])
    first, *rest = report["stages"]
    assert first["class_name"].endswith("SQLTransformer")
    assert (first["converter"], first["status"]) == ("sparkonnx", "unsupported")
    assert "REVERSE" in first["reason"].upper()
    # The converter refused the whole pipeline; every stage carries that reason.
    assert all(s["status"] == "unsupported" and "REVERSE" in s["reason"].upper() for s in rest)
    assert report["parity"] is None


def test_mismatch_report_carries_the_figures(saved_models):
    conf, report = load(saved_models["glr"])  # the pipeline whose graph disagrees with Spark
    assert report["onnx_status"] == "mismatch"
    kept = [s for s in report["stages"] if s["status"] != "dropped"]
    assert all(s["converter"] in {"onnxmltools", "sparkonnx", "user"} for s in kept)
    assert all(s["status"] == "mismatch" and "prediction" in s["reason"] for s in kept)
    mismatched = conf["parity"]["outputs"]["prediction"]["mismatched_rows"]
    assert mismatched > 0
    md = open(os.path.join(saved_models["glr"], REPORT_DIR, REPORT_MD)).read()
    assert "| prediction |" in md and f"| {mismatched} |" in md


@pytest.mark.parametrize("name,outputs", [("lr", 2), ("glr", 1)])
def test_parity_plot_is_a_png_with_one_column_per_output(saved_models, name, outputs):
    """Two rows of panels (ONNX vs Spark, and the per-row difference) per output, 4.8 in x 100 dpi each."""
    pixels = read_png(os.path.join(saved_models[name], REPORT_DIR, PARITY_PNG))
    height, width = pixels.shape[:2]
    assert (width, height) == (480 * outputs, 850)
    assert pixels[..., :3].std() > 0.05  # drawn on, not blank


def test_unsupported_model_still_gets_a_plot_saying_why(saved_models):
    pixels = read_png(os.path.join(saved_models["sql"], REPORT_DIR, PARITY_PNG))
    assert pixels.shape[:2] == (250, 700)


def test_html_page_embeds_the_plot(saved_models):
    page = open(os.path.join(saved_models["lr"], REPORT_DIR, REPORT_HTML)).read()
    assert "data:image/png;base64," in page and "LogisticRegressionModel" in page


#: Where MLflow's UI shows an artifact: the pane beside the run's side panel is about this wide.
ARTIFACT_PANE_PX = 900
_CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
_MEASURE = """<script>
const status = [...document.querySelectorAll("th")].find(th => th.textContent.trim() === "status");
const reason = [...document.querySelectorAll("th")].find(th => th.textContent.trim() === "reason");
const parity = [...document.querySelectorAll("h2")].find(h => h.textContent.trim() === "Parity");
document.body.dataset.layout = JSON.stringify({
  pageWidth: document.documentElement.scrollWidth,
  statusRight: status.getBoundingClientRect().right,
  reasonRight: reason.getBoundingClientRect().right,
  parityTop: parity.getBoundingClientRect().top,
});
</script>"""


@pytest.mark.skipif(_CHROMIUM is None, reason="needs Chromium (scripts/dev.sh test installs it with apt)")
@pytest.mark.parametrize("name", ["lr", "sql"])
def test_html_report_fits_the_mlflow_artifact_pane_in_chromium(saved_models, name, tmp_path):
    """Laid out by a real browser 900 px wide: no sideways scrolling, the status and reason columns in
    view, the parity section within the first screen."""
    with open(os.path.join(saved_models[name], REPORT_DIR, REPORT_HTML), encoding="utf-8") as f:
        page = f.read()
    measured = tmp_path / "report.html"
    measured.write_text(page.replace("</body>", _MEASURE + "</body>"), encoding="utf-8")
    dom = subprocess.run(
        [
            _CHROMIUM,
            *("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"),
            *("--disable-background-networking", "--disable-component-update", "--hide-scrollbars"),
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--window-size={ARTIFACT_PANE_PX},1000",
            "--dump-dom",
            measured.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    layout = json.loads(html.unescape(re.search(r'data-layout="([^"]*)"', dom).group(1)))
    assert layout["pageWidth"] <= ARTIFACT_PANE_PX, layout
    assert layout["statusRight"] <= ARTIFACT_PANE_PX and layout["reasonRight"] <= ARTIFACT_PANE_PX, layout
    assert layout["parityTop"] < 1000, layout
