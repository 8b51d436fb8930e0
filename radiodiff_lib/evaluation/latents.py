"""The latent statistics the second stage needs: per channel, and the scale factor with an interval.

RadioDiff's second stage multiplies every latent by ``scale_factor`` before diffusion
(``ddm_const_sde.py``, ``training_step``), and the latents it sees are posterior *samples*
(``get_first_stage_encoding`` calls ``posterior.sample()``). Latent diffusion's convention is
``scale_factor = 1 / z.flatten().std()`` so that the scaled latents have unit variance; RadioDiff
measures it on its first batch alone when ``default_scale`` is false, and never when it is true.

Here it is measured over a whole split, streamed batch by batch (any size, constant memory), on
seeded posterior samples. Its interval comes from two disjoint halves of the maps (a seeded
split of the cities): each half gives its own scale factor, and the two bound how much the value
depends on which maps were measured. Per channel: mean and std of the samples, and the std of the
posterior mean (a channel whose posterior mean hardly varies carries no information about the map).
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch

from .bootstrap import Interval
from .evaluate import LatentStats
from .items import item_identity
from .scoring import to_batch

NEAR_ZERO = 1e-2  # a channel's std below this fraction of the largest channel's is "near 0"


@dataclass
class LatentSummary:
    """Latent statistics of one checkpoint over a split."""

    mean: list[float]
    std: list[float]
    mode_std: list[float]
    scale_factor: Interval  # value over all maps; low/high: the two halves of the maps
    halves: list[float]
    near_zero: list[int]  # channels whose sample std is near 0: 1/std would blow them up
    uninformative: list[int]  # channels whose posterior mean is (almost) constant over the maps
    shape: list[int]
    n_items: int
    n_maps: int
    split: str
    seed: int
    samples: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0)))  # [C, S] for histograms

    @property
    def channels(self) -> int:
        return len(self.mean)

    def to_json(self) -> dict:
        """The JSON of a sweep's ``latent`` entry."""
        return {
            "scale_factor": {"value": self.scale_factor.mean, "low": self.scale_factor.low,
                             "high": self.scale_factor.high, "halves": self.halves},
            "channels": [{"channel": c, "mean": self.mean[c], "std": self.std[c], "mode_std": self.mode_std[c],
                          "near_zero": c in self.near_zero, "uninformative": c in self.uninformative}
                         for c in range(self.channels)],
            "shape": self.shape, "split": self.split, "maps": self.n_maps, "items": self.n_items, "seed": self.seed,
            "encoding": "posterior samples (as the second stage encodes); scale_factor = 1 / std of all elements",
        }

    def to_record(self) -> dict:
        """Every field as plain JSON values (a sweep's cache entry); :meth:`from_record` reads it back exactly."""
        rec = {f.name: getattr(self, f.name) for f in fields(self)}
        rec["scale_factor"] = self.scale_factor.to_json()
        rec["samples"] = {"dtype": str(self.samples.dtype), "values": self.samples.tolist()}
        return rec

    @classmethod
    def from_record(cls, rec: dict) -> LatentSummary:
        """The summary :meth:`to_record` wrote."""
        samples = np.asarray(rec["samples"]["values"], dtype=rec["samples"]["dtype"])
        return cls(**{**rec, "scale_factor": Interval(**rec["scale_factor"]),
                      "samples": samples if samples.ndim == 2 else samples.reshape(0, 0)})  # [] when none were kept


def _near_zero(std: np.ndarray) -> list[int]:
    top = float(std.max()) if std.size else 0.0
    return [int(c) for c in np.flatnonzero(std <= NEAR_ZERO * top)] if top > 0 else list(range(std.size))


def map_halves(maps: np.ndarray, seed: int) -> np.ndarray:
    """Bool [N]: True for items whose map falls in the first of two seeded, disjoint halves of the maps."""
    unique = np.unique(maps)
    first = np.random.default_rng(seed).permutation(unique)[: (len(unique) + 1) // 2]
    return np.isin(maps, first)


@torch.no_grad()
def latent_statistics(model: torch.nn.Module, dataset: Any, indices: list[int] | None = None, split: str = "train",
                      batch_size: int = 8, device: torch.device | str = "cpu", autocast: Any = None,
                      seed: int = 0, samples_per_item: int = 32, max_samples: int = 20000) -> LatentSummary:
    """Stream ``dataset`` (the items ``indices``, default all) through the encoder and measure its latents."""
    dev = torch.device(device)
    indices = list(range(len(dataset))) if indices is None else list(indices)
    maps = np.array([item_identity(dataset, i)[0] for i in indices], dtype=np.int64)
    in_first = map_halves(maps, seed)
    stats = {"all": LatentStats(), "a": LatentStats(), "b": LatentStats(), "mode": LatentStats()}
    noise = torch.Generator(device=dev).manual_seed(seed)
    picks = np.random.default_rng(seed)
    kept: list[np.ndarray] = []
    n_kept = 0
    for start in range(0, len(indices), batch_size):
        chunk = indices[start:start + batch_size]
        x = to_batch(torch.stack([torch.as_tensor(dataset[i]["image"], dtype=torch.float32) for i in chunk]), dev)
        with autocast or nullcontext():
            posterior = model.encode(x)
        z = posterior.sample(noise).float()  # [B, C, h, w], what the second stage would see
        stats["all"].update(z)
        stats["mode"].update(posterior.mode().float())
        first = torch.as_tensor(in_first[start:start + batch_size], device=dev)
        for key, rows in (("a", first), ("b", ~first)):
            if rows.any():
                stats[key].update(z[rows])
        if n_kept < max_samples:
            flat = z.flatten(2).cpu().numpy()  # [B, C, h*w]
            take = picks.integers(0, flat.shape[2], size=(flat.shape[0], samples_per_item))
            values = np.take_along_axis(flat, take[:, None, :].repeat(flat.shape[1], 1), axis=2)
            kept.append(values.transpose(1, 0, 2).reshape(flat.shape[1], -1))
            n_kept += kept[-1].shape[1]
    every, mode = stats["all"].result(), stats["mode"].result()
    halves = [stats[k].result()["scale_factor"] for k in ("a", "b") if stats[k].count]
    value = every["scale_factor"]
    std, mode_std = np.array(every["std"]), np.array(mode["std"])
    return LatentSummary(
        mean=every["mean"], std=every["std"], mode_std=mode["std"],
        scale_factor=Interval(value, min(halves + [value]), max(halves + [value])), halves=halves,
        near_zero=_near_zero(std), uninformative=_near_zero(mode_std), shape=every["shape"],
        n_items=len(indices), n_maps=int(len(np.unique(maps))), split=split, seed=seed,
        samples=np.concatenate(kept, axis=1)[:, :max_samples] if kept else np.zeros((0, 0)),
    )
