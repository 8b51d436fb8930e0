"""Synthetic radio maps: the workbench's built-in data set, RadioMapSeer-like at 256 x 256.

Each scene is a random city (``city.py``), one transmitter in the street within the central
band, and a path-gain map from the physical model of ``propagation.py`` on RadioMapSeer's
[0, 1] scale. A scene is a pure function of (seed, index, size): NumPy generators are seeded
from ``[seed, index, stream]``, so data-loader workers and resumed runs see the same maps.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import DataError
from .city import place_transmitters, random_buildings
from .propagation import PropagationParams, gain_map
from .splits import check_split, split_indices

# Stand-ins for RadioMapSeer's simulators when writing a folder: the dominant-path model (DPM)
# is the default; ray tracing with 2/4 interactions reaches less/more far around corners.
SIMULATIONS = {
    "DPM": {},
    "IRT2": {"corner_loss_db": 16.0, "corner_reach_m": 40.0},
    "IRT4": {"corner_loss_db": 10.0, "corner_reach_m": 80.0, "corner_loss_per_m_db": 0.7},
}


@dataclass
class Scene:
    """One synthetic radio map: gain [H, W] in [0, 1], buildings mask [H, W], transmitter (x, y)."""

    gain: np.ndarray
    buildings: np.ndarray
    tx: tuple[int, int]


def scene_rng(seed: int, index: int, stream: int) -> np.random.Generator:
    """The NumPy generator of one random stream (city 0, transmitters 1, physics 2, cars 3) of a scene."""
    if int(seed) < 0 or int(index) < 0:
        raise DataError(f"Synthetic maps need a non-negative seed and index, got seed={seed}, index={index}.")
    return np.random.default_rng([int(seed), int(index), stream])


def scene_params(seed: int, index: int, simulation: str = "DPM") -> PropagationParams:
    """The propagation parameters of one scene: mild per-scene variation around the defaults."""
    if simulation not in SIMULATIONS:
        raise DataError(f"Unknown simulation {simulation!r}: use one of {', '.join(SIMULATIONS)}.")
    rng = scene_rng(seed, index, 2)
    exponent, wall, per_m = rng.uniform((3.0, 10.0, 0.4), (3.6, 14.0, 0.8))
    base = PropagationParams(exponent_far=float(exponent), wall_loss_db=float(wall), loss_per_m_db=float(per_m))
    return replace(base, **SIMULATIONS[simulation])


def scene_city(seed: int, index: int, size: int = 256, tx_count: int = 1) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The buildings mask and ``tx_count`` transmitter positions of scene (seed, index)."""
    if int(size) < 8:
        raise DataError(f"Synthetic maps need image_size >= 8, got {size}.")
    buildings = random_buildings(scene_rng(seed, index, 0), int(size))
    txs = place_transmitters(buildings, scene_rng(seed, index, 1), tx_count)
    return buildings, txs


def generate_scene(seed: int, index: int, size: int = 256) -> Scene:
    """Scene ``index`` of the synthetic data set with ``seed``, at size x size pixels."""
    buildings, (tx,) = scene_city(seed, index, size)
    gain = gain_map(buildings, tx, scene_params(seed, index))
    return Scene(gain=gain, buildings=buildings, tx=tx)


def scene_item(scene: Scene, name: str, index: int = 0) -> dict:
    """A data-set item as RadioDiff's loader gives it: image in [-1, 1], plus mask, tx, name and identity."""
    return {
        "image": torch.from_numpy(scene.gain * np.float32(2.0) - np.float32(1.0))[None],
        "buildings": torch.from_numpy(scene.buildings.astype(np.float32))[None],
        "tx": torch.tensor(scene.tx, dtype=torch.float32),
        "name": name,
        "map": int(index),
        "transmitter": 0,  # one transmitter per synthetic scene
    }


class SyntheticRadioMaps(Dataset):
    """One split of ``num_maps`` synthetic scenes (generated on the fly, deterministic)."""

    def __init__(self, num_maps: int = 1000, image_size: int = 256, seed: int = 0, split: str = "train",
                 val_fraction: float = 0.1, test_fraction: float = 0.1):
        self.split = check_split(split)
        self.num_maps, self.image_size, self.seed = int(num_maps), int(image_size), int(seed)
        if self.image_size < 8:
            raise DataError(f"data.image_size must be at least 8, got {image_size}.")
        self.indices = split_indices(self.num_maps, val_fraction, test_fraction, self.seed)[self.split]
        if len(self.indices) == 0:
            raise DataError(
                f"The synthetic {self.split!r} split is empty ({self.num_maps} maps, val_fraction "
                f"{val_fraction}, test_fraction {test_fraction}); raise the fraction or num_maps."
            )

    @property
    def map_source(self) -> str:
        """What a map number identifies: scene ``index`` of this generator seed (at any size)."""
        return f"synthetic seed {self.seed}"

    @property
    def protocol(self) -> str:
        """The synthetic data's own split (``split_indices``), not a RadioMapSeer protocol."""
        return "synthetic"

    @property
    def split_maps(self) -> list[int]:
        """The scene indices of this split, sorted."""
        return [int(i) for i in self.indices]

    @property
    def root_maps(self) -> int:
        """Scenes in the whole data set (all splits)."""
        return self.num_maps

    reference = None  # no reference split exists for generated data

    def identity(self, i: int) -> tuple[int, int]:
        """(scene index, transmitter 0) of item ``i``, without generating it."""
        return int(self.indices[i]), 0

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} maps")
        index = int(self.indices[i])
        scene = generate_scene(self.seed, index, self.image_size)
        return scene_item(scene, f"synthetic_{self.seed}_{index:05d}", index)

    def __repr__(self) -> str:
        return (f"SyntheticRadioMaps(split={self.split!r}, maps={len(self)} of {self.num_maps}, "
                f"image_size={self.image_size}, seed={self.seed})")


def preview_figure(n: int = 8, seed: int = 0, size: int = 256):
    """A matplotlib Figure with the first ``n`` synthetic maps (transmitter marked)."""
    from matplotlib.figure import Figure  # no pyplot: no global figure state, no GUI backend

    cols = min(4, n)
    rows = -(-n // cols)
    fig = Figure(figsize=(2.6 * cols + 0.8, 2.6 * rows + 0.5), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    im = None
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= n:
            continue
        scene = generate_scene(seed, i, size)
        im = ax.imshow(scene.gain, cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.plot(*scene.tx, marker="+", color="red", markersize=7)
        ax.set_title(f"map {i}", fontsize=9)
    fig.suptitle(f"Synthetic radio maps (seed {seed}, {size} x {size} px, transmitter +)", fontsize=10)
    if im is not None:
        fig.colorbar(im, ax=axes, shrink=0.8, label="path gain: 0 = -186 dB, 1 = -47 dB")
    return fig
