"""Train/validation/test splits: the synthetic generator's own, and RadioMapSeer's two reference protocols.

RadioMapSeer (``plan_split``): RadioDiff's and RadioUNet's loaders (``lib/loaders.py``, class
``RadioUNet_c``) both shuffle ``maps_inds = np.arange(0, 700)`` after ``np.random.seed(42)``; a split
holds the shuffled positions ``ind1..ind2`` inclusive, and position ``i`` reads the map whose file
number is ``maps_inds[i] + 1`` (map 0 is never read). The two protocols cut that order differently:

============  ================  ==============  ===============  =======================================
protocol      train             val             test             where it is used
============  ================  ==============  ===============  =======================================
radiodiff     0..600 (601)      600..650 (51)   600..699 (100)   RadioDiff's ``RadioUNet_c``: train_vae.py
                                                                 and train_cond_ldm.py train on it,
                                                                 sample_cond_ldm.py tests on it
radiounet     0..500 (501)      501..600 (100)  601..699 (99)    the RadioUNet paper's disjoint split
============  ================  ==============  ===============  =======================================

``radiodiff`` overlaps itself (position 600 is in all three splits, the validation split lies inside
the test split); it is reproduced as it is, because RadioDiff's published numbers come from it.

A folder is split by map file number, never by the positions of the maps it happens to hold: a
missing map leaves every other map where the reference puts it and is listed. Only a folder so
small that the reference would leave one of the three splits without any of its maps (the small
folders tests and demos write) is split otherwise, and its plan says so (``reference`` False): its
maps, sorted and shuffled with seed 42, are cut into disjoint train, val and test parts in the ratio
of the protocol's split sizes (601:51:100 or 501:100:99), with at least one map in val and test from
3 maps on (all maps train below that).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from ..config import SPLIT_PROTOCOLS
from ..errors import DataError

SPLITS = ("train", "val", "test")
_ALIASES = {"validation": "val", "valid": "val", "training": "train"}

REFERENCE_MAPS = 700  # maps_inds = np.arange(0, 700): file numbers 1..700
REFERENCE_SEED = 42
# Inclusive ranges of shuffled positions, as the loaders' ind1..ind2.
PROTOCOL_POSITIONS: dict[str, dict[str, tuple[int, int]]] = {
    "radiodiff": {"train": (0, 600), "val": (600, 650), "test": (600, 699)},
    "radiounet": {"train": (0, 500), "val": (501, 600), "test": (601, 699)},
}
PROTOCOL_USES = {
    "radiodiff": "RadioDiff's RadioUNet_c: train_vae.py and train_cond_ldm.py train on it, sample_cond_ldm.py "
                 "tests on it; its validation split lies inside its test split and one map is in all three",
    "radiounet": "the RadioUNet paper's disjoint split",
}
OVERLAP_PAIRS = (("train", "val"), ("train", "test"), ("val", "test"))


def check_split(split: str) -> str:
    """The canonical split name ("train", "val" or "test"); DataError for anything else."""
    name = _ALIASES.get(str(split).lower(), str(split).lower())
    if name not in SPLITS:
        raise DataError(f"Unknown data split {split!r}: use one of {', '.join(SPLITS)}.")
    return name


def check_protocol(protocol: str) -> str:
    """The protocol name ("radiodiff" or "radiounet"); DataError for anything else."""
    name = str(protocol).lower()
    if name not in SPLIT_PROTOCOLS:
        raise DataError(f"Unknown split protocol {protocol!r}: use one of {', '.join(SPLIT_PROTOCOLS)} "
                        "(data.split_protocol, or --protocol).")
    return name


# --- the synthetic data's split ------------------------------------------------------------------

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


# --- RadioMapSeer's reference protocols ----------------------------------------------------------

def reference_map_order() -> np.ndarray:
    """File numbers of the 700 reference maps in the loaders' shuffled order (``maps_inds + 1``)."""
    maps_inds = np.arange(REFERENCE_MAPS)
    # The legacy global np.random.seed(42) + shuffle, on a private RandomState: same order, and the
    # caller's global NumPy RNG is left alone.
    np.random.RandomState(REFERENCE_SEED).shuffle(maps_inds)
    return maps_inds + 1


def reference_split(protocol: str) -> dict[str, tuple[int, ...]]:
    """The sorted map file numbers of each split of ``protocol`` in the complete reference folder."""
    order = reference_map_order()
    ranges = PROTOCOL_POSITIONS[check_protocol(protocol)]
    return {name: tuple(sorted(int(m) for m in order[a:b + 1])) for name, (a, b) in ranges.items()}


