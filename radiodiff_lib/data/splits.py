"""Train/validation/test splits: the synthetic generator's and RadioMapSeer's seed-42 split."""
from __future__ import annotations

import numpy as np

from ..errors import DataError

SPLITS = ("train", "val", "test")
_ALIASES = {"validation": "val", "valid": "val", "training": "train"}

# RadioMapSeer (701 maps): shuffle the map indices with NumPy seed 42, the first 600 train,
# the next 50 validation, the remaining 51 test.
RADIOMAPSEER_MAPS = 701
RADIOMAPSEER_TRAIN = 600
RADIOMAPSEER_VAL = 50


def check_split(split: str) -> str:
    """The canonical split name ("train", "val" or "test"); DataError for anything else."""
    name = _ALIASES.get(str(split).lower(), str(split).lower())
    if name not in SPLITS:
        raise DataError(f"Unknown data split {split!r}: use one of {', '.join(SPLITS)}.")
    return name


def split_counts(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int, int]:
    """(train, val, test) counts for n items; a positive fraction gets at least one item."""
    for name, frac in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= frac < 1.0:
            raise DataError(f"data.{name} must be in [0, 1), got {frac}. Set it in the config's data section.")
    if val_fraction + test_fraction >= 1.0:
        raise DataError(
            f"data.val_fraction + data.test_fraction = {val_fraction + test_fraction} leaves no "
            "training data; make their sum smaller than 1."
        )
    n_val = int(round(n * val_fraction))
    n_test = int(round(n * test_fraction))
    if val_fraction > 0 and n_val == 0:
        n_val = 1
    if test_fraction > 0 and n_test == 0:
        n_test = 1
    n_train = n - n_val - n_test
    if n_train < 1:
        raise DataError(
            f"{n} maps are too few to split into train/val/test with fractions "
            f"{val_fraction}/{test_fraction}; use more maps (data.num_maps) or smaller fractions."
        )
    return n_train, n_val, n_test


def split_indices(n: int, val_fraction: float, test_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Disjoint sorted index arrays covering range(n): a seeded shuffle cut into train, val, test."""
    if n < 1:
        raise DataError(f"A data set needs at least one map, got num_maps={n}.")
    n_train, n_val, _ = split_counts(n, val_fraction, test_fraction)
    perm = np.random.RandomState(seed).permutation(n)
    return {
        "train": np.sort(perm[:n_train]),
        "val": np.sort(perm[n_train:n_train + n_val]),
        "test": np.sort(perm[n_train + n_val:]),
    }


def radiomapseer_split(n_maps: int) -> dict[str, np.ndarray]:
    """RadioMapSeer's split of map positions 0..n_maps-1 (in sorted file-number order).

    The map positions are shuffled with ``np.random.RandomState(42).permutation(n_maps)``, which
    gives the same order as ``np.random.seed(42); np.random.shuffle(np.arange(n_maps))``; the
    first 600 are training maps and the next 50 validation, the rest test. A folder with fewer
    (or more) maps gets the same proportions, 600/701 and 50/701, rounded, with at least one map
    in validation and test once there are three maps. The arrays keep the shuffled order.
    """
    if n_maps < 1:
        raise DataError("A RadioMapSeer folder with no maps cannot be split.")
    perm = np.random.RandomState(42).permutation(n_maps)
    if n_maps == RADIOMAPSEER_MAPS:
        n_train, n_val = RADIOMAPSEER_TRAIN, RADIOMAPSEER_VAL
    elif n_maps < 3:
        n_train, n_val = n_maps, 0  # too few to hold out anything: all maps train
    else:
        n_train, n_val, _ = split_counts(
            n_maps, RADIOMAPSEER_VAL / RADIOMAPSEER_MAPS,
            (RADIOMAPSEER_MAPS - RADIOMAPSEER_TRAIN - RADIOMAPSEER_VAL) / RADIOMAPSEER_MAPS,
        )
    return {
        "train": perm[:n_train],
        "val": perm[n_train:n_train + n_val],
        "test": perm[n_train + n_val:],
    }
