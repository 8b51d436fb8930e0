"""compare.ipynb rendered by ``radiodiff report compare``, and the comparison section of a run's report."""
from __future__ import annotations

import pytest

from radiodiff_lib.cli import main
from radiodiff_lib.report.export import external_loads
from radiodiff_lib.report.params import notebook_parameters, notebooks_dir
from tests.helpers.ldmfactory import troubled_ldm_run
from tests.helpers.notebooks import error_outputs, records
from tests.helpers.runpairs import write_run

SECTIONS = ["1. The runs", "2. Like for like? Then the verdicts on the shared steps", "3. Curves overlaid", "4. Key statistics side by side",
            "5. Diagnostics side by side", "6. Config differences", "7. Appendix"]
EVIL = "<img src=x onerror=alert(1)>"


def test_compare_parameters_are_literals():
    params = notebook_parameters(notebooks_dir() / "compare.ipynb")
    assert params["runs"] == ["runs/a", "runs/b"]
    assert params["interactive"] is None
    assert params["x_axis"] == "step"


def test_radiodiff_report_compare_renders_offline_with_labels_escaped(tmp_path, capsys):
    a = write_run(tmp_path / "a", seed=1, scale=1.5, every=100, end=3000)
    b = write_run(tmp_path / "b", seed=2, every=50, end=2500)
    out = tmp_path / "out"
    assert main(["report", "compare", "-p", "runs", str(a), str(b), "-p", "labels", EVIL, "B*x*",
                 "-p", "x_axis", "hours", "--out", str(out)]) == 0
    capsys.readouterr()
    ipynb, html, md = out / "compare.ipynb", (out / "compare.html").read_text(), (out / "compare.md").read_text()
    assert error_outputs(ipynb) == []
    c = records(ipynb)["comparison"]
    assert [r["label"] for r in c["runs"]] == [EVIL, "B*x*"]
    assert c["metrics"]["train/rec_loss"]["verdict"] == "B*x* lower"
    for title in SECTIONS:
        assert title in html
        assert title in md
    n_metrics = 13  # one figure per metric: 8 generator, 3 discriminator, lr and lr_disc
    assert md.count("### 3.") == n_metrics
    assert html.count('src="data:image/png;base64,') == n_metrics
    assert external_loads(html) == []
    assert "<script src" not in html
    assert EVIL not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html  # data, never markup
    assert "B*x* lower" in html
    assert "<em>x</em>" not in html
    assert len(list((out / "compare_files").glob("*.png"))) == n_metrics


def test_report_compare_with_an_unknown_or_single_value_parameter_is_a_clear_error(tmp_path, capsys):
    assert main(["report", "compare", "-p", "x_axis", "step", "hours", "--out", str(tmp_path)]) == 2
    assert "takes one value" in capsys.readouterr().err


@pytest.mark.slow
def test_analyze_report_of_a_second_stage_run_compared_with_a_neighbour(tmp_path):
    ldm = tmp_path / "ldm"
    troubled_ldm_run(ldm)
    other = tmp_path / "ldm_other"
    troubled_ldm_run(other, total=30000)
    from radiodiff_lib.report import render_notebook
    paths = render_notebook("analyze", {"log_paths": [str(ldm)], "compare_with": [str(other)], "window": 20},
                            out_dir=tmp_path / "out")
    assert error_outputs(paths.ipynb) == []
    rec = records(paths.ipynb)
    assert rec["analysis"]["stage"] == "ldm"
    assert rec["analysis"]["total_steps"] == 20000
    assert rec["comparison"]["runs"][1]["total_steps"] == 30000
    assert [d["key"] for d in rec["comparison"]["config_diff"]] == ["trainer.train_num_steps"]
    html = paths.html.read_text()
    for want in ("12. Comparison with other runs", "second-stage run", "Keys the schema does not know",
                 "nonfinite_loss", "launch_without_steps", "CUDA out of memory", "Not applicable"):
        assert want in html, want
    assert external_loads(html) == []
