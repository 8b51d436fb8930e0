"""RadioDiff's second stage (train_cond_ldm.py): recognised, its YAML config read, its own diagnostics."""
from __future__ import annotations

import json
import math
from datetime import timedelta

import pytest

from radiodiff_lib.analysis import analyze, summary_text, to_json
from radiodiff_lib.analysis.stage2 import latent_scale
from radiodiff_lib.logs import read_run
from tests.helpers.ldmfactory import (
    LDM_START, TRACEBACK, ldm_config, ldm_tags, ldm_values, troubled_ldm_run, write_events, write_ldm_log,
)


@pytest.fixture(scope="module")
def troubled(tmp_path_factory):
    folder = tmp_path_factory.mktemp("radiodiff_LDM")
    expected = troubled_ldm_run(folder)
    run = read_run(folder)
    return run, analyze(run), expected


def test_stage_config_and_total_of_a_troubled_run(troubled):
    run, a, want = troubled
    assert run.stage == a.stage == "ldm"
    # the nested YAML dump, read whole: first stage, unet, trainer, and the keys our schema does not know
    assert run.config == want["config"]
    assert run.config["model"]["first_stage"]["ddconfig"]["ch_mult"] == [1, 2, 4]
    assert a.total_steps == want["total"]
    assert a.total_steps_source == "config"
    assert a.latest_step == want["latest"]
    assert a.entries == want["latest"] + 1  # the events' dense rows
    assert run.df["step"].is_unique
    assert ("model.unet.cond_feature_size", [32, 128]) in a.config_unknown
    assert ("data.numWorkers", 8) in a.config_unknown
    # default_scale is RadioDiff's own key (ddm_const_sde.py reads it), not an unknown one
    assert not any(k == "model.default_scale" for k, _ in a.config_unknown)
    assert any(k == "model.default_scale" for k, _, _ in a.config_known)
    assert any(k == "trainer.ema_update_after_step" for k, _, _ in a.config_known)
    # no GAN phase, no decomposition; the second stage's settings named
    assert a.disc_start is None
    assert a.phases[0].name == "all"
    assert a.decomposition.empty
    assert a.stage_settings["first_stage_ckpt"] == "./radiodiff_Vae/model-30.pt"
    assert a.stage_settings["scale_factor"] == 0.3
    assert a.ema_start == 10000
    # the YAML lines were used, not skipped; only the traceback and the crashed launch's file are
    assert run.skipped_counts() == {"traceback": 4, "no training lines": 2}


def test_nan_after_resume_and_crashed_launch_diagnosed(troubled):
    run, a, want = troubled
    d = a.diagnostic("nonfinite_loss")
    assert d.severity == "critical"
    assert d.evidence["first_step"] == want["first_nan"]
    assert d.evidence["after_resume"]["resume_step"] == want["resume"]
    assert d.evidence["after_resume"]["steps_after"] == want["first_nan"] - want["resume"]
    assert a.metrics["loss_simple"].first_nonfinite_step == want["first_nan"]
    (c,) = [x for x in a.diagnostics if x.id == "launch_without_steps"]
    assert c.evidence["file"] == str(want["crashed"])
    assert c.evidence["traceback_lines"] == len(TRACEBACK)
    assert c.evidence["last_error"] == TRACEBACK[-1]
    assert [r.step for r in a.resumes] == [want["resume"]]
    assert "launch_without_steps" in {r.split(":")[0] for r in a.recommendations}
    j = json.loads(json.dumps(to_json(a), allow_nan=False))
    assert j["stage"] == "ldm"
    assert {s["kind"] for s in j["sources"]} == {"radiodiff-log", "tensorboard"}
    assert all(set(s) >= {"path", "kind", "rows_used", "rows_duplicate", "rows_disagreeing"} for s in j["sources"])
    text = summary_text(a)
    assert "second-stage run" in text
    assert "model-30.pt" in text
    assert "300 steps after the resume" in text


def test_healthy_second_stage_zero_term_floor_and_full_precision_lr(tmp_path):
    cfg = ldm_config(train_num_steps=4000, min_lr=0.5)
    vals = lambda s: ldm_values(s, total=4000, min_lr=0.5)  # noqa: E731 - the floor is reached at step 2000
    write_ldm_log(tmp_path / "2025-10-15-13-07_.log", range(0, 4000, 100), config=cfg, values=vals)
    write_events(tmp_path, range(0, 4000), lambda s: ldm_tags(vals(s)), start_time=LDM_START + timedelta(seconds=5))
    a = analyze(read_run(tmp_path))
    zero = a.diagnostic("zero_term")
    assert zero.evidence == {"metric": "loss_vlb", "entries": 4000}
    assert "weighted off" in zero.message
    floor = a.diagnostic("lr_at_floor")
    assert floor.evidence["floor"] == pytest.approx(1e-5, rel=1e-6)
    assert 2000 <= floor.evidence["since_step"] <= 2100
    assert a.lr_schedule["source"].startswith("TensorBoard")
    assert a.lr_schedule["latest"] == pytest.approx(1e-5, rel=1e-6)
    assert {"nonfinite_loss", "loss_plateau", "launch_without_steps"}.isdisjoint(a.diagnostic_ids)


