"""A sweep's items: which map each belongs to, the seeded subset, read once."""
from __future__ import annotations

import pytest
import torch

from radiodiff_lib.data import RadioMapSeer, SyntheticRadioMaps
from radiodiff_lib.errors import ConfigError
from radiodiff_lib.evaluation.items import choose_items, item_identity, read_items


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
