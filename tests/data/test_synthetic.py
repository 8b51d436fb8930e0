"""Synthetic radio maps: physics checks, determinism, splits and the dataset API."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from radiodiff_lib.config import Config, DataConfig
from radiodiff_lib.data import build_dataset
from radiodiff_lib.data.propagation import PropagationParams, decode_db, encode_db, gain_db_map, gain_map
from radiodiff_lib.data.splits import split_indices
from radiodiff_lib.data.synthetic import SyntheticRadioMaps, generate_scene
from radiodiff_lib.errors import DataError

SIZE = 64
PX = 256 / SIZE  # metres per pixel at 64 px


def _open_field_db(d_m: float, p: PropagationParams) -> float:
    """Hand formula of the two-slope log-distance model (no obstruction)."""
    d_m = max(d_m, 1.0)
    loss = 10 * p.exponent_near * math.log10(min(d_m, p.breakpoint_m))
    loss += 10 * p.exponent_far * max(math.log10(d_m / p.breakpoint_m), 0.0)
    return p.gain_at_1m_db - loss


@pytest.mark.parametrize("index", range(6))
def test_scene_zero_inside_buildings_and_max_at_transmitter(index):
    s = generate_scene(0, index, SIZE)
    assert s.gain.shape == (SIZE, SIZE)
    assert s.gain.dtype == np.float32
    assert s.buildings.dtype == bool
    assert 0.05 < s.buildings.mean() < 0.7
    assert s.gain.min() >= 0.0
    assert s.gain.max() <= 1.0
    assert np.all(s.gain[s.buildings] == 0.0)
    x, y = s.tx
    assert not s.buildings[y, x]
    lo, hi = round(53 * SIZE / 256), round(202 * SIZE / 256)
    assert lo <= x <= hi
    assert lo <= y <= hi
    assert s.gain[y, x] == s.gain.max()
    assert s.gain[y, x] > 0.95  # -47 dB at 1 m minus at most a trace of blurred obstruction
    street = ~s.buildings
    assert (s.gain[street] > 0).mean() > 0.5  # most of the street is above the noise floor


def test_open_field_matches_hand_formula_and_falls_with_distance():
    p = PropagationParams()
    empty = np.zeros((SIZE, SIZE), dtype=bool)
    db = gain_db_map(empty, (20, 30), p)
    for x in (20, 21, 25, 30, 45, 63):
        assert db[30, x] == pytest.approx(_open_field_db((x - 20) * PX, p), abs=1e-3)
    assert db[30 + 12, 20 + 5] == pytest.approx(_open_field_db(13 * PX, p), abs=1e-3)  # a 5-12-13 triangle
    g = gain_map(empty, (20, 30), p)
    row = g[30, 20:]
    assert np.all(np.diff(row) < 0)  # strictly falling along an unobstructed line
    assert g[30, 20] == pytest.approx(1.0, abs=1e-6)
    assert g[30, 30] == pytest.approx((_open_field_db(40.0, p) + 186) / 139, abs=1e-5)


def test_step_down_behind_a_wall():
    p = PropagationParams()
    empty = np.zeros((SIZE, SIZE), dtype=bool)
    wall = empty.copy()
    wall[:, 40:42] = True  # a wall 8 m thick across the whole map: no way around it
    tx = (20, 32)
    open_db, wall_db = gain_db_map(empty, tx, p), gain_db_map(wall, tx, p)
    raw = p.wall_loss_db + 2 * PX * p.loss_per_m_db  # one building entered, 8 m inside it
    expected = p.max_obstruction_db * math.tanh(raw / p.max_obstruction_db)  # the soft bound
    assert expected > 15.0
    # Well behind the wall (beyond the diffraction blur) the whole obstruction loss applies.
    for x in (46, 50, 60):
        assert open_db[32, x] - wall_db[32, x] == pytest.approx(expected, abs=0.05)
    # In front of the wall nothing changes.
    assert np.allclose(open_db[:, :36], wall_db[:, :36], atol=0.01)
    g = gain_map(wall, tx, p)
    assert np.all(g[:, 40:42] == 0)
    before, after = g[32, 39], g[32, 43]
    los_drop = (_open_field_db(19 * PX, p) - _open_field_db(23 * PX, p)) / 139
    assert before - after > los_drop + 8 / 139  # a step down of more than 8 dB beyond the distance loss


def test_building_shadow_is_darker_than_open_street():
    p = PropagationParams(corner_reach_m=0.0)
    b = np.zeros((SIZE, SIZE), dtype=bool)
    b[28:36, 36:44] = True  # one 32 m block east of the transmitter
    db = gain_db_map(b, (20, 32), p)
    # Directly behind the block vs the same distance north-east in the open.
    assert db[32, 56] < db[20, 56] - 10


def test_encoding_is_radiomapseer_scale():
    assert encode_db(np.array([-186.0, -47.0, -116.5])) == pytest.approx([0.0, 1.0, 0.5])
    assert encode_db(np.array([-300.0, 0.0])) == pytest.approx([0.0, 1.0])
    assert decode_db(np.array([0.0, 1.0])) == pytest.approx([-186.0, -47.0])


def test_determinism_for_seed_and_index():
    a, b = generate_scene(3, 7, SIZE), generate_scene(3, 7, SIZE)
    assert np.array_equal(a.gain, b.gain)
    assert np.array_equal(a.buildings, b.buildings)
    assert a.tx == b.tx
    c, d = generate_scene(3, 8, SIZE), generate_scene(4, 7, SIZE)
    assert not np.array_equal(a.buildings, c.buildings)
    assert not np.array_equal(a.gain, c.gain)
    assert not np.array_equal(a.buildings, d.buildings)


def test_same_city_at_every_resolution():
    small, big = generate_scene(0, 2, 64), generate_scene(0, 2, 256)
    pooled = big.buildings.reshape(64, 4, 64, 4).mean(axis=(1, 3)) > 0.5
    assert (pooled == small.buildings).mean() > 0.9


def test_splits_disjoint_and_covering():
    parts = split_indices(50, 0.1, 0.2, seed=0)
    assert [len(parts[k]) for k in ("train", "val", "test")] == [35, 5, 10]
    allidx = np.concatenate(list(parts.values()))
    assert sorted(allidx.tolist()) == list(range(50))
    assert np.array_equal(split_indices(50, 0.1, 0.2, seed=0)["val"], parts["val"])
    with pytest.raises(DataError, match="no training data"):
        split_indices(10, 0.5, 0.5, seed=0)


def _config(**data) -> Config:
    return Config(data=DataConfig(**{"name": "synthetic", "image_size": 32, "num_maps": 20, **data}))


def test_build_dataset_items_and_splits():
    cfg = _config()
    sets = {s: build_dataset(cfg, s) for s in ("train", "val", "test")}
    assert [len(sets[s]) for s in ("train", "val", "test")] == [16, 2, 2]
    names = [set(ds[i]["name"] for i in range(len(ds))) for ds in sets.values()]
    assert len(set.union(*names)) == 20
    item = sets["train"][0]
    assert item["image"].shape == (1, 32, 32)
    assert item["image"].dtype == torch.float32
    assert item["buildings"].shape == (1, 32, 32)
    assert item["tx"].shape == (2,)
    assert -1.0 <= float(item["image"].min())
    assert float(item["image"].max()) <= 1.0
    scene = generate_scene(0, int(sets["train"].indices[0]), 32)
    assert torch.equal(item["image"][0], torch.from_numpy(scene.gain * 2 - 1))
    assert torch.all(item["image"][item["buildings"] > 0] == -1.0)
    with pytest.raises(DataError, match="split"):
        build_dataset(cfg, "holdout")
    with pytest.raises(DataError, match="synthetic, radio"):
        build_dataset(_config(name="mnist"), "train")
    with pytest.raises(DataError, match="data.root"):
        build_dataset(_config(name="radio"), "train")
    with pytest.raises(IndexError):
        sets["val"][2]


def test_dataloader_workers_give_same_batches():
    ds = SyntheticRadioMaps(num_maps=12, image_size=32, seed=1, split="train", val_fraction=0.0, test_fraction=0.0)
    batches = {}
    for workers in (0, 2):
        loader = DataLoader(ds, batch_size=4, shuffle=False, num_workers=workers)
        batches[workers] = list(loader)
    for a, b in zip(batches[0], batches[2], strict=True):
        assert torch.equal(a["image"], b["image"])
        assert torch.equal(a["tx"], b["tx"])
        assert a["name"] == b["name"]


@pytest.mark.parametrize("size", [50, 320])
def test_transmitter_is_the_maximum_at_other_sizes(size):
    for index in range(2):
        s = generate_scene(1, index, size)
        x, y = s.tx
        assert s.gain[y, x] == s.gain.max()
        assert np.all(s.gain[s.buildings] == 0)


def test_preview_figure_and_bench_smoke():
    from radiodiff_lib.bench.data import run
    from radiodiff_lib.data.synthetic import preview_figure

    fig = preview_figure(n=3, seed=0, size=32)
    images = [im for ax in fig.axes for im in ax.get_images()]
    assert len(images) == 3
    assert images[0].get_array().shape == (32, 32)
    result = run(size=32, maps_per_run=2, runs=2)
    assert result["size"] == 32
    assert len(result["runs"]) == 2
    assert result["maps_per_second"] > 0


def test_synthetic_dataset_errors():
    with pytest.raises(DataError, match="split is empty"):
        SyntheticRadioMaps(num_maps=5, image_size=16, split="val", val_fraction=0.0)
    with pytest.raises(DataError, match="at least 8"):
        SyntheticRadioMaps(num_maps=5, image_size=4)
    with pytest.raises(DataError, match="non-negative"):
        generate_scene(-1, 0, 16)
    with pytest.raises(DataError, match="val_fraction"):
        SyntheticRadioMaps(num_maps=5, image_size=16, val_fraction=1.5)
