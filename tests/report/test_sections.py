"""The analysis report's sections, rendered: the latest sample beside the key figure; the report of the
researcher's runs (issue 18: a restart shown as a restart, a run resumed from step 35,000 said so at the top,
the second stage's scale as RadioDiff applies it, the LR printed as 0 reconstructed; one notebook render per
run, so slow); its first screen in a 1300 x 1000 headless Chromium window (the title with the stage, the
verdict with the critical finding in words, the key figure; the demo run of ``make report`` trained here,
about three minutes on two cores; each screenshot kept under the test's tmp dir)."""
from __future__ import annotations

import html as html_lib
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from radiodiff_lib.report import render_notebook
from tests.helpers.browser import ARGS, CHROMIUM, needs_browser
from tests.helpers.notebooks import error_outputs, key_figure_output, records
from tests.helpers.researcher import finetune_then_fresh, resumed_at_35000

WIDTH, HEIGHT = 1300, 1000  # the browser window of a researcher's first screen


def test_the_latest_sample_beside_the_key_figure_is_the_newest_milestone(late, tmp_path):
    from PIL import Image

    from radiodiff_lib.report import sections
    run, a, want = late
    folder = want["log"].parent
    for name in ("sample-3.png", "sample-12.png", "gt-sample-20.png", "sample-0_50.png"):
        Image.new("L", (8, 8), 128).save(folder / name)
    path, milestone = sections.latest_sample(run)
    assert (path.name, milestone) == ("sample-12.png", 12)  # gt- and test_before samples are not RadioDiff's sample-<m>
    image, caption = sections.sample_image(run)
    assert image.shape == (8, 8)
    assert caption == "latest sample: sample-12.png, milestone 12 (step 60,000)"


