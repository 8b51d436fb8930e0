"""Continuity across a resume: the jump test on constructed series, the GAN term switching on, and a run
resumed bitwise exactly by the real trainer never accused of a discontinuity (issue 10, item 6).

The exact resume is reproduced with the tiny config of the report (ch 32, 64 x 64 maps, 12 steps) trained
straight, and the same run stopped at step 7 and resumed; their logged metrics are equal, yet the
analysis once called the resume a "+57 sigma" jump. Seven entries before the resume are too few to
extrapolate a falling loss and to measure that extrapolation's error: the answer is "insufficient data".
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from radiodiff_lib.analysis import analyze
from radiodiff_lib.analysis.continuity import continuity
from radiodiff_lib.config import replace, resolve_config
from radiodiff_lib.logs import read_run
from radiodiff_lib.training import resume, train
from tests.helpers.runs import config, frame, make_run


def test_continuity_ignores_the_gan_term_switching_on_after_a_resume():
    s0, s1 = np.arange(0, 3001, 100), np.arange(2900, 6001, 100)

    def cols(s):  # total jumps by -2000 at disc_start 3001: planned, not a resume artefact
        return {"train/total_loss": 1000.0 - 2000.0 * (s >= 3001) + 0.01 * (s % 300),
                "train/disc_factor": (s >= 3001).astype(float), "train/rec_loss": 0.05 + 1e-4 * (s % 300)}
    run = make_run([frame(s0, cols(s0), segment=0), frame(s1, cols(s1), segment=1, t0="2025-03-04")],
                   config(disc_start=3001, total=8000))
    a = analyze(run)
    assert a.resumes[0].continuity["train/total_loss"] in ("continuous", "insufficient data")
    assert a.resumes[0].continuity["train/rec_loss"] == "continuous"  # compared across disc_start as usual
    assert "resume_discontinuity" not in a.diagnostic_ids


def test_continuity_detrends_a_falling_loss():
    # 20 entries before: two blocks of 5 to extrapolate with a drift, and the rest to back-test it
    rng = np.random.default_rng(2)
    s = np.arange(0, 3000, 100).astype(float)
    y = 5.0 - 1e-3 * s + rng.normal(0, 0.01, s.size)
    ev = continuity(s[:20], y[:20], s[20:], y[20:], jump_sigma=5)
    assert ev["verdict"] == "continuous"
    ev = continuity(s[:20], y[:20], s[20:], y[20:] + 0.2, jump_sigma=5)
    assert ev["verdict"] == "jump"


def test_continuity_follows_a_curving_loss_and_a_decaying_lr():
    # a resume in the middle of a curving decay (a real run logged every 100 steps) is not a jump;
    # the same curve shifted by 10 noise sigmas after the resume is
    rng = np.random.default_rng(3)
    s = np.arange(0, 8000, 100).astype(float)
    y = 0.05 + 0.05 * np.exp(-s / 3000.0) + rng.normal(0, 0.001, s.size)
    before, after = s < 5000, s >= 5000
    ev = continuity(s[before], y[before], s[after], y[after], jump_sigma=5, min_rel=0.01)
    assert ev["verdict"] == "continuous"
    # the yardstick is the measured error of the extrapolation (about 1.6 point-noise sigmas on this
    # curve), so a shift of 20 point-noise sigmas is about 12 of its units
    ev = continuity(s[before], y[before], s[after], y[after] + 0.02, jump_sigma=5, min_rel=0.01)
    assert ev["verdict"] == "jump"
    assert ev["shift"] == pytest.approx(0.02, abs=0.003)
    lr = np.maximum(2e-4 * (1 - s / 8000) ** 0.95, 1e-5)  # the LR schedule: noiseless and curving
    ev = continuity(s[before], lr[before], s[after], lr[after], jump_sigma=5, min_rel=0.01)
    assert ev["verdict"] == "continuous"
    ev = continuity(s[before], lr[before], s[after], lr[after] * 1.5, jump_sigma=5, min_rel=0.01)
    assert ev["verdict"] == "jump"


def test_continuity_needs_enough_entries_before():
    s = np.arange(0, 40, 5).astype(float)
    ev = continuity(s[:3], np.ones(3), s[3:], np.ones(5), jump_sigma=5)
    assert ev["verdict"] == "insufficient data"


CONTINUITY = ("train/rec_loss", "train/nll_loss", "train/total_loss", "train/kl_loss")


def tiny(steps: int, image: int = 64):
    return replace(resolve_config("demo"), **{
        "model.ddconfig.ch": 32, "model.ddconfig.resolution": [image, image], "data.image_size": image,
        "data.num_maps": 24, "trainer.train_num_steps": steps, "trainer.save_and_sample_every": 1000,
        "trainer.log_freq": 1, "model.lossconfig.disc_start": 1000})


def straight_and_resumed(tmp_path, steps: int, stop: int, image: int = 64):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = tiny(steps, image)
        train(cfg, results_folder=tmp_path / "straight", progress=False)
        train(cfg, results_folder=tmp_path / "resumed", max_steps=stop, progress=False)
        resume(tmp_path / "resumed", progress=False)
    finally:
        torch.set_num_threads(threads)
    return read_run(tmp_path / "straight"), read_run(tmp_path / "resumed")


def test_exact_resume_of_a_short_run_is_not_a_jump(tmp_path):
    straight, resumed = straight_and_resumed(tmp_path, steps=12, stop=7)
    metrics = [c for c in straight.df.columns if c.startswith("train/") or c == "lr"]
    assert np.array_equal(straight.df[metrics].to_numpy(), resumed.df[metrics].to_numpy(), equal_nan=True)
    a = analyze(resumed, window=12)
    (r,) = a.resumes
    assert r.step == 7
    assert "jump" not in r.continuity.values()
    assert all(r.continuity[k] == "insufficient data" for k in CONTINUITY if k in r.continuity)
    assert "resume_discontinuity" not in a.diagnostic_ids


@pytest.mark.slow
def test_exact_resume_with_enough_entries_is_continuous(tmp_path):
    straight, resumed = straight_and_resumed(tmp_path, steps=45, stop=25, image=32)
    a = analyze(resumed, window=20)
    (r,) = a.resumes
    verdicts = {k: r.continuity[k] for k in CONTINUITY if k in r.continuity}
    assert set(verdicts.values()) == {"continuous"}, r.evidence
    assert "resume_discontinuity" not in a.diagnostic_ids
