"""Analysis numbers against hand computations: smoothing, trends, statuses, progress, phases, resumes, JSON."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from radiodiff_lib.analysis import AnalysisError, analyze, smooth_tensorboard, summary_text, to_json
from radiodiff_lib.analysis.continuity import continuity
from radiodiff_lib.analysis.diagnostics import Diagnostic, recommendations
from radiodiff_lib.analysis.stats import fit_trend, normalize_minmax
from tests.helpers.runs import broken_radiodiff_run, config, frame, healthy_run, make_run, two_segment_run

# --- smoothing -------------------------------------------------------------------------------

def test_smoothing_matches_hand_computation_with_nonfinite_passthrough():
    got = smooth_tensorboard([1.0, np.nan, 3.0, np.inf, 2.0], 0.5)
    # last: 0.5 -> /0.5 = 1; nan kept; last 0.25+1.5=1.75 -> /0.75; inf kept; last 0.875+1=1.875 -> /0.875
    assert got[0] == pytest.approx(1.0)
    assert np.isnan(got[1])
    assert got[2] == pytest.approx(1.75 / 0.75)
    assert got[3] == np.inf
    assert got[4] == pytest.approx(1.875 / 0.875)


def test_long_series_smoothing_equals_the_loop(monkeypatch):
    import radiodiff_lib.analysis.stats as st
    rng = np.random.default_rng(0)
    x = rng.normal(size=8000)
    x[rng.integers(0, 8000, 50)] = np.nan
    x[17] = -np.inf
    fast = smooth_tensorboard(x, 0.9)  # above the threshold: scipy lfilter
    monkeypatch.setattr(st, "_LFILTER_FROM", 10**9)
    slow = smooth_tensorboard(x, 0.9)  # the plain loop
    assert np.array_equal(np.isnan(fast), np.isnan(x))
    assert fast[17] == -np.inf
    assert np.allclose(fast, slow, equal_nan=True, rtol=1e-12, atol=1e-12)


def test_smoothing_weight_zero_is_identity_and_bad_weight_refused():
    x = np.array([3.0, -1.0, 7.5])
    assert np.allclose(smooth_tensorboard(x, 0.0), x)
    assert np.allclose(smooth_tensorboard([2.0] * 5, 0.9), 2.0)  # debiasing: a constant stays constant
    with pytest.raises(AnalysisError):
        smooth_tensorboard(x, 1.0)


def test_normalize_minmax():
    assert np.allclose(normalize_minmax([2.0, 4.0, 3.0]), [0.0, 1.0, 0.5])
    assert normalize_minmax([1.0, 1.0]) is None


# --- trends and statuses -----------------------------------------------------------------------

def test_trend_noise_not_significant_slope_significant():
    rng = np.random.default_rng(3)
    steps = np.arange(0, 5000, 100)
    significant = sum(fit_trend(steps, rng.normal(1.0, 0.1, steps.size)).significant for _ in range(20))
    assert significant <= 3  # alpha 0.05: about 1 in 20 by chance
    t = fit_trend(steps, 1.0 - 2e-4 * steps + rng.normal(0, 0.05, steps.size))
    assert t.significant
    assert t.p_value < 1e-6
    assert t.slope_per_step == pytest.approx(-2e-4, rel=0.1)
    assert t.slope_per_1k_steps == pytest.approx(1000 * t.slope_per_step)


def test_trend_matches_scipy_linregress():
    from scipy.stats import linregress
    rng = np.random.default_rng(7)
    s = np.arange(0, 3000, 100).astype(float)
    y = 0.3 + 1e-5 * s + rng.normal(0, 0.01, s.size)
    t, r = fit_trend(s, y), linregress(s, y)
    assert t.slope_per_step == pytest.approx(r.slope)
    assert t.intercept == pytest.approx(r.intercept)
    assert t.stderr == pytest.approx(r.stderr)
    assert t.p_value == pytest.approx(r.pvalue)


def _stat_run(values, name="train/rec_loss", **kw):
    steps = np.arange(len(values)) * 100
    return analyze(make_run(frame(steps, {name: values})), **kw).metrics[name]


def test_statuses_follow_the_rules():
    rng = np.random.default_rng(0)
    n = 60
    noise = rng.normal(0, 0.001, n)
    assert _stat_run(0.05 + noise).status == "flat"
    assert _stat_run(0.05 - 0.0005 * np.arange(n) + noise).status == "improving"
    assert _stat_run(0.05 + 0.0005 * np.arange(n) + noise).status == "worsening"
    assert _stat_run(0.05 + 0.0005 * np.arange(n) + noise, name="train/d_weight").status == "rising"
    assert _stat_run(np.zeros(n)).status == "constant"
    assert _stat_run(0.05 + rng.normal(0, 0.05, n)).status == "unstable"
    v = 0.05 + noise
    v[-1] = np.inf
    assert _stat_run(v).status == "non-finite"
    assert _stat_run([0.1, 0.2]).status == "insufficient data"


def test_metric_stats_numbers():
    m = _stat_run(np.array([4.0, 2.0, 3.0, 1.0, 2.0]), window=3)
    assert (m.first, m.latest, m.min, m.max) == (4.0, 2.0, 1.0, 4.0)
    assert m.change_pct == pytest.approx(-50.0)
    assert m.window_mean == pytest.approx(2.0)
    assert m.window_std == pytest.approx(1.0)
    assert (m.first_step, m.latest_step, m.window_n) == (0, 400, 3)


def test_unknown_threshold_refused():
    with pytest.raises(AnalysisError, match="valid names"):
        analyze(healthy_run(), rec_targt=0.1)


# --- progress and phases -----------------------------------------------------------------------

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


# --- resumes ----------------------------------------------------------------------------------

def test_resume_boundary_replay_gap_and_continuity():
    a = analyze(two_segment_run())
    (r,) = a.resumes
    assert r.step == 3500
    assert r.replayed_steps == 6
    assert r.replayed_range == (3500, 4000)
    assert r.gap_seconds == pytest.approx(86400 - 8000)  # end of segment 0 (4000 steps x 2 s) to next day
    assert r.continuity["train/rec_loss"] == "continuous"
    j = analyze(two_segment_run(jump=0.1)).resumes[0]  # 10 sigma of the window before
    assert j.continuity["train/rec_loss"] == "jump"
    # the noise is estimated from 20 entries, so the measured size of a 10-sigma jump varies around 10
    assert 5 < j.evidence["train/rec_loss"]["shift_sigma"] < 25
    assert j.evidence["train/rec_loss"]["shift"] == pytest.approx(0.1, abs=0.01)


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


# --- decomposition -----------------------------------------------------------------------------

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


# --- JSON and text ------------------------------------------------------------------------------

def test_to_json_fields_serialisable_and_fractions_in_unit_interval(broken):
    j = to_json(analyze(two_segment_run(jump=0.1)))
    for jj in (j, to_json(broken)):
        text = json.dumps(jj, allow_nan=False)
        assert json.loads(text) == jj
        for k in ("entries", "first_step", "latest_step", "total_steps", "progress", "disc_start",
                  "disc_first_logged_step", "gan_phase_progress", "metrics", "resumes", "diagnostics", "skipped"):
            assert k in jj
        for k in ("progress", "gan_phase_progress"):
            assert jj[k] is None or 0.0 <= jj[k] <= 1.0
        for m in jj["metrics"].values():
            assert {"first", "latest", "min", "max", "change_pct", "trend", "status"} <= set(m)
        for d in jj["diagnostics"]:
            assert set(d) >= {"id", "severity", "message", "evidence"}
            assert d["severity"] in ("info", "warning", "critical")
    r = j["resumes"][0]
    assert (r["step"], r["replayed_steps"], r["continuity"]["train/rec_loss"]) == (3500, 6, "jump")
    assert j["skipped"] == {"count": 0, "reasons": {}}


def test_skipped_counted():
    from tests.helpers.runs import skipped_line
    run = make_run(frame(np.arange(0, 1000, 100), {"train/rec_loss": 1.0}),
                   skipped=[skipped_line("a.log", 3, "foreign"), skipped_line("a.log", 9, "foreign"),
                            skipped_line("a.log", 12, "truncated")])
    j = to_json(analyze(run))
    assert j["skipped"] == {"count": 3, "reasons": {"foreign": 2, "truncated": 1}}


def test_summary_never_praises_the_broken_run(broken):
    text = summary_text(broken).lower()
    assert "converg" not in text
    assert "excellent" not in text
    assert "negative" in text
    assert "not a better model" in text
    assert "train/rec_loss" in text
    assert "discriminator_not_trained" in text
    assert all("converg" not in s.lower() for s in broken.summary_sentences)


def test_analyze_does_not_modify_the_run():
    run = two_segment_run(jump=0.1)
    before_df, before_sup = run.df.copy(), run.superseded.copy()
    analyze(run)
    pd.testing.assert_frame_equal(run.df, before_df)
    pd.testing.assert_frame_equal(run.superseded, before_sup)


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


def test_make_run_supersedes_earlier_segments():
    a = frame(np.arange(0, 1000, 100), {"train/rec_loss": 1.0}, segment=0)
    b = frame(np.arange(500, 1500, 100), {"train/rec_loss": 2.0}, segment=1, t0="2025-03-03")
    run = make_run([a, b])
    assert list(run.df["step"]) == list(range(0, 1500, 100))
    assert list(run.superseded["step"]) == [500, 600, 700, 800, 900]
    assert (run.df.loc[run.df["step"] >= 500, "train/rec_loss"] == 2.0).all()


def test_headline_change_is_between_robust_levels_not_two_points():
    # a noisy flat loss whose first and last single entries happen to be outliers
    rng = np.random.default_rng(3)
    v = 1.0 + rng.normal(0, 0.05, 200)
    v[0], v[-1] = 3.0, 0.2
    a = analyze(make_run(frame(range(0, 20000, 100), {"train/rec_loss": v})), level_n=20)
    m = a.metrics["train/rec_loss"]
    assert m.level_n == 20
    assert m.start_level == pytest.approx(np.median(v[:20]))
    assert m.end_level == pytest.approx(np.median(v[-20:]))
    assert abs(m.change_pct) < 10  # first vs latest would say -93%
    assert (m.first, m.latest) == (3.0, 0.2)  # the single points are still reported as what they are


def test_levels_never_overlap_on_a_short_metric():
    a = analyze(make_run(frame(range(0, 700, 100), {"train/rec_loss": [5.0, 4, 3, 2, 1, 0.5, 0.25]})), window=3)
    m = a.metrics["train/rec_loss"]
    assert m.level_n == 2  # 7 entries // 3
    assert (m.start_level, m.end_level) == (4.5, 0.375)


def test_recommendations_by_severity_and_none_against_the_root_cause(broken):
    a = broken
    ids = [r.split(":")[0] for r in a.recommendations]
    sev = [a.diagnostic(i).severity for i in ids]
    assert sev == sorted(sev, key=["critical", "warning", "info"].index)
    assert "discriminator_not_trained" in ids
    sat = next(r for r in a.recommendations if r.startswith("adaptive_weight_saturated"))
    assert "lower lossconfig.disc_weight" not in sat
    assert "follows from the untrained discriminator" in sat
    assert a.diagnostic("adaptive_weight_saturated").evidence["caused_by"] == "discriminator_not_trained"


def test_saturated_weight_alone_still_advises_disc_weight():
    recs = recommendations([Diagnostic("adaptive_weight_saturated", "warning", "x")])
    assert "lower lossconfig.disc_weight" in recs[0]