def test_an_oversized_sample_is_left_out_not_raised(tmp_path, monkeypatch):
    """A sample-*.png past Pillow's decompression-bomb limit (lowered here, so the file stays small): the key figure
    goes without it instead of the report's first cell failing."""
    from radiodiff_lib.logs import read_run
    from radiodiff_lib.report import sections

    resumed_at_35000(tmp_path)
    Image.new("L", (64, 64), 128).save(tmp_path / "sample-7.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 4,096 pixels: over twice the limit, Pillow's error
    run = read_run(tmp_path)
    assert sections.latest_sample(run)[1] == 7
    assert sections.sample_image(run) == (None, None)


def _render(folder, out):
    paths = render_notebook("analyze", {"log_paths": [str(folder)]}, out_dir=out)
    assert error_outputs(paths.ipynb) == []
    html = paths.html.read_text()
    alt, png = key_figure_output(paths.ipynb)
    # the first figure of the HTML is the one the notebook displayed as its key figure
    assert html.index('src="data:image/png;base64,') == html.index(f'src="data:image/png;base64,{png}')
    return records(paths.ipynb)["analysis"], html_lib.unescape(html), alt


@pytest.mark.slow
def test_restart_in_the_rendered_report(tmp_path):
    want = finetune_then_fresh(tmp_path / "radiodiff_LDM")
    a, html, alt = _render(tmp_path / "radiodiff_LDM", tmp_path / "out")
    assert alt == "key figure: loss_simple of this second-stage (latent diffusion) run"
    (b,) = a["resumes"]
    assert b["kind"] == "restart"
    assert a["set_aside"][0]["file"] == str(want["tune"])
    assert a["entries"] == want["fresh_entries"]
    assert a["stage_settings"]["scale"]["mode"] == "as written"
    assert "Second-stage (latent diffusion) run" in html
    assert "### Restart at step 0" not in html
    assert "Restart at step 0" in html
    assert "no metric jumps" not in html
    assert "Resume at step 0" not in html
    assert "12.5x" in html
    assert "scale_factor 0.3 is used as written and never measured" in html
    assert html.index("The folder holds more than one experiment") < html.index("1. Summary")


@pytest.mark.slow
def test_late_start_critical_finding_and_reconstructed_lr_in_the_rendered_report(tmp_path):
    folder = tmp_path / "radiodiff_Vae"
    resumed_at_35000(folder)
    ramp = (np.linspace(0, 255, 64 * 128).reshape(64, 128)).astype("uint8")
    for milestone in (6, 29):  # RadioDiff's reconstructions beside its checkpoints
        Image.fromarray(ramp).save(folder / f"sample-{milestone}.png")
    a, html, alt = _render(folder, tmp_path / "out")
    assert alt == "key figure: train/rec_loss of this first-stage (vae) run and its latest sample"
    assert a["run_start"]["step"] == 35000
    assert a["run_start"]["resumed_from_milestone"] == 7
    assert a["lr_schedule"]["reconstructed"]["agrees_with_log"] is True
    top = html[:html.index("1. Summary")]
    assert "First-stage (VAE) run" in top
    assert "Where the run began:" in top
    assert "resumed from model-7.pt" in top
    assert "CRITICAL: The discriminator was never trained." in top
    assert top.index("CRITICAL") < top.index("Warning: ")
    assert top.index("CRITICAL") < top.index('src="data:image/png;base64,')  # the findings, then the figure
    assert "reconstructed from the config as lr x max((1 - step / train_num_steps) ** 0.95, min_lr)" in html


def _first_screen(html: Path, ipynb: Path, shot: Path) -> dict:
    """Open the report at 1300 x 1000 (offline), keep a screenshot of the first screen, and return where the
    title, the verdict box and the key figure sit, with their text. The key figure is the image whose data is
    the figure the executed notebook displayed with the alt text "key figure: ..." (the HTML template drops
    the alt text)."""
    alt, png = key_figure_output(ipynb)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        page.context.set_offline(True)
        page.goto(html.as_uri(), wait_until="load")
        page.screenshot(path=str(shot))  # the viewport only: what the first screen shows
        title = page.locator("h1").first
        verdict = page.locator("blockquote").first
        figure = page.locator(f'img[src="data:image/png;base64,{png}"]').first
        got = {"title": title.inner_text(), "title_box": title.bounding_box(),
               "verdict": verdict.inner_text(), "verdict_box": verdict.bounding_box(),
               "figure_alt": alt, "figure_box": figure.bounding_box(),
               "figure_loaded": figure.evaluate("i => i.complete && i.naturalWidth > 0")}
        browser.close()
    print(f"first screen of {html}: {shot}")
    return got


def _on_first_screen(box: dict | None) -> bool:
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= HEIGHT and box["width"] > 0


@pytest.fixture(scope="module")
def demo_paths(tmp_path_factory) -> tuple[Path, Path]:
    from radiodiff_lib.report import demo

    tmp = tmp_path_factory.mktemp("demo")
    here = Path.cwd()
    os.chdir(tmp)  # the demo trains into runs/demo-report of the working directory
    try:
        paths = demo.demo_report(out_dir="reports")
        return tmp / paths.html, tmp / paths.ipynb
    finally:
        os.chdir(here)


@needs_browser
def test_first_screen_of_the_demo_report(demo_paths, tmp_path):
    got = _first_screen(*demo_paths, tmp_path / "first_screen_demo.png")
    assert (tmp_path / "first_screen_demo.png").stat().st_size > 0
    assert got["title"].startswith("First-stage (VAE) run")
    assert _on_first_screen(got["title_box"])
    assert got["verdict"].startswith("Verdict: ")
    assert "No critical finding" in got["verdict"]  # the demo's discriminator trains: said in words
    assert _on_first_screen(got["verdict_box"])
    assert got["figure_alt"].startswith("key figure: train/rec_loss")
    assert got["figure_loaded"]
    assert _on_first_screen(got["figure_box"])


@needs_browser
def test_first_screen_shows_the_critical_finding_in_words(tmp_path):
    from radiodiff_lib.report import render_notebook

    resumed_at_35000(tmp_path / "radiodiff_Vae")
    paths = render_notebook("analyze", {"log_paths": [str(tmp_path / "radiodiff_Vae")]}, out_dir=tmp_path / "out")
    got = _first_screen(paths.html, paths.ipynb, tmp_path / "first_screen_critical.png")
    assert got["title"].startswith("First-stage (VAE) run")
    assert "CRITICAL: The discriminator was never trained." in got["verdict"]
    assert _on_first_screen(got["verdict_box"])
    assert got["figure_alt"].startswith("key figure: train/rec_loss")
    assert got["figure_box"]["y"] < HEIGHT  # the figure starts on the first screen, below the findings
