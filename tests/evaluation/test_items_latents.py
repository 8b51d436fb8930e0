"""A sweep's items (which map each belongs to, the seeded subset, read once) and the latent statistics."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from radiodiff_lib.data import RadioMapSeer, SyntheticRadioMaps, write_radiomapseer_folder
from radiodiff_lib.errors import ConfigError
from radiodiff_lib.evaluation.items import choose_items, item_identity, read_items
from radiodiff_lib.evaluation.latents import latent_statistics, map_halves
from radiodiff_lib.model.vae import DiagonalGaussianDistribution


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A RadioMapSeer-layout folder: 40 maps of 16 x 16 with 4 transmitters each."""
    return write_radiomapseer_folder(tmp_path_factory.mktemp("rms"), num_maps=40, seed=3, size=16, tx_per_map=4)


def test_radiomapseer_items_belong_to_their_map_file(folder):
    ds = RadioMapSeer(folder, "train", image_size=16)
    ids = [item_identity(ds, i) for i in range(len(ds))]
    names = [ds[i]["name"] for i in range(0, len(ds), 7)]
    assert [f"{m}_{t}" for m, t in ids[::7]] == names  # the file <map>_<tx>.png the item was read from
    assert all(sum(1 for m, _ in ids if m == mm) == 4 for mm, _ in ids)  # 4 transmitters per map


def test_synthetic_items_are_their_own_scene_with_one_transmitter():
    ds = SyntheticRadioMaps(num_maps=30, image_size=16, seed=0, split="val")
    assert [item_identity(ds, i) for i in range(len(ds))] == [(int(k), 0) for k in ds.indices]


def test_a_seeded_subset_keeps_whole_maps_and_the_asked_transmitters(folder):
    ds = RadioMapSeer(folder, "train", image_size=16)
    picked = choose_items(ds, maps=5, tx=2, seed=1)
    ids = [item_identity(ds, i) for i in picked]
    maps = sorted({m for m, _ in ids})
    assert len(maps) == 5
    assert len(ids) == 10
    assert all(sum(1 for m, _ in ids if m == mm) == 2 for mm in maps)
    assert choose_items(ds, maps=5, tx=2, seed=1) == picked  # seeded
    assert choose_items(ds, maps=5, tx=2, seed=2) != picked
    assert len(choose_items(ds)) == len(ds)  # no subset: every item
    with pytest.raises(ConfigError, match="--tx 0"):
        choose_items(ds, tx=0)


def test_items_hold_the_data_sets_tensors_and_identities(folder):
    ds = RadioMapSeer(folder, "train", image_size=16)
    items = read_items(ds, choose_items(ds, maps=3, tx=4, seed=0), "train", str(folder))
    assert items.images.shape == (12, 1, 16, 16)
    assert items.buildings.dtype == torch.bool
    assert items.n_maps == 3
    assert len(set(zip(items.maps, items.tx))) == 12
    assert items.protocol == "radiodiff"
    assert items.map_source == ds.map_source
    k = 5
    assert torch.equal(items.images[k], ds[items.indices[k]]["image"])
    assert items.fingerprint() == read_items(ds, items.indices, "train", str(folder)).fingerprint()
    assert items.fingerprint() != read_items(ds, items.indices[:-1], "train", str(folder)).fingerprint()


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
