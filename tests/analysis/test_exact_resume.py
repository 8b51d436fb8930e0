"""Issue 10, item 6: a run resumed bitwise exactly is never accused of a discontinuity.

Reproduced with the real trainer: the tiny config of the report (ch 32, 64 x 64 maps, 12 steps) trained
straight, and the same run stopped at step 7 and resumed; their logged metrics are equal, yet the
analysis called the resume a "+57 sigma" jump. Seven entries before the resume are too few to
extrapolate a falling loss and to measure that extrapolation's error: the answer is "insufficient data".
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from radiodiff_lib.analysis import analyze
from radiodiff_lib.config import replace, resolve_config
from radiodiff_lib.logs import read_run
from radiodiff_lib.training import resume, train

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
