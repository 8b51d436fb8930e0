"""The cluster bootstrap and the verdict, on simulated per-item numbers (no model: fast)."""
from __future__ import annotations

import numpy as np
import pytest

from radiodiff_lib.evaluation.bootstrap import bootstrap_means, compare, map_draws, mean_interval


def simulated_sweep(rng, n_maps=30, tx=8, map_sd=1.0, item_sd=0.5, means=(0.0,)):
    """Per-item values [K, N] of K candidates on the same maps: a map effect shared by every candidate
    and every transmitter of the map (a hard city is hard for all), plus item noise."""
    maps = np.repeat(np.arange(n_maps), tx)
    effect = rng.normal(0.0, map_sd, n_maps)[maps]
    values = np.stack([mu + effect + rng.normal(0.0, item_sd, maps.size) for mu in means])
    return values, maps


def coverage(n_reps, level=0.95, naive=False, diff=False, seed=0):
    """How often the interval holds the true mean (or the true difference) over simulated sweeps."""
    rng = np.random.default_rng(seed)
    hits = 0
    for rep in range(n_reps):
        values, maps = simulated_sweep(rng, means=(0.0, 0.3))
        units = np.arange(maps.size) if naive else maps
        if diff:
            cmp_ = compare(values, units, steps=[1, 2], metric="nmse", n_boot=1000, seed=rep, level=level)
            hits += cmp_.diffs[1].holds(0.3) if cmp_.best == 0 else cmp_.diffs[0].holds(-0.3)
        else:
            iv = mean_interval(values[0], units, n_boot=1000, seed=rep, level=level)
            hits += iv.holds(0.0)
    return hits / n_reps


# 400 simulated sweeps: the standard error of a 95 % coverage is 1.1 points, so a bootstrap that
# covered 80 % (or one that resampled transmitters, not maps) cannot pass 0.90.
N_REPS = 400


def test_map_intervals_cover_the_true_mean_about_95_percent():
    assert 0.90 <= coverage(N_REPS) <= 0.99


def test_paired_difference_intervals_cover_the_true_difference_about_95_percent():
    assert 0.90 <= coverage(N_REPS, diff=True) <= 0.99


def test_resampling_transmitters_instead_of_maps_would_undercover():
    # the same data with each item as its own unit: the interval ignores the shared map effect
    assert coverage(100, naive=True) < 0.80


def test_draws_resample_maps_as_whole_units():
    maps = np.array([7, 7, 7, 3, 3, 9])
    codes, draws = map_draws(maps, n_boot=50, seed=1)
    assert codes.tolist() == [1, 1, 1, 0, 0, 2]  # items of one map share one code
    assert draws.shape == (50, 3)
    assert (draws.sum(axis=1) == 3).all()  # each resample draws as many maps as there are


def test_bootstrap_mean_of_a_draw_weights_every_item_of_a_drawn_map():
    values = np.array([[1.0, 1.0, 1.0, 4.0, 4.0, 10.0]])
    maps = np.array([0, 0, 0, 1, 1, 2])
    point, boot = bootstrap_means(values, maps, n_boot=200, seed=0)
    assert point[0] == pytest.approx(21.0 / 6)
    _, draws = map_draws(maps, 200, 0)
    expected = (draws @ np.array([3.0, 8.0, 10.0])) / (draws @ np.array([3.0, 2.0, 1.0]))
    np.testing.assert_allclose(boot[:, 0], expected)


def test_same_seed_same_intervals_other_seed_other_intervals():
    rng = np.random.default_rng(3)
    values, maps = simulated_sweep(rng, means=(0.0, 0.1, 0.5))
    a = compare(values, maps, [1, 2, 3], seed=11)
    b = compare(values, maps, [1, 2, 3], seed=11)
    c = compare(values, maps, [1, 2, 3], seed=12)
    assert [d.low for d in a.diffs] == [d.low for d in b.diffs]
    assert [d.low for d in a.diffs] != [d.low for d in c.diffs]


def test_verdict_best_indistinguishable_and_earliest():
    rng = np.random.default_rng(5)
    values, maps = simulated_sweep(rng, n_maps=40, means=(1.0, 0.0, 0.0, 0.5))
    values[2] = values[1]  # the same weights again, saved at another step
    cmp_ = compare(values, maps, steps=[100, 300, 200, 400], metric="nmse")
    assert cmp_.best == 1  # lowest NMSE; a tie goes to the first in candidate order
    assert sorted(cmp_.indistinguishable) == [1, 2]
    assert cmp_.earliest == 2  # step 200 < 300
    assert cmp_.diffs[1].mean == 0.0
    assert cmp_.diffs[3].low > 0  # 0.5 worse, resolved


def test_higher_is_better_for_ssim_and_psnr():
    rng = np.random.default_rng(6)
    values, maps = simulated_sweep(rng, means=(0.2, 0.9))
    assert compare(values, maps, [1, 2], metric="ssim").best == 1
    assert compare(values, maps, [1, 2], metric="psnr").best == 1
    assert compare(values, maps, [1, 2], metric="nmse").best == 0


def test_items_not_finite_for_some_candidate_are_left_out_for_all_and_counted():
    rng = np.random.default_rng(7)
    values, maps = simulated_sweep(rng, n_maps=10, tx=4, means=(0.0, 1.0))
    values[0, 5] = np.inf
    values[1, 9] = np.nan
    cmp_ = compare(values, maps, [1, 2])
    assert cmp_.excluded_items == 2
    assert cmp_.n_items == values.shape[1] - 2
    assert np.isfinite(cmp_.means[0].mean)
    assert "2 item(s) left out" in cmp_.notes[0]
