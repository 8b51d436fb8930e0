"""RadioMapSeer-layout folders numbered like the real one, small enough for the fast suite.

The reference split is written out here as the loaders of RadioDiff and RadioUNet do it
(``lib/loaders.py``, ``RadioUNet_c``), never taken from the library's own split code.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

# The table of issue 17 / radiodiff-reference.md section 7: inclusive ranges of shuffled positions.
PROTOCOL_TABLE = {
    "radiodiff": {"train": (0, 600), "val": (600, 650), "test": (600, 699)},
    "radiounet": {"train": (0, 500), "val": (501, 600), "test": (601, 699)},
}


def reference_maps_inds() -> np.ndarray:
    """``maps_inds`` exactly as RadioUNet_c forms it (the global NumPy RNG is restored afterwards)."""
    state = np.random.get_state()
    try:
        maps_inds = np.arange(0, 700, 1, dtype=np.int16)
        np.random.seed(42)
        np.random.shuffle(maps_inds)
    finally:
        np.random.set_state(state)
    return maps_inds


def reference_split(protocol: str) -> dict[str, list[int]]:
    """Sorted map file numbers per split: positions ind1..ind2 inclusive, file number maps_inds[i] + 1."""
    maps_inds = reference_maps_inds()
    return {name: sorted(int(maps_inds[i]) + 1 for i in range(a, b + 1))
            for name, (a, b) in PROTOCOL_TABLE[protocol].items()}


def write_gain_names(root: Path, maps, transmitters: int = 1) -> Path:
    """Empty ``gain/DPM/<map>_<tx>.png`` files: all that a split plan reads is their names."""
    gain = root / "gain" / "DPM"
    gain.mkdir(parents=True, exist_ok=True)
    for m in maps:
        for t in range(transmitters):
            (gain / f"{m}_{t}.png").touch()
    return root


def tiny_gain(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random 8-bit gain map with a block of zeros (a 'building', the same in every map of a city)."""
    gain = rng.integers(1, 256, size=(size, size), dtype=np.uint8)
    gain[size // 4: size // 2, size // 4: size // 2] = 0
    return gain


def write_numbered_folder(root: Path, maps=range(701), transmitters: int = 1, size: int = 16, seed: int = 0) -> Path:
    """Real tiny PNGs: ``gain/DPM/<map>_<tx>.png`` (random gains, a zero block) and ``antenna/<map>.json``."""
    rng = np.random.default_rng(seed)
    (root / "gain" / "DPM").mkdir(parents=True, exist_ok=True)
    (root / "antenna").mkdir(parents=True, exist_ok=True)
    for m in maps:
        positions = [[int(x), int(y)] for x, y in rng.integers(size // 2, size, size=(transmitters, 2))]
        (root / "antenna" / f"{m}.json").write_text(json.dumps(positions))
        for t in range(transmitters):
            Image.fromarray(tiny_gain(rng, size)).save(root / "gain" / "DPM" / f"{m}_{t}.png")
    return root
