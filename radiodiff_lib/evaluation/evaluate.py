"""Evaluate a VAE checkpoint: reconstruction metrics, latent statistics and speed on a held-out split.

The VAE runs in eval mode under ``torch.no_grad`` with the posterior *mode* (no sampling), so a
result depends only on the weights, the data and ``seed`` (which picks the items when ``n`` is
smaller than the split). Outputs are mapped from [-1, 1] to [0, 1] and clamped before the
metrics of :mod:`radiodiff_lib.metrics` are computed, over all pixels and over street pixels
(buildings mask 0) only.

No training map is scored unnoticed: the maps the checkpoint trained on come from its split record,
or, for a RadioDiff ``model-N.pt``, from the ``radiodiff`` protocol (assumed, and said); the
evaluated maps among them are left out and named, or kept and labelled with
``include_train_maps``. Every item is one (map, transmitter); the summary also averages each
map's transmitters first and gives the mean over maps with its interval and N maps.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..checkpoints import load_model_from_checkpoint
from ..config import Config, replace, resolve_config
from ..data import build_dataset, training_maps
from ..errors import ConfigError, DataError
from ..vocabulary import EVAL_METRICS, SPLIT_RECORD, WORKBENCH_CHECKPOINT
from . import metrics as M
from .items import item_identity
from .result import EXAMPLE_LABELS, EvalResult, Example
from .scope import eval_protocol, eval_scope

# --- the pieces (shared with the benchmark) -----------------------------------------------------

def to_unit(x: torch.Tensor) -> torch.Tensor:
    """Map [-1, 1] to [0, 1] and clamp (the metrics' scale)."""
    return ((x + 1.0) / 2.0).clamp(0.0, 1.0)


@torch.no_grad()
def reconstruct(model: torch.nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(reconstruction in [-1, 1], latents) with the posterior mode: no sampling."""
    posterior = model.encode(images)
    z = posterior.mode()
    return model.decode(z), z


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class LatentStats:
    """Running per-channel and overall mean/std of latents ``[B, C, h, w]`` in float64."""

    def __init__(self) -> None:
        self.sum = self.sumsq = None
        self.count = 0
        self.shape: tuple[int, ...] = ()

    def update(self, z: torch.Tensor) -> None:
        """Add a batch of latents."""
        z = z.detach().double()
        if self.sum is None:
            self.sum = torch.zeros(z.shape[1], dtype=torch.float64, device=z.device)
            self.sumsq = torch.zeros_like(self.sum)
            self.shape = tuple(z.shape[1:])
        self.sum += z.sum(dim=(0, 2, 3))
        self.sumsq += (z * z).sum(dim=(0, 2, 3))
        self.count += z.shape[0] * z.shape[2] * z.shape[3]

    def result(self) -> dict[str, Any]:
        """``{mean, std, scale_factor, channels, shape}``; std with Bessel's correction as ``torch.std``."""
        s, ss, n = self.sum.cpu().numpy(), self.sumsq.cpu().numpy(), self.count
        mean = s / n
        var = np.maximum(ss - s * s / n, 0.0) / max(n - 1, 1)
        total_n = n * len(s)
        total_mean = s.sum() / total_n
        total_var = max(ss.sum() - total_n * total_mean**2, 0.0) / max(total_n - 1, 1)
        total_std = float(np.sqrt(total_var))
        return {
            "mean": mean.tolist(),
            "std": np.sqrt(var).tolist(),
            "overall_mean": float(total_mean),
            "overall_std": total_std,
            # Latent-diffusion convention: scale_factor = 1 / z.flatten().std() over all elements.
            "scale_factor": (1.0 / total_std) if total_std > 0 else float("inf"),
            "channels": len(s),
            "shape": list(self.shape),
        }


# --- the evaluation -----------------------------------------------------------------------------

def eval_config(cfg: Config, data: str | Path, protocol: str) -> Config:
    """The checkpoint's config pointed at the data to evaluate on, split by ``protocol`` when RadioMapSeer."""
    if str(data) == "synthetic":
        return replace(cfg, **{"data.name": "synthetic"})
    root = Path(data).expanduser()
    if not root.is_dir():
        raise DataError(
            f"--data {data}: no such folder. Pass 'synthetic' or the path of a RadioMapSeer folder "
            "(with png/buildings_complete and gain/<simulation>)."
        )
    return replace(cfg, **{"data.name": "radio", "data.root": str(root), "data.split_protocol": protocol})


def _pick_indices(total: int, n: int | None, seed: int) -> list[int]:
    """All maps, or ``n`` of them drawn without replacement by ``seed`` (sorted)."""
    if n is None or n >= total:
        return list(range(total))
    return sorted(int(i) for i in np.random.default_rng(seed).choice(total, size=n, replace=False))


def _stack(dataset, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    items = [dataset[i] for i in indices]
    images = torch.stack([torch.as_tensor(it["image"], dtype=torch.float32) for it in items])
    buildings = torch.stack([torch.as_tensor(it["buildings"], dtype=torch.float32) for it in items])
    return images, buildings, [str(it.get("name", i)) for it, i in zip(items, indices)]


def example_rows(values: Any, lower_is_better: bool = True) -> list[int]:
    """Positions of the best, median and worst of ``values`` (NaN left out; none when every value is NaN)."""
    values = np.asarray(values, dtype=np.float64)
    kept = np.flatnonzero(~np.isnan(values))
    if kept.size == 0:
        return []
    order = kept[np.argsort(values[kept], kind="stable")]
    order = order if lower_is_better else order[::-1]
    return [int(order[0]), int(order[(len(order) - 1) // 2]), int(order[-1])]


@torch.no_grad()
def reconstruct_examples(model: torch.nn.Module, images: torch.Tensor, buildings: torch.Tensor, indices: list[int],
                         names: list[str], nmse: Any, nmse_street: Any,
                         device: torch.device = torch.device("cpu")) -> list[Example]:
    """The best, median and worst items (``images`` [3, 1, H, W] in [-1, 1], in that order) re-run through
    ``model`` (deterministic: the mode), labelled, with the NMSE their evaluation measured."""
    rec, _ = reconstruct(model, images.to(device))
    inp, out = to_unit(images)[:, 0].numpy(), to_unit(rec.float().cpu())[:, 0].numpy()
    return [Example(label, int(i), name, inp[j], out[j], buildings[j, 0].float().numpy(), float(nmse[j]),
                    float(nmse_street[j]))
            for j, (label, i, name) in enumerate(zip(EXAMPLE_LABELS, indices, names))]


def _examples(model, dataset, per_map: pd.DataFrame, device: torch.device) -> list[Example]:
    """Best, median and worst maps by NMSE, re-run through the model."""
    rows = example_rows(per_map["nmse"])
    if not rows:
        return []
    picked = per_map.iloc[rows]
    images, buildings, names = _stack(dataset, picked["index"].tolist())
    return reconstruct_examples(model, images, buildings, picked["index"].tolist(), names, picked["nmse"].to_numpy(),
                                picked["nmse_street"].to_numpy(), device)


def _check_arguments(n: int | None, batch_size: int, split: str, device: str | torch.device | None) -> torch.device:
    """The device to run on; ConfigError for an impossible n, batch size, split or device."""
    if n is not None and n < 1:
        raise ConfigError(f"n={n}: evaluate at least one map (or leave n unset for the whole split).")
    if batch_size < 1:
        raise ConfigError(f"batch_size={batch_size}: must be at least 1.")
    if split not in ("train", "val", "test"):
        raise ConfigError(f"split '{split}': use train, val or test.")
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device '{device}': no CUDA GPU is visible to torch here; use device='cpu' or leave it unset.")
    return dev


def _measure(model: torch.nn.Module, dataset, indices: list[int], batch_size: int,
             dev: torch.device) -> tuple[pd.DataFrame, LatentStats, float, tuple[int, int]]:
    """Per-map metrics (all and street pixels), latent statistics, forward seconds and map size."""
    rows: dict[str, list] = {"index": [], "name": [], "map": [], "transmitter": []}
    latent = LatentStats()
    forward_seconds = 0.0
    hw = (0, 0)
    for start in range(0, len(indices), batch_size):
        chunk = indices[start:start + batch_size]
        images, buildings, names = _stack(dataset, chunk)
        images, buildings = images.to(dev), buildings.to(dev)
        hw = tuple(images.shape[-2:])
        if start == 0:
            reconstruct(model, images)  # untimed warm-up: first-call allocations and kernel choice
        _sync(dev)
        t0 = time.perf_counter()
        rec, z = reconstruct(model, images)
        _sync(dev)
        forward_seconds += time.perf_counter() - t0
        latent.update(z)
        target, pred = to_unit(images), to_unit(rec.float())
        street = M.street_mask(buildings)
        for suffix, mask in (("", None), ("_street", street)):
            for name, values in M.map_metrics(pred, target, mask).items():
                rows.setdefault(name + suffix, []).extend(values.tolist())
        rows["index"].extend(chunk)
        rows["name"].extend(names)
        for i in chunk:
            map_id, tx = item_identity(dataset, i)
            rows["map"].append(map_id)
            rows["transmitter"].append(tx)
    columns = ["index", "name", "map", "transmitter"] + list(EVAL_METRICS) + [m + "_street" for m in EVAL_METRICS]
    return pd.DataFrame({c: rows[c] for c in columns}), latent, forward_seconds, hw


def evaluate_checkpoint(
    checkpoint: str | Path,
    data: str | Path = "synthetic",
    split: str = "test",
    n: int | None = None,
    use_ema: bool = False,
    config: str | Path | Config | None = None,
    seed: int = 0,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    protocol: str | None = None,
    include_train_maps: bool = False,
) -> EvalResult:
    """Reconstruction metrics, latent statistics and time per map of a checkpoint (ours or RadioDiff's).

    ``data``: "synthetic" (the checkpoint config's generator) or a RadioMapSeer folder, split by
    ``protocol`` (default: the protocol the checkpoint trained on; RadioDiff's files: ``radiodiff``).
    Maps the checkpoint trained on are left out and named, or scored and labelled with
    ``include_train_maps``. ``n``: at most this many items (map, transmitter) of the rest, drawn by
    ``seed`` (all when unset). ``config``: a Config, YAML path or built-in name for the architecture
    (needed for RadioDiff files whose shapes do not say it). ``seconds_per_map`` is the wall time of
    the model forward alone (encode, mode, decode; GPU synchronised) per item, after one untimed
    warm-up batch. The figures of a result are drawn by ``radiodiff_lib.plots.write_evaluation_figures``.
    """
    dev = _check_arguments(n, batch_size, split, device)
    given = resolve_config(config) if config is not None else None
    model, _loss, cfg, info = load_model_from_checkpoint(checkpoint, use_ema=use_ema, config=given)
    model = model.to(dev).eval()
    trained = training_maps(info.get("format", WORKBENCH_CHECKPOINT), info.get(SPLIT_RECORD), cfg)
    eval_cfg = eval_config(cfg, data, eval_protocol(protocol, trained, cfg))
    dataset = build_dataset(eval_cfg, split)
    if len(dataset) == 0:
        raise DataError(f"The {split} split of {data} has no maps; choose another split or a larger data set.")
    scope = eval_scope(dataset, trained, include_train_maps)
    indices = [scope.candidates[k] for k in _pick_indices(len(scope.candidates), n, seed)]
    per_item, latent, forward_seconds, hw = _measure(model, dataset, indices, batch_size, dev)
    plan = getattr(dataset, "plan", None)
    return EvalResult(
        per_map=per_item,
        metrics=M.aggregate_metrics(per_item, maps=per_item["map"]),
        metrics_street=M.aggregate_metrics(per_item, "_street", maps=per_item["map"]),
        latent=latent.result(),
        seconds_per_map=forward_seconds / len(indices),
        n_maps=len(indices),
        checkpoint=str(checkpoint),
        examples=_examples(model, dataset, per_item, dev),
        data=str(data), split=split, use_ema=use_ema, seed=seed, device=str(dev),
        image_size=hw, config=cfg, info=dict(info or {}),
        protocol=dataset.protocol,
        split_note=plan.describe() if plan is not None else "the synthetic data's own split",
        maps=int(per_item["map"].nunique()),
        by_map=M.by_map_table(per_item),
        metrics_by_map=M.metrics_over_maps(per_item),
        metrics_street_by_map=M.metrics_over_maps(per_item, "_street"),
        training_maps=trained.describe(),
        training_basis=trained.basis,
        training_protocol=trained.protocol,
        excluded_train_maps=[int(m) for m in scope.excluded],
        included_train_maps=sorted(set(scope.included) & {int(m) for m in per_item["map"]}),  # those scored
        overlap_known=scope.overlap is not None,
    )
