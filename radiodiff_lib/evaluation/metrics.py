"""Per-map reconstruction metrics on radio maps in [0, 1]: NMSE, RMSE, SSIM, PSNR, and aggregates.

Conventions (all per map, maps given as ``[B, H, W]`` or ``[B, 1, H, W]``):

- NMSE = sum((pred - target)^2) / sum(target^2) over the counted pixels (RadioDiff's NMSE).
  A target with zero energy gives 0 when the error is 0 too, else ``inf``.
- RMSE = sqrt(mean((pred - target)^2)) over the counted pixels.
- PSNR from ``skimage.metrics.peak_signal_noise_ratio(target, pred, data_range=1.0)``, i.e.
  ``10 log10(1 / MSE)``. Identical maps (MSE exactly 0) give ``inf``; we return it without
  calling scikit-image, which would warn about the division by zero.
- SSIM from ``skimage.metrics.structural_similarity(target, pred, data_range=1.0, full=True)``
  with scikit-image's documented defaults, which we keep on purpose: ``win_size=7`` (uniform
  7 x 7 window), ``gaussian_weights=False``, ``use_sample_covariance=True``, ``K1=0.01``,
  ``K2=0.03``. ``data_range`` is always passed: for float images scikit-image would otherwise
  refuse (or, in older versions, assume 2). The map-wide value is scikit-image's own mean,
  which leaves out the 3-pixel border strip (``(win_size - 1) // 2``).

With a ``mask`` (True where a pixel counts, e.g. street pixels ``buildings == 0``): NMSE, RMSE
and PSNR use the masked pixels only; SSIM is the mean of the full SSIM map over the masked
pixels, with the same border strip left out as scikit-image does, so an all-True mask gives
exactly the unmasked SSIM. A map with no counted pixels gets NaN for every metric.

NMSE and RMSE are computed batched in torch on the tensors' own device (CPU or GPU) in float64;
SSIM and PSNR go through numpy one map at a time.

Aggregates (:func:`aggregate`) ignore NaN (and count it), keep ``inf``: the mean of values
with an ``inf`` is ``inf``, and a median or percentile is ``inf`` when the order statistics it
interpolates between are. In JSON (``formatting.to_jsonable``) ``inf`` is the string ``"inf"``
(``"-inf"``) and NaN is ``null``, so the output stays strict JSON.

Per map (:func:`mean_over_maps`): the transmitters of one city are not independent samples, so
each map's values are averaged first and the mean is taken over maps, with a Student-t interval
over the per-map means (``t_{0.975, N-1} * sd / sqrt(N)``, N maps); it is undefined (NaN) for one
map or when a per-map mean is infinite.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np
import pandas as pd
import torch
from scipy import stats as scipy_stats
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from ..vocabulary import EVAL_METRICS

SSIM_WIN_SIZE = 7  # scikit-image's default for gaussian_weights=False; named so masks crop alike


def _as_maps(x: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    """``[B, H, W]`` view of a batch of single-channel maps (``[B, 1, H, W]`` accepted)."""
    t = torch.as_tensor(x)
    if t.dim() == 4 and t.shape[1] == 1:
        t = t[:, 0]
    if t.dim() == 2:
        t = t[None]
    if t.dim() != 3:
        raise ValueError(f"{name}: expected maps [B, H, W] or [B, 1, H, W], got shape {tuple(t.shape)}")
    return t


def _prepare(pred, target, mask=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    p, t = _as_maps(pred, "pred"), _as_maps(target, "target")
    if p.shape != t.shape:
        raise ValueError(f"pred {tuple(p.shape)} and target {tuple(t.shape)} differ in shape")
    m = None
    if mask is not None:
        m = _as_maps(mask, "mask").to(device=p.device, dtype=torch.bool)
        if m.shape[1:] != p.shape[1:] or m.shape[0] not in (1, p.shape[0]):
            raise ValueError(f"mask shape {tuple(m.shape)} does not match the maps {tuple(p.shape)}")
        m = m.expand_as(p)
    return p, t.to(p.device), m


def street_mask(buildings: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Boolean mask of street pixels (True where the buildings mask is 0)."""
    return torch.as_tensor(buildings) < 0.5


