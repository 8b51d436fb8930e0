"""The items a sweep scores: which (map, transmitter) pairs of a split, read and decoded once.

Every checkpoint of a sweep is scored on the same items, so two checkpoints are compared item by
item. The items are a fixed, seeded choice of maps (``maps``) and of transmitters within each
map (``tx``) out of the split's items that may be scored (the run's training maps left out), or
all of those. The tensors are read from the data set once and kept in memory (images as float32
in [-1, 1], buildings as bool), then every checkpoint's forward runs over them.

The identity of an item (its city map and transmitter) comes from :func:`item_identity` alone (the
data set's ``identity``): the uncertainty of a sweep is computed over maps, so that is the one
place that says which map an item belongs to.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ConfigError, DataError


def item_identity(dataset, index: int) -> tuple[int, int]:
    """(map, transmitter) of item ``index`` of a data set: a RadioMapSeer file number, or a synthetic scene."""
    identity = getattr(dataset, "identity", None)
    if identity is None:
        raise DataError(f"Cannot tell which map item {index} of {type(dataset).__name__} belongs to: "
                        "a sweep needs RadioMapSeer or synthetic data.")
    map_id, tx = identity(index)
    return int(map_id), int(tx)


def choose_items(dataset, maps: int | None = None, tx: int | None = None, seed: int = 0,
                 among: list[int] | None = None) -> list[int]:
    """Data-set indices of ``maps`` maps drawn by ``seed`` and ``tx`` transmitters of each (all when None),
    out of the items ``among`` (default every item of the data set)."""
    for name, value in (("--maps", maps), ("--tx", tx)):
        if value is not None and value < 1:
            raise ConfigError(f"{name} {value}: give at least 1 (or leave it out for all).")
    by_map: dict[int, list[tuple[int, int]]] = {}
    for i in range(len(dataset)) if among is None else among:
        m, t = item_identity(dataset, i)
        by_map.setdefault(m, []).append((t, i))
    rng = np.random.default_rng(seed)
    chosen_maps = sorted(by_map)
    if maps is not None and maps < len(chosen_maps):
        chosen_maps = sorted(int(m) for m in rng.choice(chosen_maps, size=maps, replace=False))
    indices = []
    for m in chosen_maps:
        pairs = sorted(by_map[m])
        if tx is not None and tx < len(pairs):
            picked = rng.choice(len(pairs), size=tx, replace=False)
            pairs = [pairs[k] for k in sorted(picked)]
        indices.extend(i for _t, i in pairs)
    return indices


@dataclass
class Items:
    """The scored items, in memory: images [N, 1, H, W] in [-1, 1], buildings [N, 1, H, W] bool, identities."""

    images: torch.Tensor
    buildings: torch.Tensor
    maps: np.ndarray  # [N] map of each item (the unit the bootstrap resamples)
    tx: np.ndarray  # [N] transmitter of each item
    names: list[str]
    indices: list[int]  # [N] the items' indices in their data set
    split: str
    data: str
    protocol: str  # the split protocol (radiodiff, radiounet) or "synthetic"
    map_source: str  # what a map number identifies (data.records): a RadioMapSeer file, or a synthetic scene

    def __len__(self) -> int:
        return len(self.names)

    @property
    def n_maps(self) -> int:
        """How many city maps the items come from."""
        return int(len(np.unique(self.maps)))

    @property
    def split_maps(self) -> list[int]:
        """The items' maps, sorted (a data set's ``split_maps``, so that ``data.train_overlap`` reads them)."""
        return [int(m) for m in np.unique(self.maps)]

    def select(self, rows: list[int]) -> Items:
        """The items at ``rows`` (positions in these items), in that order."""
        return Items(images=self.images[rows], buildings=self.buildings[rows], maps=self.maps[rows], tx=self.tx[rows],
                     names=[self.names[r] for r in rows], indices=[self.indices[r] for r in rows], split=self.split,
                     data=self.data, protocol=self.protocol, map_source=self.map_source)

    def fingerprint(self) -> str:
        """A hash of which items these are (data, split, protocol, maps, transmitters, size): part of a cache key."""
        h = hashlib.sha256(f"{self.data}|{self.split}|{self.protocol}|{tuple(self.images.shape)}".encode())
        h.update(np.stack([self.maps, self.tx]).astype(np.int64).tobytes())
        return h.hexdigest()


def read_items(dataset, indices: list[int], split: str, data: str) -> Items:
    """Read and decode the items ``indices`` of ``dataset`` once, into memory."""
    if not indices:
        raise DataError(f"No items to score in the {split} split of {data}; choose another split, protocol or "
                        "more maps.")
    first = dataset[indices[0]]
    shape = tuple(first["image"].shape)
    images = torch.empty((len(indices),) + shape, dtype=torch.float32)
    buildings = torch.empty((len(indices),) + shape, dtype=torch.bool)
    names: list[str] = []
    for k, i in enumerate(indices):
        item = first if k == 0 else dataset[i]
        images[k] = torch.as_tensor(item["image"], dtype=torch.float32)
        buildings[k] = torch.as_tensor(item["buildings"]) > 0.5
        names.append(str(item.get("name", i)))
    ids = np.array([item_identity(dataset, i) for i in indices], dtype=np.int64).reshape(-1, 2)
    return Items(images=images, buildings=buildings, maps=ids[:, 0], tx=ids[:, 1], names=names,
                 indices=list(indices), split=split, data=str(data), protocol=dataset.protocol,
                 map_source=dataset.map_source)
