"""The shape of an analysed run: progress and speed without the gaps, phases, the loss decomposition, kl_weight."""
from __future__ import annotations

import numpy as np
import pytest

from radiodiff_lib.analysis import analyze
from tests.helpers.runs import broken_radiodiff_run, config, frame, healthy_run, make_run, two_segment_run


def test_progress_speed_and_time_left_exclude_the_gap():
    a = analyze(two_segment_run())
    assert a.entries == 81
    assert a.first_step == 0
    assert a.latest_step == 8000
    assert a.superseded_rows == 6
    assert a.segments == 2
    assert a.total_steps == 10000
    assert a.total_steps_source == "config"
    assert a.progress == pytest.approx(0.8)
    assert a.steps_per_hour == pytest.approx(1800.0)  # 2 s per step inside each segment; the 1-day gap is ignored
    assert a.time_left == pytest.approx(2000 / 1800 * 3600)
    assert analyze(two_segment_run(), total_steps=16000).progress == pytest.approx(0.5)


def test_phases_and_gan_progress():
    a = analyze(two_segment_run())
    assert a.disc_start == 6001
    assert a.disc_first_logged_step == 6100
    assert a.gan_phase_progress == pytest.approx((8000 - 6001) / (10000 - 6001))
    names = {p.name: p for p in a.phases}
    assert names["vae"].last_step == 6000
    assert names["gan"].first_step == 6100
    assert names["vae"].entries + names["gan"].entries == a.entries
    assert a.metrics["train/rec_loss"].phases["gan"]["n"] == 20
    early = analyze(make_run(frame(np.arange(0, 3001, 100), {"train/rec_loss": 1.0}), config(disc_start=6001)))
    assert early.gan_phase_progress == 0.0
    assert early.disc_first_logged_step is None


def test_decomposition_residual_zero_for_consistent_data(healthy, broken):
    d = healthy.decomposition
    assert list(d.columns) == ["step", "nll_loss", "kl_term", "gan_term", "reconstructed_total", "logged_total",
                               "residual"]
    assert d["residual"].abs().max() < 1e-6 * d["logged_total"].abs().max()
    # the log rounds g_loss to 5 decimals and d_weight is 5000: up to 5000 * 0.5e-5 = 0.025 of rounding
    assert broken.decomposition["residual"].abs().max() < 0.026
    gan = broken.decomposition[broken.decomposition["step"] >= 50001]
    assert np.allclose(gan["gan_term"], 5000 * broken_radiodiff_run().df.set_index("step").loc[gan["step"],
                       "train/g_loss"].to_numpy())
    assert healthy.kl_weight_source == "config"
    assert broken.kl_weight == 1e-6


def test_kl_weight_estimated_without_config():
    run = healthy_run()
    run.config = None
    a = analyze(run)
    assert a.kl_weight_source == "estimated from the log"
    assert a.kl_weight == pytest.approx(1e-6, rel=1e-3)