@dataclass(frozen=True)
class SplitPlan:
    """Which map file numbers of a folder each split of a protocol holds, and how that was decided."""

    protocol: str
    maps: tuple[int, ...]  # every map file number of the folder, sorted
    train: tuple[int, ...]  # sorted file numbers
    val: tuple[int, ...]
    test: tuple[int, ...]
    missing: tuple[int, ...]  # reference maps (1..700) the folder lacks
    unused: tuple[int, ...]  # maps of the folder in no split (map 0 and numbers above 700, in the reference)
    reference: bool  # True: the reference assignment by file number; False: the small-folder fallback

    def split(self, name: str) -> tuple[int, ...]:
        """The sorted map file numbers of split ``name``."""
        return getattr(self, check_split(name))

    @property
    def complete(self) -> bool:
        """The reference split with none of its 700 maps missing."""
        return self.reference and not self.missing

    def overlaps(self) -> dict[str, tuple[int, ...]]:
        """Maps in two splits at once, per pair: ``{"train&val": (...), "train&test": ..., "val&test": ...}``."""
        return {f"{a}&{b}": tuple(sorted(set(self.split(a)) & set(self.split(b)))) for a, b in OVERLAP_PAIRS}

    def to_json(self) -> dict:
        """The plan as ``radiodiff splits --json`` writes it."""
        return {
            "protocol": self.protocol, "maps": len(self.maps),
            "train": list(self.train), "val": list(self.val), "test": list(self.test),
            "overlaps": {k: list(v) for k, v in self.overlaps().items()},
            "missing": list(self.missing), "unused": list(self.unused), "reference": self.reference,
        }

    def describe(self) -> str:
        """One sentence: which split this is (reference, with missing maps, or the fallback)."""
        if not self.reference:
            present = REFERENCE_MAPS - len(self.missing)
            return (f"not the reference split: {present} of the {REFERENCE_MAPS} reference maps are here, too few "
                    f"for every split to keep one, so the {len(self.maps)} maps present were shuffled (seed "
                    f"{REFERENCE_SEED}) and cut {':'.join(str(c) for c in _reference_sizes(self.protocol))} "
                    "without overlap")
        if self.missing:
            return (f"the reference split by map file number, {len(self.missing)} of its {REFERENCE_MAPS} maps "
                    f"missing ({_short_list(self.missing)}); every other map is where the reference puts it")
        return f"the reference split by map file number, all {REFERENCE_MAPS} reference maps present"

    def summary_text(self) -> str:
        """Lines for a terminal: the protocol, counts per split, overlaps, missing and unused maps."""
        ref = reference_split(self.protocol) if self.reference else None
        span = f", file numbers {self.maps[0]}..{self.maps[-1]}" if self.maps else ""
        lines = [f"{len(self.maps)} maps{span}; protocol {self.protocol} ({PROTOCOL_USES[self.protocol]}).",
                 f"This is {self.describe()}."]
        for name in SPLITS:
            of = f" (reference {len(ref[name])})" if ref else ""
            lines.append(f"  {name:5s} {len(self.split(name)):4d} maps{of}")
        overlaps = [f"{pair} {len(maps)} (maps {_short_list(maps)})" for pair, maps in self.overlaps().items() if maps]
        lines.append("Overlaps: " + ("; ".join(overlaps) if overlaps else "none") + ".")
        lines.append(f"Missing reference maps: {len(self.missing)}" + (f" (maps {_short_list(self.missing)})." if self.missing else "."))
        if self.unused:
            lines.append(f"In no split: {len(self.unused)} ({'map' if len(self.unused) == 1 else 'maps'} "
                         f"{_short_list(self.unused)}; the reference loaders read file numbers 1..{REFERENCE_MAPS} only).")
        return "\n".join(lines)


def _short_list(numbers: Iterable[int], limit: int = 12) -> str:
    numbers = list(numbers)
    shown = ", ".join(str(m) for m in numbers[:limit])
    return shown + (f", ... ({len(numbers) - limit} more)" if len(numbers) > limit else "")


def _reference_sizes(protocol: str) -> tuple[int, int, int]:
    return tuple(b - a + 1 for a, b in PROTOCOL_POSITIONS[protocol].values())  # type: ignore[return-value]


def plan_split(map_numbers: Iterable[int], protocol: str = "radiodiff") -> SplitPlan:
    """The split of a folder holding maps ``map_numbers`` under ``protocol`` (see the module's docstring)."""
    protocol = check_protocol(protocol)
    maps = tuple(sorted({int(m) for m in map_numbers}))
    present = set(maps)
    ref = reference_split(protocol)
    all_reference = set(reference_map_order().tolist())
    missing = tuple(sorted(all_reference - present))
    parts = {name: tuple(m for m in ref[name] if m in present) for name in SPLITS}
    if all(parts.values()):
        unused = tuple(m for m in maps if m not in all_reference)
        return SplitPlan(protocol, maps, parts["train"], parts["val"], parts["test"], missing, unused, True)
    return _fallback_plan(protocol, maps, missing)


def _fallback_plan(protocol: str, maps: tuple[int, ...], missing: tuple[int, ...]) -> SplitPlan:
    """A folder too small for the reference: its maps cut without overlap in the protocol's size ratio."""
    n = len(maps)
    if n < 3:  # too few to hold anything out: every map trains
        return SplitPlan(protocol, maps, maps, (), (), missing, (), False)
    n_train_ref, n_val_ref, n_test_ref = _reference_sizes(protocol)
    total = n_train_ref + n_val_ref + n_test_ref
    n_train, n_val, _ = split_counts(n, n_val_ref / total, n_test_ref / total)
    shuffled = [maps[k] for k in np.random.RandomState(REFERENCE_SEED).permutation(n)]
    cut = (shuffled[:n_train], shuffled[n_train:n_train + n_val], shuffled[n_train + n_val:])
    return SplitPlan(protocol, maps, *(tuple(sorted(c)) for c in cut), missing, (), False)