def test_plateau_and_total_from_step_lines(tmp_path):
    def flat(step):  # falls, then stays at 0.2 from step 1000 on
        return {"loss_simple": 0.2 + max(0.0, 1000 - step) * 1e-3 + 1e-3 * math.sin(step), "loss_vlb": 0.0,
                "total_loss": 0.2, "lr": 2e-5}
    write_ldm_log(tmp_path / "a.log", range(0, 10001, 100), yaml_config=False, total=80000, values=flat)
    run = read_run(tmp_path / "a.log")
    a = analyze(run)
    assert run.config is None
    assert run.stage == "ldm"  # recognised from its metric names alone
    assert a.total_steps == 80000
    assert a.total_steps_source == "step lines"
    p = a.diagnostic("loss_plateau")
    assert p.evidence["metric"] == "loss_simple"
    assert p.evidence["relative_change"] < 0.01
    assert "step lines" in summary_text(a)


def test_yaml_dump_with_python_tags_and_a_warning_that_looks_like_yaml(tmp_path):
    path = tmp_path / "2025-10-15-13-07_.log"
    lines = ["2025-10-15 13:07:01,537 model:", "  unet:", "    dim_mults: !!python/tuple", "    - 1", "    - 2",
             "  odd_key: !custom {a: 1}", "trainer:", "  train_num_steps: 300", "",
             "2025-10-15 13:07:02,000 UserWarning: the grid sampler changed", "    warnings.warn(",
             "2025-10-15 13:07:09,537 [Train Step] 0/300: loss_simple: 1.00000, loss_vlb: 0.00000, "
             "total_loss: 1.00000, lr: 0.00002, "]
    path.write_text("\n".join(lines) + "\n")
    run = read_run(path)
    assert run.config == {"model": {"unet": {"dim_mults": [1, 2]}, "odd_key": {"a": 1}},
                          "trainer": {"train_num_steps": 300}}
    assert run.total_steps == 300
    assert run.stage == "ldm"
    assert {(s.line, s.reason) for s in run.skipped} == {(9, "blank"), (10, "warning"), (11, "traceback")}
    assert run.df["step"].tolist() == [0]
    assert run.df.loc[0, "loss_vlb"] == 0.0


def test_second_stage_text_and_events_disagree_with_gradient_accumulation(tmp_path):
    cfg = ldm_config(train_num_steps=2000, gradient_accumulate_every=2)
    over = lambda s: {**ldm_values(s, total=2000), "total_loss": 2 * ldm_values(s, total=2000)["total_loss"]}  # noqa: E731
    write_ldm_log(tmp_path / "2025-10-15-13-07_.log", range(0, 1000, 100), config=cfg, values=over)
    write_events(tmp_path, range(0, 1000), lambda s: ldm_tags(ldm_values(s, total=2000)),
                 start_time=LDM_START + timedelta(seconds=5))
    run = read_run(tmp_path)
    (dis,) = run.disagreements
    assert dis["metric"] == "total_loss"
    assert dis["count"] == 10
    assert "total_loss" in run.df.columns
    assert "train/total_loss" not in run.df.columns


@pytest.mark.parametrize("model,mode,factor", [
    ({"scale_factor": 0.3, "scale_by_std": True, "default_scale": True}, "as written", 0.3),
    ({"scale_factor": 1.0, "scale_by_std": True, "default_scale": False}, "measured from the first batch", None),
    ({"scale_factor": 1.0, "scale_by_std": True}, "measured from the first batch", None),  # absent reads as False
    ({"scale_factor": 0.3, "scale_by_std": False}, "unscaled", None),
    ({"scale_factor": 0.3, "scale_by_std": True, "scale_by_softsign": True}, "softsign", None),
])
def test_latent_scale_read_as_radiodiff_applies_it(model, mode, factor):
    got = latent_scale(model.get("scale_factor"), model)
    assert got["mode"] == mode
    assert got["factor"] == factor


def test_a_written_factor_that_is_not_1_without_default_scale_is_named():
    words = latent_scale(0.3, {"scale_by_std": True, "default_scale": False})["words"]
    assert "asserts scale_factor == 1" in words


def test_default_scale_in_the_log_is_read_as_written(tmp_path):
    write_ldm_log(tmp_path / "2025-10-15-13-07_.log", range(0, 2001, 100))  # ldm_config: default_scale True, 0.3
    a = analyze(read_run(tmp_path))
    scale = a.stage_settings["scale"]
    assert scale == {"mode": "as written", "factor": 0.3, "written": 0.3, "measured": False, "words": scale["words"]}
    assert "scale_factor 0.3 is used as written and never measured" in " ".join(a.summary_sentences)
    assert json.loads(json.dumps(to_json(a)))["stage_settings"]["scale"]["mode"] == "as written"
