"""analyze.ipynb and compare.ipynb in a real JupyterLab driven by headless Chromium: Run All, move the
smoothing slider, pick runs and a metric, and see the figure change (adapted from
shared/recipes/jupyterlab_widget_test.py)."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat

from radiodiff_lib.report.params import notebooks_dir
from tests.helpers.browser import ARGS, BROWSER_MARKS, CHROMIUM
from tests.helpers.logfactory import two_launch_log
from tests.helpers.runpairs import write_run
from tests.helpers.sweep_runs import known_quality_run, train_base

pytestmark = BROWSER_MARKS


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_lab(root: Path) -> tuple[subprocess.Popen, str]:
    """JupyterLab with isolated config folders, no token, no news pop-up; (process, base URL)."""
    cfg = root / "_jcfg"
    notif = cfg / "lab/user-settings/@jupyterlab/apputils-extension/notification.jupyterlab-settings"
    notif.parent.mkdir(parents=True, exist_ok=True)
    notif.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(cfg), JUPYTER_RUNTIME_DIR=str(root / "_jrt"),
               JUPYTERLAB_SETTINGS_DIR=str(cfg / "lab/user-settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(cfg / "lab/workspaces"))
    env.pop("RADIODIFF_HEADLESS", None)  # this is the interactive case
    port = _free_port()
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--ServerApp.root_dir={root / 'nb'}", "--IdentityProvider.token=", "--ServerApp.password=",
           "--LabApp.news_url=None", "--allow-root"]
    log = open(root / "lab.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("jupyter lab exited:\n" + (root / "lab.log").read_text())
        try:
            urllib.request.urlopen(url + "/api/status", timeout=2)
            return proc, url
        except OSError:
            time.sleep(0.25)
    proc.terminate()
    raise TimeoutError("jupyter lab did not come up:\n" + (root / "lab.log").read_text())


def _notebook_for(root: Path, logs: Path) -> None:
    """analyze.ipynb with log_paths pointing at the generated run (other parameters as shipped)."""
    nb = nbformat.read(str(notebooks_dir() / "analyze.ipynb"), as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    lines = [f"log_paths = [{str(logs)!r}]" if ln.startswith(("log_paths =", "log_paths:")) else
             "window = 10" if ln.startswith("window =") else ln for ln in cell.source.splitlines()]
    cell.source = "\n".join(lines)
    nbformat.write(nb, str(root / "nb" / "analyze.ipynb"))


def test_smoothing_slider_redraws_figure(tmp_path):
    (tmp_path / "nb").mkdir()
    two_launch_log(tmp_path / "logs")
    _notebook_for(tmp_path, tmp_path / "logs")
    _in_lab(tmp_path, _drive)


def _compare_notebook_for(root: Path, runs: list[Path]) -> None:
    """compare.ipynb with runs pointing at two generated runs (other parameters as shipped)."""
    nb = nbformat.read(str(notebooks_dir() / "compare.ipynb"), as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source = "\n".join(f"runs = {[str(r) for r in runs]!r}" if ln.startswith(("runs =", "runs:")) else ln
                            for ln in cell.source.splitlines())
    nbformat.write(nb, str(root / "nb" / "compare.ipynb"))


def test_run_picker_and_metric_change_the_comparison_figure(tmp_path):
    (tmp_path / "nb").mkdir()
    runs = [write_run(tmp_path / "runs" / name, seed=k, scale=1.0 + 0.3 * k, end=3000)
            for k, name in enumerate(("alpha", "beta", "gamma"))]
    _compare_notebook_for(tmp_path, runs[:2])
    _in_lab(tmp_path, _drive_compare)


def _checkpoints_notebook_for(root: Path, run: Path) -> None:
    """checkpoints.ipynb swept small over the generated run (other parameters as shipped)."""
    nb = nbformat.read(str(notebooks_dir() / "checkpoints.ipynb"), as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    small = {"run =": f"run = {str(run)!r}", "weights =": 'weights = "model"', "maps:": "maps: int | None = 6",
             "latent_maps:": "latent_maps: int | None = 4", "bootstrap =": "bootstrap = 300"}
    cell.source = "\n".join(next((v for k, v in small.items() if ln.startswith(k)), ln)
                            for ln in cell.source.splitlines())
    nbformat.write(nb, str(root / "nb" / "checkpoints.ipynb"))


def test_checkpoint_picker_redraws_gallery_and_latent_histograms(tmp_path):
    (tmp_path / "nb").mkdir()
    known = known_quality_run(tmp_path / "run", train_base(tmp_path / "base"))
    _checkpoints_notebook_for(tmp_path, known["base"].parent)
    _in_lab(tmp_path, _drive_checkpoints)


def _in_lab(tmp_path: Path, drive) -> None:
    """Start JupyterLab on tmp_path/nb, drive it with a headless Chromium, stop it; a screenshot on failure."""
    import playwright.sync_api as sync
    expect = sync.expect
    expect.set_options(timeout=120_000)  # Run All of the whole report on 2 shared cores
    proc, url = _start_lab(tmp_path)
    try:
        with sync.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(120_000)
            try:
                drive(page, url, expect)
            except Exception:
                page.screenshot(path=str(tmp_path / "lab_FAIL.png"))
                print("screenshot:", tmp_path / "lab_FAIL.png")
                raise
            browser.close()
    finally:
        proc.terminate()  # the server shuts its kernels down on SIGTERM
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    shutil.rmtree(tmp_path / "_jcfg", ignore_errors=True)


def _run_all(page, url: str, notebook: str, expect) -> None:
    """Open a notebook in JupyterLab and run all its cells from the Run menu."""
    page.goto(f"{url}/lab/tree/{notebook}")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell")
    # the status bar, not the toolbar indicator, says when the kernel is really attached
    expect(page.locator("#jp-main-statusbar")).to_contain_text("| Idle")
    page.locator('.lm-MenuBar-itemLabel:text-is("Run")').click()
    page.locator('.lm-Menu-itemLabel:text-is("Run All Cells")').click()


def _drive(page, url: str, expect) -> None:
    _run_all(page, url, "analyze.ipynb", expect)

    explorer = page.locator(".jp-NotebookPanel .widget-vbox:has(.widget-label:text-is('smoothing'))").last
    slider = explorer.locator(".widget-slider:has(.widget-label:text-is('smoothing'))")
    expect(slider).to_be_visible()
    img = explorer.locator(".widget-output .jp-RenderedImage img")
    expect(img).to_have_count(1)
    expect(slider.locator(".widget-readout")).to_have_text("0.60")
    before = img.get_attribute("src")

    handle = slider.locator(".noUi-handle")
    handle.focus()
    page.keyboard.press("ArrowRight")
    expect(slider.locator(".widget-readout")).to_have_text("0.61")
    expect(img).not_to_have_attribute("src", before)  # figure redrawn with the new smoothing
    after_keys = img.get_attribute("src")

    readout = slider.locator(".widget-readout")  # type a value, as a user would
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("0.95")
    page.keyboard.press("Enter")
    expect(slider.locator(".widget-readout")).to_have_text("0.95")
    expect(img).not_to_have_attribute("src", after_keys)
    expect(img).to_have_count(1)
    # the rest of the report ran too (appendix at the end), with no error output anywhere
    # (in the rendered Markdown: the parameters cell's source shows "thresholds: dict[str, float]" too)
    expect(page.locator(".jp-NotebookPanel .jp-RenderedMarkdown").get_by_text("Thresholds:")).to_be_visible()
    assert page.locator(".jp-NotebookPanel .jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr']").count() == 0


def _drive_compare(page, url: str, expect) -> None:
    _run_all(page, url, "compare.ipynb", expect)

    explorer = page.locator(".jp-NotebookPanel .widget-vbox:has(.widget-label:text-is('runs'))").last
    picker = explorer.locator(".widget-select-multiple select")
    expect(picker).to_be_visible()
    img = explorer.locator(".widget-output .jp-RenderedImage img")
    expect(img).to_have_count(1)
    before = img.get_attribute("src")
    options = picker.locator("option")
    expect(options).to_have_count(3)  # the three runs of the folder, two of them picked
    values = [options.nth(i).get_attribute("value") for i in range(3)]
    picker.select_option(value=values)  # pick the third run too
    expect(img).not_to_have_attribute("src", before)  # a third curve drawn
    after_pick = img.get_attribute("src")
    explorer.locator(".widget-status, .widget-html").filter(has_text="3 runs read").first.wait_for()

    metric = explorer.locator(".widget-dropdown:has(.widget-label:text-is('metric')) select")
    metric.select_option(label="train/kl_loss")
    expect(img).not_to_have_attribute("src", after_pick)  # another metric drawn
    expect(img).to_have_count(1)
    expect(page.locator(".jp-NotebookPanel").get_by_text("Notebook parameters:")).to_be_visible()
    assert page.locator(".jp-NotebookPanel .jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr']").count() == 0


def _drive_checkpoints(page, url: str, expect) -> None:
    _run_all(page, url, "checkpoints.ipynb", expect)

    picker = page.locator(".jp-NotebookPanel .widget-vbox:has(.widget-label:text-is('checkpoint'))").last
    select = picker.locator(".widget-dropdown select")
    expect(select).to_be_visible()
    images = picker.locator(".widget-output .jp-RenderedImage img")
    expect(images).to_have_count(2)  # the gallery and the latent histograms
    gallery, histograms = images.nth(0).get_attribute("src"), images.nth(1).get_attribute("src")
    options = select.locator("option")
    expect(options).to_have_count(4)  # the four scored checkpoints (the corrupt one is not offered)
    picked = select.input_value()
    # ipywidgets' option value is its label; an <option>'s innerText is empty in headless Chromium
    values = [options.nth(i).get_attribute("value") for i in range(4)]
    other = next(v for v in values if v != picked and v.startswith("model-4.pt"))
    select.select_option(value=other)  # the most perturbed checkpoint: another gallery, other latents
    expect(images.nth(0)).not_to_have_attribute("src", gallery)
    expect(images.nth(1)).not_to_have_attribute("src", histograms)
    expect(images).to_have_count(2)
    expect(page.locator(".jp-NotebookPanel").get_by_text("Notebook parameters:")).to_be_visible()
    assert page.locator(".jp-NotebookPanel .jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr']").count() == 0
