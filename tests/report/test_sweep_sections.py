"""checkpoints.ipynb through papermill on a run of known quality, and the sweep's verdict in analyze.ipynb."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from radiodiff_lib.report import render_notebook
from radiodiff_lib.report.export import external_loads
from radiodiff_lib.report.params import notebook_parameters, notebooks_dir
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


def test_checkpoint_picker_loads_a_checkpoint_only_the_first_time_it_is_drawn(known, tmp_path, monkeypatch):
    from radiodiff_lib.evaluation import candidate_model, sweep_checkpoints
    from radiodiff_lib.report import sweep_widgets

    result = sweep_checkpoints(known["base"].parent, weights="model", maps=4, latent_maps=2, n_boot=200,
                               out=tmp_path / "sweep")
    loaded: list[int] = []
    monkeypatch.setattr(sweep_widgets, "candidate_model", lambda r, k: loaded.append(k) or candidate_model(r, k))
    picker = sweep_widgets.CheckpointPicker(result)
    final, other = result.final(), next(k for k in result.scored if k not in (result.chosen, result.final()))
    for k in (other, result.chosen, other, result.chosen):
        picker.pick.value = k
    assert sorted(loaded) == sorted([result.chosen, final, other])  # each loaded once, then redrawn from memory
    assert len(picker.gallery_out.outputs) == 1
    assert "image/png" in picker.gallery_out.outputs[0]["data"]


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
