"""The export: the rendered HTML report opens offline in headless Chromium with every figure (no request
leaves the page); and issue 10, item 1: a run whose folder, file, metric and config names carry markup renders a report that
runs no script and shows every name as text, in the HTML and in the Markdown.

The page is parsed (tests.helpers.hostile.active_content), not grepped. Two layers are tested apart:
the escaping where names enter the Markdown (the whole report), and the export's sanitiser on raw
markup that never went through the escaping.
"""
from __future__ import annotations

import io
from pathlib import Path

import nbformat
import pytest
from nbconvert.filters.markdown_mistune import markdown2html_mistune

from radiodiff_lib.report import render_notebook
from radiodiff_lib.report.export import export_html, export_markdown, script_risks
from tests.helpers.browser import ARGS, CHROMIUM, needs_browser
from tests.helpers.hostile import IMG, LINK, SCRIPT, SVG, TICKS, active_content, page_text, write_hostile_run
from tests.helpers.logfactory import two_launch_log


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    run = write_hostile_run(root)
    return run, render_notebook("analyze", {"log_paths": [str(run.folder)], "window": 10}, out_dir=root / "out")


def test_html_report_runs_no_script_and_shows_every_name(hostile_report):
    run, paths = hostile_report
    html = paths.html.read_text()
    assert active_content(html) == []
    shown = flat(page_text(html))
    for name in run.names:
        assert flat(name) in shown, name
    # the whole report rendered: a figure per metric (the '$' metric name is no mathtext error), the appendix
    assert html.count('src="data:image/png;base64,') >= len(run.metrics) + 5
    assert "Appendix" in shown
    assert "Traceback" not in shown


def test_markdown_report_shows_the_names_as_text(hostile_report):
    run, paths = hostile_report
    rendered = markdown2html_mistune(paths.md.read_text())
    assert active_content(rendered.replace('src="analyze_files/', 'src="data:image/png;base64,')) == []
    shown = flat(page_text(rendered))
    for name in run.names:
        assert flat(name) in shown, name


def _notebook_with(markdown: str, html: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("# Report\n\n" + markdown))
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": markdown, "text/plain": "x"}),
                    nbformat.v4.new_output("display_data", data={"text/html": html, "text/plain": "x"})]
    nb.cells.append(cell)
    return nb


RAW = [SCRIPT, IMG, SVG, TICKS, LINK, "<iframe src=x></iframe>", "<object data=x></object>", "<embed src=x>",
       "<a href=' javascript:alert(5)'>x</a>", "<a href=\"data:text/html,<script>alert(6)</script>\">x</a>",
       "<div onclick=alert(7)>x</div>", "<math><mi xlink:href=javascript:alert(8)>x</mi></math>",
       "<form action=javascript:alert(9)><button>x</button></form>", "<meta http-equiv=refresh content='0;url=x'>",
       "<base href=javascript:alert(10)//>", "<style>@import 'x'</style><link rel=stylesheet href=x>"]


def test_export_drops_raw_markup_that_skipped_the_escaping(tmp_path):
    """Defence in depth: markup that reached a notebook output unescaped is still made inert text."""
    attacks = "\n\n".join(RAW)
    out = export_html(_notebook_with(attacks, attacks), tmp_path / "raw.html", with_code=True)
    html = out.read_text()
    assert active_content(html) == []
    assert "alert(11)" in page_text(html)  # the <img onerror> shown as text, not dropped silently
    # the report's own structure survives: headings, tables, code
    ok = export_html(_notebook_with("## Title\n\n| a | b |\n|---|---|\n| `c` | **d** |", "<p>x</p>"),
                     tmp_path / "ok.html").read_text()
    assert "<h2" in ok
    assert "<table>" in ok
    assert "<code>c</code>" in ok
    assert "<strong>d</strong>" in ok
    md = export_markdown(_notebook_with("x", "y"), tmp_path / "ok.md")
    assert md.is_file()


def test_script_risks_finds_what_could_run():
    page = ('<p>x</p><img src="data:image/png;base64,AAAA"><a href="#s">s</a><a href="https://x.org">x</a>'
            '<p style="text-align: left">y</p>')
    assert script_risks(page) == []
    for bad in ("<script>1</script>", '<img src="x" onerror="1">', '<a href=" JaVaScRiPt:1">x</a>', "<svg></svg>",
                '<iframe src="x"></iframe>', '<img src="data:image/svg+xml;base64,AAAA">', '<p onmouseover="1">',
                '<meta http-equiv="refresh" content="0">', '<object data="x">', "<embed src=x>"):
        assert script_risks(page + bad), bad


@pytest.fixture(scope="module")
def report_html(tmp_path_factory) -> Path:
    from radiodiff_lib.report import render_notebook

    tmp = tmp_path_factory.mktemp("browser")
    two_launch_log(tmp / "logs")
    return render_notebook("analyze", {"log_paths": [str(tmp / "logs")], "window": 10}, out_dir=tmp / "out").html


@needs_browser
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
