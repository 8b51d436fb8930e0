"""checkpoints.ipynb through papermill on a run of known quality, and the sweep's verdict in analyze.ipynb."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from radiodiff_lib.report import render_notebook
from radiodiff_lib.report import sweep_text
from radiodiff_lib.report.export import external_loads
from radiodiff_lib.report.params import notebook_parameters, notebooks_dir
from tests.helpers.hostile import IMG, LINK, SCRIPT, TICKS, active_content, page_text
from tests.helpers.notebooks import error_outputs, records
from tests.helpers.sweep_runs import known_quality_run, train_base

SECTIONS = ["1. Verdict", "2. Every checkpoint", "3. The metrics against training step",
            "4. The chosen checkpoint on the test maps", "5. Gallery", "6. Latent statistics",
            "7. The hand-off to the second stage", "8. Appendix"]


@pytest.fixture(scope="module")
def known(tmp_path_factory):
    torch.set_num_threads(1)
    base = train_base(tmp_path_factory.mktemp("base"))
    return known_quality_run(tmp_path_factory.mktemp("run") / "run", base)


def test_checkpoints_notebook_has_literal_parameters():
    params = notebook_parameters(notebooks_dir() / "checkpoints.ipynb")
    assert params["interactive"] is None
    assert params["split"] == "val"
    assert params["weights"] == "ema"


def test_checkpoints_report_renders_offline_html_and_markdown(known, tmp_path):
    stage2 = tmp_path / "radio_train.yaml"
    stage2.write_text("model:\n  scale_factor: 0.3\n  scale_by_std: True\n  default_scale: True\n"
                      "  first_stage: {embed_dim: 3, ddconfig: {ch: 128, ch_mult: [1, 2, 4]}}\n")
    paths = render_notebook("checkpoints", {"run": str(known["base"].parent), "weights": "model", "maps": 8,
                                            "latent_maps": 6, "bootstrap": 300, "stage2_config": str(stage2),
                                            "out": str(tmp_path / "sweep")}, out_dir=tmp_path / "out")
    assert error_outputs(paths.ipynb) == []
    sweep = records(paths.ipynb)["sweep"]
    assert set(sweep["indistinguishable"]) == {str(known["tie"]), str(known["base"])}
    assert sweep["chosen"] == str(known["tie"])
    assert (tmp_path / "sweep" / "handoff.yaml").is_file()

    html = paths.html.read_text()
    for title in SECTIONS:
        assert title in html, title
    # NMSE (with its difference row), SSIM, PSNR, the gallery, the latent histograms
    assert html.count('src="data:image/png;base64,') == 5
    assert external_loads(html) == []
    assert "<script src" not in html
    assert "Traceback" not in html
    assert "model.scale_factor 0.3 is" in html  # the stage-2 warning reached the report
    assert "skipped:" in html
    assert known["corrupt"].name in html
    md = paths.md.read_text()
    pngs = sorted((paths.md.parent / "checkpoints_files").glob("*.png"))
    assert len(pngs) == 5
    assert all(f"checkpoints_files/{p.name}" in md for p in pngs)
    for title in SECTIONS:
        assert title in md


def _payload(run_name: str = "run") -> dict:
    one = {"mean": 0.2, "low": 0.1, "high": 0.3}
    zero = {"mean": 0.0, "low": 0.0, "high": 0.0}
    return {"protocol": None, "split": "val", "data": "synthetic", "maps": 3, "transmitters": 6, "metric": "nmse",
            "level": 0.95, "bootstrap": {"draws": 100, "seed": 0, "unit": "map"}, "precision": "no",
            "precision_note": "", "device": "cpu",
            "checkpoints": [{"path": f"{run_name}/model-1.pt", "step": 5, "weights": "ema", "status": "ok",
                             "nmse": one, "ssim": one, "psnr": one, "diff_to_best": zero, "cached": False}],
            "best": f"{run_name}/model-1.pt", "best_weights": "ema", "indistinguishable": [f"{run_name}/model-1.pt"],
            "indistinguishable_weights": ["ema"], "earliest_indistinguishable": f"{run_name}/model-1.pt",
            "earliest_weights": "ema", "chosen": f"{run_name}/model-1.pt", "chosen_weights": "ema", "choose": "best",
            "excluded_items": 0, "confirmation": [], "latent": None, "handoff": f"{run_name}/sweep/handoff.yaml",
            "stage2": None, "stage2_warnings": [], "disc_start": 10, "notes": [], "timings": {}}


def test_names_in_the_sweep_text_are_data_not_markup():
    import mistune  # nbconvert's Markdown renderer

    hostile = f"runs/{IMG}{TICKS}{LINK}{SCRIPT}"
    payload = _payload(hostile)
    payload["stage2"] = {"source": hostile, "warnings": [f"{hostile}: model.scale_factor 0.3 is far"],
                         "merged_config": hostile, "differences": [{"key": LINK, "config": IMG, "handoff": TICKS}]}
    text = "\n\n".join(m.data for m in (sweep_text.title(payload, hostile), sweep_text.analyze_verdict(payload, hostile),
                                         sweep_text.candidates_table(payload), sweep_text.handoff(payload, IMG)))
    html = mistune.create_markdown(escape=False, plugins=["table"])(text)  # raw HTML kept, as nbconvert renders
    assert active_content(html) == []
    assert hostile in page_text(html)  # shown as written, not dropped


def test_analyze_without_a_sweep_says_how_to_add_one():
    assert "-p sweep RUN/sweep" in sweep_text.no_sweep().data


@pytest.mark.slow
def test_analyze_report_adds_the_sweeps_verdict(known, tmp_path):
    from radiodiff_lib.evaluation import sweep_checkpoints

    run = known["base"].parent
    sweep_checkpoints(run, weights="model", maps=8, latent_maps=4, n_boot=300, out=tmp_path / "sweep")
    paths = render_notebook("analyze", {"log_paths": [str(run)], "window": 5, "sweep": str(tmp_path / "sweep")},
                            out_dir=tmp_path / "out")
    assert error_outputs(paths.ipynb) == []
    rec = records(paths.ipynb)
    assert rec["sweep"]["best"] == str(known["tie"])
    html = paths.html.read_text()
    assert "Which checkpoint to hand to the second stage" in html
    assert "Indistinguishable from it" in html
    assert json.loads((tmp_path / "sweep" / "sweep.json").read_text())["handoff"] in html
    assert Path(rec["sweep"]["handoff"]).is_file()
