"""Evaluation pieces that need no checkpoint: latent statistics, map choice, JSON and figures."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from radiodiff_lib.evaluation import evaluate as E
from radiodiff_lib.evaluation import metrics as M
from radiodiff_lib.plots.reconstruction import examples_figure, histograms_figure, write_evaluation_figures


def test_latent_stats_match_torch_over_batches():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(5, 3, 4, 4, generator=g) * torch.tensor([1.0, 2.0, 0.5])[None, :, None, None] + 0.3
    stats = E.LatentStats()
    for part in z.split(2):  # batches of 2, 2, 1
        stats.update(part)
    out = stats.result()
    per_channel = z.double().permute(1, 0, 2, 3).reshape(3, -1)
    assert out["mean"] == pytest.approx(per_channel.mean(1).tolist(), rel=1e-12)
    assert out["std"] == pytest.approx(per_channel.std(1).tolist(), rel=1e-12)
    # latent-diffusion convention: scale_factor = 1 / z.flatten().std()
    assert out["scale_factor"] == pytest.approx(1.0 / z.double().flatten().std().item(), rel=1e-12)
    assert out["channels"] == 3
    assert out["shape"] == [3, 4, 4]


def test_to_unit_maps_and_clamps():
    x = torch.tensor([-1.5, -1.0, 0.0, 1.0, 2.0])
    assert E.to_unit(x).tolist() == [0.0, 0.0, 0.5, 1.0, 1.0]


def test_pick_indices_is_deterministic_per_seed():
    assert E._pick_indices(10, None, 0) == list(range(10))
    assert E._pick_indices(10, 50, 0) == list(range(10))
    a, b, c = E._pick_indices(100, 5, 0), E._pick_indices(100, 5, 0), E._pick_indices(100, 5, 1)
    assert a == b
    assert a != c
    assert len(set(a)) == 5
    assert a == sorted(a)


def _fake_result(n=6, size=24) -> E.EvalResult:
    rng = np.random.default_rng(0)
    targets = torch.from_numpy(rng.random((n, size, size)))
    buildings = torch.zeros(n, size, size)
    buildings[:, 4:10, 6:14] = 1
    preds = (targets + torch.from_numpy(rng.normal(0, 0.05, (n, size, size)))).clamp(0, 1)
    preds[0] = targets[0]  # a perfect map: PSNR inf on both pixel sets
    rows = {"index": list(range(n)), "name": [f"m{i}" for i in range(n)]}
    for suffix, mask in (("", None), ("_street", M.street_mask(buildings))):
        for k, v in M.map_metrics(preds, targets, mask).items():
            rows[k + suffix] = v
    per_map = pd.DataFrame(rows)
    examples = [E.Example(label, i, f"m{i}", targets[i].numpy(), preds[i].numpy(), buildings[i].numpy(),
                          float(per_map.nmse[i]), float(per_map.nmse_street[i]))
                for label, i in zip(E.EXAMPLE_LABELS, (0, 2, 5))]
    stats = E.LatentStats()
    stats.update(torch.ones(2, 3, 2, 2) + torch.arange(8.0).reshape(2, 1, 2, 2))
    return E.EvalResult(per_map, M.aggregate_metrics(per_map), M.aggregate_metrics(per_map, "_street"),
                        stats.result(), 0.01, n, "fake.pt", examples, image_size=(size, size))


def test_json_is_strict_and_encodes_inf_as_string():
    result = _fake_result()
    payload = result.to_json()
    text = json.dumps(payload, allow_nan=False)  # raises if an inf/NaN slipped through
    back = json.loads(text)
    assert back["n_maps"] == 6
    assert back["metrics"]["psnr"]["p95"] == "inf"
    for section in ("metrics", "metrics_street"):
        assert set(back[section]) == {"nmse", "rmse", "ssim", "psnr"}
        for stats in back[section].values():
            assert {"mean", "median", "p5", "p95"} <= set(stats)
    assert set(back["latent"]) >= {"mean", "std", "scale_factor"}
    assert len(back["latent"]["std"]) == 3
    assert back["seconds_per_map"] == 0.01
    assert "inf" in result.summary_text()
    assert "scale_factor" in result.summary_text()


def test_figures_render_with_inf_psnr_and_building_outlines(tmp_path):
    result = _fake_result()
    fig = examples_figure(result)
    axes = fig.get_axes()
    assert len([a for a in axes if a.images]) == 9  # 3 maps x (input, reconstruction, error)
    assert all(a.collections for a in axes if a.images)  # a contour (building outline) on each panel
    hist = histograms_figure(result)
    assert any("inf" in t.get_text() for a in hist.get_axes() for t in a.texts)  # inf counted, not dropped
    paths = write_evaluation_figures(result, tmp_path / "figs")
    assert set(paths) == {"examples", "histograms"}
    for p in paths.values():
        assert open(p, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert math.isinf(result.metrics["psnr"]["p95"])
