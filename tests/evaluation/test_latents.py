"""Latent statistics over a split: streamed equals one pass, the scale factor's interval from two halves of the
maps, a map's transmitters kept together."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from radiodiff_lib.data import SyntheticRadioMaps
from radiodiff_lib.evaluation.items import item_identity
from radiodiff_lib.evaluation.latents import latent_statistics, map_halves
from radiodiff_lib.model.vae import DiagonalGaussianDistribution


class FixedEncoder(torch.nn.Module):
    """A stand-in encoder: posterior mean = per-channel affine maps of the pooled image, a tiny variance;
    channel 2 is constant (carries nothing about the map)."""

    def encode(self, x: torch.Tensor) -> DiagonalGaussianDistribution:
        pooled = torch.nn.functional.avg_pool2d(x, 4)  # [B, 1, h, w]
        mean = torch.cat([3.0 * pooled + 1.0, -0.5 * pooled, torch.zeros_like(pooled)], dim=1)
        return DiagonalGaussianDistribution(torch.cat([mean, torch.full_like(mean, -30.0)], dim=1))


def test_latent_statistics_streamed_equal_one_pass_over_every_item():
    ds = SyntheticRadioMaps(num_maps=40, image_size=16, seed=0, split="train")
    summary = latent_statistics(FixedEncoder(), ds, batch_size=3, seed=0)
    every = torch.cat([FixedEncoder().encode(ds[i]["image"][None]).mean for i in range(len(ds))]).double()
    assert summary.scale_factor.mean == pytest.approx(1.0 / every.flatten().std().item(), rel=1e-4)
    per_channel = every.transpose(0, 1).reshape(3, -1)
    assert summary.mean == pytest.approx(per_channel.mean(1).tolist(), rel=1e-4, abs=1e-6)
    assert summary.near_zero == [2]
    assert summary.uninformative == [2]
    assert summary.n_items == len(ds)
    assert summary.n_maps == len(ds)


def test_scale_factor_interval_comes_from_two_disjoint_halves_of_the_maps():
    ds = SyntheticRadioMaps(num_maps=40, image_size=16, seed=0, split="train")
    summary = latent_statistics(FixedEncoder(), ds, batch_size=4, seed=5)
    maps = np.array([item_identity(ds, i)[0] for i in range(len(ds))])
    first = map_halves(maps, seed=5)
    assert 0 < first.sum() < len(maps)
    halves = []
    for rows in (first, ~first):
        z = torch.cat([FixedEncoder().encode(ds[i]["image"][None]).mean for i in np.flatnonzero(rows)]).double()
        halves.append(1.0 / z.flatten().std().item())
    assert sorted(summary.halves) == pytest.approx(sorted(halves), rel=1e-4)
    assert summary.scale_factor.low == pytest.approx(min(halves), rel=1e-4)
    assert summary.scale_factor.high == pytest.approx(max(halves), rel=1e-4)


def test_halves_keep_every_transmitter_of_a_map_together(folder):
    maps = np.repeat(np.arange(10), 4)
    first = map_halves(maps, seed=0)
    for m in range(10):
        assert len(set(first[maps == m])) == 1
    assert first.sum() == 20
