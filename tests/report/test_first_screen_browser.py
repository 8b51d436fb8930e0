"""The first screen of the rendered report, as a researcher opens it (issue 18): a 1300 x 1000 headless Chromium
window shows the title with the stage, the verdict (the critical finding in words) and the key figure.

The seed's run is the ``make report`` demo (trained here, about three minutes on two cores); the researcher's
first-stage run (a log from step 35,000 whose discriminator never trained) has a critical finding to show.
Each screenshot is kept under the test's tmp dir, and its path printed (``pytest -s`` shows it).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers.browser import ARGS, BROWSER_MARKS, CHROMIUM
from tests.helpers.notebooks import key_figure_output
from tests.helpers.researcher import resumed_at_35000

pytestmark = BROWSER_MARKS
WIDTH, HEIGHT = 1300, 1000


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
