"""The `make report` story: where the first launch stops, the LOG path check, and (slow) the whole story
on a shrunken demo config."""
from __future__ import annotations

import nbformat
import pytest

from radiodiff_lib.errors import NotebookError
from radiodiff_lib.report import demo
from radiodiff_lib.report.env import RECORD_MIME
from tests.helpers.configs import make_tiny_config


@pytest.mark.parametrize("total,every,expected", [(160, 40, 100), (8, 3, 5), (16, 5, 11), (2, 1, 1)])
def test_stop_step_is_part_way_and_off_milestones(total, every, expected):
    k = demo.stop_step(total, every)
    assert k == expected
    assert 0 < k < total


def test_missing_log_is_an_error(tmp_path):
    with pytest.raises(NotebookError, match="no such file or folder"):
        demo.demo_report(out_dir=tmp_path, log=tmp_path / "nope")


@pytest.mark.slow
def test_whole_story_on_a_tiny_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tiny = make_tiny_config()  # 8 steps, disc_start 4, checkpoints every 3
    paths = demo.demo_report(out_dir="reports", config=tiny)
    assert paths.html == tmp_path / "reports" / "analyze.html"
    rec = {}
    for cell in nbformat.read(str(paths.ipynb), as_version=4).cells:
        for o in cell.get("outputs", []):
            rec.update(o.get("data", {}).get(RECORD_MIME, {}))
    a = rec["analysis"]
    assert a["entries"] == 8
    assert [r["step"] for r in a["resumes"]] == [5]
    assert a["disc_first_logged_step"] == 4
    assert rec["evaluation"]["n_maps"] >= 1
    assert "model-" in rec["evaluation"]["checkpoint"]
    assert (tmp_path / "runs" / "demo-report" / "metrics.jsonl").is_file()


def test_example_keeps_markdown_and_smaller_figures(tmp_path):
    import numpy as np
    from PIL import Image

    from radiodiff_lib.report import ReportPaths

    files = tmp_path / "analyze_files"
    files.mkdir()
    ramp = np.linspace(0, 255, 400 * 300 * 3).reshape(300, 400, 3).astype("uint8")  # many distinct colours
    Image.fromarray(ramp).save(files / "output_1_0.png", compress_level=1)
    before = (files / "output_1_0.png").stat().st_size
    paths = ReportPaths(ipynb=tmp_path / "analyze.ipynb", html=tmp_path / "analyze.html", md=tmp_path / "analyze.md")
    for p in (paths.ipynb, paths.html, paths.md):
        p.write_text("x")
    demo.keep_markdown_only(paths)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["analyze.md", "analyze_files"]
    image = Image.open(files / "output_1_0.png")
    assert image.mode == "P"
    assert image.size == (400, 300)
    assert (files / "output_1_0.png").stat().st_size < before / 2
