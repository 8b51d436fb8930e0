"""The rendered HTML report opened in headless Chromium with the network cut: every figure renders.

Every request that is not a file:// or data: URL is aborted and recorded (there must be none); each
<img> must have decoded (naturalWidth > 0) and its area of a real screenshot must not be blank.
"""
from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.helpers.browser import ARGS, BROWSER_MARKS, CHROMIUM
from tests.helpers.logfactory import two_launch_log

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def report_html(tmp_path_factory) -> Path:
    from radiodiff_lib.report import render_notebook

    tmp = tmp_path_factory.mktemp("browser")
    two_launch_log(tmp / "logs")
    return render_notebook("analyze", {"log_paths": [str(tmp / "logs")], "window": 10}, out_dir=tmp / "out").html


def test_report_renders_offline_with_every_figure(report_html, tmp_path):
    from PIL import Image, ImageStat
    from playwright.sync_api import sync_playwright

    blocked: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1100, "height": 900}, offline=True)

        def guard(route):
            url = route.request.url
            if url.startswith(("file:", "data:")):
                route.continue_()
            else:
                blocked.append(url)
                route.abort()

        context.route("**/*", guard)
        page = context.new_page()
        page.goto(report_html.as_uri(), wait_until="load")
        images = page.locator("img")
        count = images.count()
        assert count >= 10  # zoom + one per metric + overview x3 + decomposition + discriminator
        widths = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        assert all(c and w > 0 and h > 0 for c, w, h in widths), widths
        shot = Image.open(io.BytesIO(page.screenshot(full_page=True))).convert("L")
        shot.save(tmp_path / "report.png")
        blank = []
        for i in range(count):
            box = images.nth(i).bounding_box()
            assert box
            assert box["width"] > 100
            assert box["height"] > 50
            crop = shot.crop((int(box["x"]), int(box["y"]), int(box["x"] + box["width"]),
                              int(box["y"] + box["height"])))
            if ImageStat.Stat(crop).stddev[0] < 5:  # a plain white or grey rectangle
                blank.append(i)
        text = page.inner_text("body")
        browser.close()
    assert blocked == [], f"the report tried to load {blocked}"
    assert blank == [], f"images {blank} render blank"
    assert "1. Summary" in text
    assert "13. Appendix" in text