def squared_error_stats(pred, target, mask=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-map (NMSE, RMSE) as float64 tensors ``[B]`` on the inputs' device, batched."""
    p, t, m = _prepare(pred, target, mask)
    p, t = p.double(), t.double()
    sq_err = (p - t) ** 2
    sq_tgt = t**2
    if m is None:
        count = torch.full((p.shape[0],), float(p.shape[1] * p.shape[2]), dtype=torch.float64, device=p.device)
    else:
        w = m.double()
        sq_err, sq_tgt = sq_err * w, sq_tgt * w
        count = w.sum(dim=(1, 2))
    err = sq_err.sum(dim=(1, 2))
    energy = sq_tgt.sum(dim=(1, 2))
    nan = torch.tensor(float("nan"), dtype=torch.float64, device=p.device)
    # A zero-energy target: no error means a perfect map (0), any error is infinitely large.
    nmse = torch.where(energy > 0, err / energy.clamp_min(1e-300), torch.where(err > 0, torch.inf, 0.0))
    rmse = torch.sqrt(err / count.clamp_min(1))
    empty = count == 0
    return torch.where(empty, nan, nmse), torch.where(empty, nan, rmse)


def nmse(pred, target, mask=None) -> torch.Tensor:
    """Per-map NMSE = sum sq error / sum sq target, float64 tensor ``[B]``."""
    return squared_error_stats(pred, target, mask)[0]


def rmse(pred, target, mask=None) -> torch.Tensor:
    """Per-map RMSE, float64 tensor ``[B]``."""
    return squared_error_stats(pred, target, mask)[1]


def _numpy_maps(pred, target, mask):
    p, t, m = _prepare(pred, target, mask)
    to_np = lambda x: x.detach().to("cpu", torch.float64).numpy()  # noqa: E731
    return to_np(p), to_np(t), (None if m is None else m.cpu().numpy())


def psnr(pred, target, mask=None) -> np.ndarray:
    """Per-map PSNR in dB (scikit-image, data_range=1.0); ``inf`` for identical maps."""
    p, t, m = _numpy_maps(pred, target, mask)
    out = np.empty(p.shape[0], dtype=np.float64)
    for i in range(p.shape[0]):
        a, b = (t[i], p[i]) if m is None else (t[i][m[i]], p[i][m[i]])
        if a.size == 0:
            out[i] = np.nan
        elif np.mean((a - b) ** 2) == 0:
            out[i] = np.inf  # MSE is 0: PSNR is infinite by definition (skimage would warn)
        else:
            out[i] = peak_signal_noise_ratio(a, b, data_range=1.0)
    return out


def ssim(pred, target, mask=None) -> np.ndarray:
    """Per-map SSIM (scikit-image defaults, data_range=1.0); masked: mean of the SSIM map over the mask."""
    p, t, m = _numpy_maps(pred, target, mask)
    out = np.empty(p.shape[0], dtype=np.float64)
    pad = (SSIM_WIN_SIZE - 1) // 2
    for i in range(p.shape[0]):
        value, smap = structural_similarity(t[i], p[i], data_range=1.0, full=True)
        if m is None:
            out[i] = value
            continue
        # Same border strip left out as scikit-image's own mean, so an all-True mask agrees.
        inner = (slice(pad, smap.shape[0] - pad), slice(pad, smap.shape[1] - pad))
        sel = m[i][inner]
        out[i] = smap[inner][sel].mean(dtype=np.float64) if sel.any() else np.nan
    return out


def map_metrics(pred, target, mask=None) -> dict[str, np.ndarray]:
    """All four metrics per map: ``{"nmse", "rmse", "ssim", "psnr"} -> float64 array [B]``."""
    n, r = squared_error_stats(pred, target, mask)
    return {
        "nmse": n.cpu().numpy(),
        "rmse": r.cpu().numpy(),
        "ssim": ssim(pred, target, mask),
        "psnr": psnr(pred, target, mask),
    }


def _quantile(sorted_vals: np.ndarray, q: float) -> float:
    """Linear-interpolation quantile (numpy's default) that stays ``inf`` instead of ``inf - inf = nan``."""
    pos = q * (len(sorted_vals) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    a, b = float(sorted_vals[lo]), float(sorted_vals[hi])
    frac = pos - lo
    if frac == 0 or a == b:
        return a
    return a + (b - a) * frac


def aggregate(values: Iterable[float]) -> dict[str, float]:
    """``{"mean", "median", "p5", "p95", "count", "n_inf"}`` over the non-NaN values (``inf`` kept)."""
    v = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=np.float64).ravel()
    v = np.sort(v[~np.isnan(v)])
    if v.size == 0:
        return {"mean": math.nan, "median": math.nan, "p5": math.nan, "p95": math.nan, "count": 0, "n_inf": 0}
    n_inf = int(np.isinf(v).sum())
    if np.isposinf(v).any() and np.isneginf(v).any():
        mean = math.nan
    elif n_inf:
        mean = float(v[np.isinf(v)][0])
    else:
        mean = float(v.mean())
    return {
        "mean": mean,
        "median": _quantile(v, 0.5),
        "p5": _quantile(v, 0.05),
        "p95": _quantile(v, 0.95),
        "count": int(v.size),
        "n_inf": n_inf,
    }


def aggregate_metrics(per_map: Any, suffix: str = "", maps: Any = None) -> dict[str, dict[str, float]]:
    """Aggregates of each metric column ``name + suffix`` of a DataFrame or dict of arrays; with ``maps``
    (the map of each row) each also says how many maps its values come from (``"maps"``)."""
    out = {}
    for name in EVAL_METRICS:
        values = np.asarray(per_map[name + suffix], dtype=np.float64)
        out[name] = aggregate(values)
        if maps is not None:
            out[name]["maps"] = int(np.unique(np.asarray(maps)[~np.isnan(values)]).size)
    return out


def map_means(values: Any, maps: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(map ids, per-map mean, values per map) of the non-NaN ``values``; ``inf`` stays ``inf``."""
    v = np.asarray(values, dtype=np.float64).ravel()
    g = np.asarray(maps).ravel()
    keep = ~np.isnan(v)
    ids, inverse = np.unique(g[keep], return_inverse=True)
    counts = np.bincount(inverse, minlength=ids.size)
    sums = np.bincount(inverse, weights=v[keep], minlength=ids.size)
    return ids, sums / np.maximum(counts, 1), counts


def mean_over_maps(values: Any, maps: Any, level: float = 0.95) -> dict[str, float]:
    """``{"mean", "ci_low", "ci_high", "std", "maps", "items"}``: the mean over maps of each map's mean,
    with a Student-t interval at ``level`` over maps (NaN for one map or an infinite map mean)."""
    _, means, counts = map_means(values, maps)
    n = int(means.size)
    out = {"mean": math.nan, "ci_low": math.nan, "ci_high": math.nan, "std": math.nan, "maps": n,
           "items": int(counts.sum())}
    if n == 0:
        return out
    out["mean"] = aggregate(means)["mean"]  # inf when a map's mean is
    if n < 2 or not np.all(np.isfinite(means)):
        return out
    sd = float(means.std(ddof=1))
    half = float(scipy_stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    out.update(std=sd, ci_low=out["mean"] - half, ci_high=out["mean"] + half)
    return out


def metrics_over_maps(per_item: Any, suffix: str = "", maps_column: str = "map") -> dict[str, dict[str, float]]:
    """:func:`mean_over_maps` of each metric column ``name + suffix`` of a per-item table."""
    return {name: mean_over_maps(per_item[name + suffix], per_item[maps_column]) for name in EVAL_METRICS}


def by_map_table(per_item: pd.DataFrame) -> pd.DataFrame:
    """One row per map: ``map``, ``transmitters`` and each metric column's mean over its transmitters."""
    ids = np.unique(per_item["map"])
    out = {"map": ids, "transmitters": per_item.groupby("map").size().reindex(ids).to_numpy()}
    for column in list(EVAL_METRICS) + [m + "_street" for m in EVAL_METRICS]:
        got, means, _ = map_means(per_item[column], per_item["map"])
        out[column] = pd.Series(means, index=got, dtype=float).reindex(ids).to_numpy()  # all NaN for a map: NaN
    return pd.DataFrame(out)
