"""The three notebooks run through papermill with tiny parameters; the numbers they record are checked.

analyze.ipynb over a generated two-launch RadioDiff log is the fast test (one kernel start); the
train -> resume -> analyze-with-checkpoint chain trains a tiny VAE and is marked slow.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from radiodiff_lib import plots
from radiodiff_lib.analysis import analyze
from radiodiff_lib.logs import read_run
from radiodiff_lib.report import render_notebook
from radiodiff_lib.report import text as report_text
from radiodiff_lib.report.export import external_loads
from radiodiff_lib.report.params import notebook_parameters, notebooks_dir
from tests.helpers.logfactory import two_launch_log
from tests.helpers.notebooks import error_outputs, records

SECTIONS = ["1. Summary", "2. Key statistics", "3. Progress and resume status", "4. Launch boundaries",
            "5. The losses one by one", "6. Overview", "7. What the total loss is made of", "8. Phase status",
            "9. Diagnostics", "10. Reconstruction quality", "11. Recommendations", "12. Comparison with other runs",
            "13. Appendix"]


def test_notebooks_have_literal_parameters():
    for name in ("train", "resume", "analyze", "compare"):
        params = notebook_parameters(notebooks_dir() / f"{name}.ipynb")
        assert "interactive" in params
        assert params["interactive"] is None
    assert notebook_parameters(notebooks_dir() / "analyze.ipynb")["rec_target"] == 0.02


def test_notebooks_define_no_functions():
    for path in notebooks_dir().glob("*.ipynb"):
        for cell in nbformat.read(str(path), as_version=4).cells:
            if cell.cell_type == "code":
                assert not re.search(r"^\s*(def|class|for|while|if) ", cell.source, re.M), (path.name, cell.source)


def test_analyze_report_of_two_launches(tmp_path):
    files, unique_steps = two_launch_log(tmp_path / "logs")
    paths = render_notebook("analyze", {"log_paths": [str(tmp_path / "logs")], "window": 10},
                            out_dir=tmp_path / "out")
    rec = records(paths.ipynb)
    a = rec["analysis"]
    assert a["entries"] == unique_steps
    assert a["first_step"] == 0
    assert a["latest_step"] == 4900
    assert rec["rows"] == unique_steps  # one current row per step; the 11 replayed ones are superseded
    assert a["superseded_rows"] == 11
    assert [r["step"] for r in a["resumes"]] == [2000]
    assert a["total_steps"] == 10000
    assert a["progress"] == pytest.approx(0.49)
    assert rec["evaluation"] is None
    assert error_outputs(paths.ipynb) == []

    html = paths.html.read_text()
    for title in SECTIONS:
        assert title in html, title
    again = analyze(read_run(tmp_path / "logs"), window=10)
    n_metrics = len(a["metrics"]) - len(report_text.constant_metrics(again))  # constant ones: one table
    overview = 2 + (len(plots.trending_metrics(again)) >= 2)  # grid, multi-axis, normalised where two trend
    # the key figure, one zoom per resume, one figure per changing metric, overview, decomposition, discriminator
    n_images = 1 + 1 + n_metrics + overview + 1 + 1
    assert html.count('src="data:image/png;base64,') == n_images
    assert external_loads(html) == []
    assert "<script src" not in html
    assert "Traceback" not in html
    assert "No checkpoint given" in html
    assert "Resume at step 2000" in html
    assert "No other run given" in html
    assert "Files and what each was used for" in html
    md = paths.md.read_text()
    pngs = sorted((paths.md.parent / "analyze_files").glob("*.png"))
    assert len(pngs) == n_images
    assert all(f"analyze_files/{p.name}" in md for p in pngs)
    assert html.index("First-stage (VAE) run") < html.index("Verdict:") < html.index("1. Summary")
    for title in SECTIONS:
        assert title in md
    first = report_text.recommendations(again).data.splitlines()[0]
    assert md.count(first) == 1  # the recommendations once, at the top; section 11 points there


@pytest.mark.slow
def test_train_resume_analyze_chain(tmp_path, monkeypatch):
    """train.ipynb to step 5 of 8, resume.ipynb to 8, analyze.ipynb with the checkpoint evaluated."""
    monkeypatch.chdir(tmp_path)  # the kernel works in the caller's directory: relative folders land here
    tiny = {"model.ddconfig.ch": 32, "model.ddconfig.ch_mult": [1, 2], "model.ddconfig.resolution": [32, 32],
            "data.image_size": 32, "data.batch_size": 2, "data.num_maps": 24, "model.lossconfig.disc_start": 4,
            "trainer.train_num_steps": 8, "trainer.save_and_sample_every": 3, "trainer.log_freq": 1}
    t = render_notebook("train", {"max_steps": 5, "results_folder": "run", "overrides": tiny}, out_dir="out")
    rec = records(t.ipynb)
    assert rec["step"] == 5
    assert rec["errors"] == []
    assert rec["analysis"]["entries"] == 5
    assert Path(rec["results_folder"]) == Path("run")
    assert (tmp_path / "run" / "metrics.jsonl").is_file()

    r = render_notebook("resume", {"results_folder": "run"}, out_dir="out")
    rec = records(r.ipynb)
    assert rec["step"] == 8
    assert rec["errors"] == []
    analysis = rec["analysis"]
    assert analysis["entries"] == 8
    assert [x["step"] for x in analysis["resumes"]] == [5]
    assert "Resume at step 5" in r.html.read_text()

    last = rec["last_checkpoint"]
    a = render_notebook("analyze", {"log_paths": ["run"], "checkpoint": last, "eval_n": 4, "window": 3},
                        out_dir="out")
    rec = records(a.ipynb)
    assert 1 <= rec["evaluation"]["n_maps"] <= 4
    assert rec["analysis"]["entries"] == 8  # the tiny test split is small
    html = a.html.read_text()
    assert "All pixels" in html
    assert "Street pixels only" in html
    assert external_loads(html) == []
    assert error_outputs(a.ipynb) == []
