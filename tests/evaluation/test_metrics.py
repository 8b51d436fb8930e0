"""Reconstruction metrics against hand computations on small arrays."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from radiodiff_lib.evaluation import metrics as M
from radiodiff_lib.vocabulary import EVAL_METRICS


def _maps(b=2, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 1, size, size, generator=g) * 0.8


def test_identical_maps_give_zero_error_ssim_one_and_infinite_psnr_without_warnings():
    x = _maps()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the inf must be handled, not a divide-by-zero warning
        m = M.map_metrics(x, x.clone())
    assert m["nmse"].tolist() == [0.0, 0.0]
    assert m["rmse"].tolist() == [0.0, 0.0]
    assert m["ssim"] == pytest.approx([1.0, 1.0], abs=1e-12)
    assert np.isposinf(m["psnr"]).all()


def test_constant_offset_gives_known_rmse_and_psnr():
    target = _maps()
    pred = target + 0.1  # MSE 0.01 -> PSNR = 10 log10(1 / 0.01) = 20 dB
    m = M.map_metrics(pred, target)
    assert m["rmse"] == pytest.approx([0.1, 0.1], abs=1e-7)
    assert m["psnr"] == pytest.approx([20.0, 20.0], abs=1e-5)  # float32 inputs: 0.1 is not exact
    t64 = torch.zeros(1, 16, 16, dtype=torch.float64)
    assert M.psnr(t64 + 0.1, t64)[0] == pytest.approx(20.0, abs=1e-12)
    assert M.psnr(t64 + 0.01, t64)[0] == pytest.approx(40.0, abs=1e-12)


def test_nmse_and_rmse_hand_computed_on_2x2():
    target = torch.tensor([[[1.0, 0.0], [0.5, 0.5]]])
    pred = torch.tensor([[[0.5, 0.0], [0.5, 1.0]]])
    # squared errors 0.25, 0, 0, 0.25 -> 0.5; target energy 1 + 0 + 0.25 + 0.25 = 1.5
    nmse, rmse = M.squared_error_stats(pred, target)
    assert nmse.item() == pytest.approx(0.5 / 1.5, abs=1e-15)
    assert rmse.item() == pytest.approx(math.sqrt(0.5 / 4), abs=1e-15)
    # street mask leaves out the bottom-right pixel: error 0.25, energy 1.25, 3 pixels
    mask = torch.tensor([[[True, True], [True, False]]])
    nmse_s, rmse_s = M.squared_error_stats(pred, target, mask)
    assert nmse_s.item() == pytest.approx(0.2, abs=1e-15)
    assert rmse_s.item() == pytest.approx(math.sqrt(0.25 / 3), abs=1e-15)
    # PSNR on the same masked pixels: MSE 0.25 / 3
    assert M.psnr(pred, target, mask)[0] == pytest.approx(10 * math.log10(3 / 0.25), abs=1e-12)


def test_batched_equals_one_map_at_a_time_and_accepts_both_shapes():
    target, pred = _maps(3, seed=1), _maps(3, seed=2)
    batch = M.map_metrics(pred, target)
    for i in range(3):
        single = M.map_metrics(pred[i, 0], target[i, 0])
        for name in EVAL_METRICS:
            assert batch[name][i] == pytest.approx(single[name][0], rel=1e-12)
    assert M.nmse(pred, target).dtype == torch.float64


def test_ssim_uses_scikit_image_documented_defaults():
    target, pred = _maps(1, seed=3)[0, 0].double().numpy(), _maps(1, seed=4)[0, 0].double().numpy()
    explicit = structural_similarity(target, pred, data_range=1.0, win_size=7, gaussian_weights=False,
                                     use_sample_covariance=True, K1=0.01, K2=0.03)
    assert M.ssim(torch.from_numpy(pred)[None], torch.from_numpy(target)[None])[0] == pytest.approx(explicit, abs=1e-15)


def test_ssim_of_constant_maps_matches_the_formula():
    # constant maps a, b: variances 0, so SSIM = (2ab + C1) / (a^2 + b^2 + C1), C1 = (0.01 * 1)^2
    a, b, c1 = 0.5, 0.4, 1e-4
    t = torch.full((1, 16, 16), a, dtype=torch.float64)
    p = torch.full((1, 16, 16), b, dtype=torch.float64)
    assert M.ssim(p, t)[0] == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), abs=1e-12)


def test_street_mask_error_only_inside_buildings_gives_zero_street_error():
    target = _maps(1, seed=5)
    buildings = torch.zeros_like(target)
    buildings[..., 10:20, 10:20] = 1.0
    pred = target.clone()
    pred[buildings > 0.5] += 0.3  # error only inside the buildings
    street = M.street_mask(buildings)
    overall, street_m = M.map_metrics(pred, target), M.map_metrics(pred, target, street)
    assert overall["nmse"][0] > 0.01
    assert overall["psnr"][0] < 30
    assert street_m["nmse"][0] == 0.0
    assert street_m["rmse"][0] == 0.0
    assert np.isposinf(street_m["psnr"][0])
    assert overall["ssim"][0] < street_m["ssim"][0] < 1.0  # only the window overlap near walls counts


def test_all_true_mask_equals_unmasked_and_empty_mask_is_nan():
    target, pred = _maps(2, seed=6), _maps(2, seed=7)
    full = M.map_metrics(pred, target)
    masked = M.map_metrics(pred, target, torch.ones_like(target, dtype=torch.bool))
    for name in EVAL_METRICS:
        assert masked[name] == pytest.approx(full[name], rel=1e-12)
    empty = M.map_metrics(pred, target, torch.zeros_like(target, dtype=torch.bool))
    for name in EVAL_METRICS:
        assert np.isnan(empty[name]).all()


def test_zero_energy_target():
    z = torch.zeros(2, 8, 8)
    pred = z.clone()
    pred[1, 0, 0] = 0.5
    assert M.nmse(pred, z).tolist() == [0.0, math.inf]


def test_mismatched_shapes_raise():
    with pytest.raises(ValueError, match="differ in shape"):
        M.nmse(torch.zeros(1, 8, 8), torch.zeros(1, 8, 9))
    with pytest.raises(ValueError, match="mask shape"):
        M.nmse(torch.zeros(2, 8, 8), torch.zeros(2, 8, 8), torch.ones(3, 8, 8))


def test_aggregate_hand_values():
    agg = M.aggregate(np.arange(1, 21, dtype=float))
    # linear interpolation: p5 at position 0.05 * 19 = 0.95 -> 1.95; p95 at 18.05 -> 19.05
    assert agg == {"mean": 10.5, "median": 10.5, "p5": pytest.approx(1.95), "p95": pytest.approx(19.05),
                   "count": 20, "n_inf": 0}
    values = np.random.default_rng(0).normal(size=37)
    agg = M.aggregate(values)
    assert agg["p5"] == pytest.approx(np.percentile(values, 5), rel=1e-12)
    assert agg["p95"] == pytest.approx(np.percentile(values, 95), rel=1e-12)
    assert agg["median"] == pytest.approx(np.median(values), rel=1e-12)


def test_aggregate_keeps_inf_and_ignores_nan():
    agg = M.aggregate([1.0, 2.0, math.inf, math.nan])
    assert agg["count"] == 3
    assert agg["n_inf"] == 1
    assert agg["mean"] == math.inf
    assert agg["median"] == 2.0
    assert agg["p95"] == math.inf
    assert agg["p5"] == pytest.approx(1.1)
    agg = M.aggregate([1.0, math.inf, math.inf])  # numpy's percentile would give nan here (inf - inf)
    assert agg["median"] == math.inf
    assert agg["p95"] == math.inf
    assert math.isnan(M.aggregate([math.nan])["mean"])
    assert M.aggregate([])["count"] == 0


def test_mean_over_maps_averages_each_maps_transmitters_first():
    # map 7: three transmitters (mean 2), map 3: one (mean 10), map 5: two (mean 6); one NaN ignored
    values = [1.0, 2.0, 3.0, 10.0, 5.0, 7.0, math.nan]
    maps = [7, 7, 7, 3, 5, 5, 5]
    out = M.mean_over_maps(values, maps)
    assert out["mean"] == pytest.approx(6.0)  # (2 + 10 + 6) / 3, not the item mean 28 / 6
    assert out["maps"] == 3
    assert out["items"] == 6
    assert out["std"] == pytest.approx(4.0)  # sd of (2, 10, 6)
    half = 4.302652729911275 * 4.0 / math.sqrt(3)  # t(0.975, 2 dof) * sd / sqrt(N)
    assert out["ci_low"] == pytest.approx(6.0 - half)
    assert out["ci_high"] == pytest.approx(6.0 + half)


def test_mean_over_maps_interval_undefined_for_one_map_or_an_infinite_map():
    one = M.mean_over_maps([1.0, 3.0], [4, 4])
    assert one["mean"] == 2.0
    assert math.isnan(one["ci_low"])
    inf = M.mean_over_maps([1.0, math.inf, 2.0], [1, 1, 2])
    assert math.isinf(inf["mean"])
    assert math.isnan(inf["ci_high"])
    empty = M.mean_over_maps([math.nan], [1])
    assert empty["maps"] == 0
    assert math.isnan(empty["mean"])


def test_aggregate_metrics_counts_the_maps_behind_each_mean():
    table = {name: [0.1, 0.2, math.nan, 0.4] for name in EVAL_METRICS}
    out = M.aggregate_metrics(table, maps=[1, 1, 2, 3])
    assert out["nmse"]["maps"] == 2  # map 2's only value is NaN
    assert out["nmse"]["count"] == 3
