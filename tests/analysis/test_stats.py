"""Statistics against hand computations: smoothing, min-max scaling, trends, statuses by their rules, levels."""
from __future__ import annotations

import numpy as np
import pytest

from radiodiff_lib.analysis import AnalysisError, analyze, smooth_tensorboard
from radiodiff_lib.analysis.stats import fit_trend, main_loss, normalize_minmax, with_entries
from tests.helpers.runs import frame, make_run


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


def test_the_main_loss_is_the_stages_key_loss_else_its_total():
    from radiodiff_lib.vocabulary import LDM_TOTAL_LOSS, LOSS_SIMPLE, REC_LOSS, STAGE_LDM, STAGE_VAE, TOTAL_LOSS
    assert main_loss(STAGE_VAE, [TOTAL_LOSS, REC_LOSS]) == REC_LOSS
    assert main_loss(STAGE_VAE, [TOTAL_LOSS]) == TOTAL_LOSS
    assert main_loss(STAGE_LDM, [LDM_TOTAL_LOSS, LOSS_SIMPLE]) == LOSS_SIMPLE
    assert main_loss(STAGE_LDM, [LDM_TOTAL_LOSS]) == LDM_TOTAL_LOSS
    assert main_loss(STAGE_LDM, [REC_LOSS]) is None
    v = np.linspace(1.0, 0.5, 30)
    a = analyze(make_run(frame(range(0, 3000, 100), {TOTAL_LOSS: v})))  # no rec_loss logged
    assert a.key_metric == main_loss(a.stage, with_entries(a.metrics)) == TOTAL_LOSS
