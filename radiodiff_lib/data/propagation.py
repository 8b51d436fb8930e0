"""A fast physical path-gain model for synthetic radio maps, encoded like RadioMapSeer's PNGs.

Gain in dB = gain at 1 m - two-slope log-distance loss - obstruction loss, where the obstruction
loss counts the buildings the straight path from the transmitter crosses (a loss per building
entered plus a loss per metre inside buildings, as in multi-wall models). The obstruction field
is blurred by a couple of metres so shadow edges fade like diffraction penumbrae, the map is
cut at a noise floor and set to 0 inside buildings, then encoded linearly in dB with
0 = -186 dB and 1 = -47 dB (RadioMapSeer's 0..255 divided by 255).

Speed: instead of sampling every transmitter->pixel segment (H*W*K samples), rays are cast from
the transmitter at ~1 px angular spacing and marched in 1 px steps once (about 0.7 M samples at
256 px); cumulative sums along each ray give, for every radius, the buildings entered and the
metres inside; each pixel then reads its ray at its radius. The sampling offsets and per-pixel
ray lookups depend only on the image size and are cached.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.ndimage import gaussian_filter

from .city import SCENE_METERS

DB_MIN = -186.0  # RadioMapSeer PNG value 0
DB_MAX = -47.0  # RadioMapSeer PNG value 255


@dataclass(frozen=True)
class PropagationParams:
    """Parameters of the path-gain model (dB and metres)."""

    gain_at_1m_db: float = -47.0  # free-space loss at 1 m near 5.9 GHz is about 47.9 dB
    exponent_near: float = 2.0  # free space up to the breakpoint ...
    breakpoint_m: float = 20.0
    exponent_far: float = 3.3  # ... urban street-level slope beyond it
    wall_loss_db: float = 12.0  # per building the straight path enters
    loss_per_m_db: float = 0.6  # per metre of building along the straight path
    max_obstruction_db: float = 60.0  # soft bound of the obstruction loss
    diffraction_m: float = 2.5  # Gaussian sigma (metres) of the obstruction field
    corner_loss_db: float = 12.0  # one-off loss of a path bent around a corner ...
    corner_loss_per_m_db: float = 0.9  # ... plus this per metre along the street after it
    corner_reach_m: float = 60.0  # how far such paths are followed (0 disables them)
    noise_floor_db: float = -160.0  # gains below this are 0 (below the receiver's noise)


def encode_db(db: np.ndarray) -> np.ndarray:
    """Path gain in dB -> RadioMapSeer's [0, 1] scale (0 = -186 dB, 1 = -47 dB), clipped."""
    return np.clip((np.asarray(db, dtype=np.float32) - DB_MIN) / (DB_MAX - DB_MIN), 0.0, 1.0)


def decode_db(value: np.ndarray) -> np.ndarray:
    """RadioMapSeer's [0, 1] scale -> path gain in dB (0 stays -186 dB: below the noise floor)."""
    return DB_MIN + np.asarray(value, dtype=np.float32) * (DB_MAX - DB_MIN)


@dataclass(frozen=True)
class _Tables:
    n_ang: int
    pad: int
    ray_offsets: np.ndarray  # [n_rad, n_ang] intp flat offsets into the padded mask, shifted >= 0
    shift: int  # subtracted from the offsets to make them >= 0
    lookup: np.ndarray  # [2h-1, 2w-1] intp index (radius * n_ang + angle) into the ray arrays
    log10_dist: np.ndarray  # [2h-1, 2w-1] float32 log10 of the distance in pixels
    dist: np.ndarray  # [2h-1, 2w-1] float32 distance in pixels


@lru_cache(maxsize=8)
def _tables(h: int, w: int) -> _Tables:
    """Ray sampling offsets and per-offset ray lookups for an h x w image (cached)."""
    r_max = int(math.ceil(math.hypot(h, w))) + 1
    n_ang = int(math.ceil(2 * math.pi * r_max / 1.25))  # <= 1.25 px between rays at r_max
    pad = r_max + 1
    theta = np.arange(n_ang) * (2 * math.pi / n_ang)
    r = np.arange(r_max + 1, dtype=np.float64)  # samples at radius 0, 1, ..., r_max pixels
    # Radius-major layout: the running sum along a ray is then a loop of whole-row additions.
    ox = np.rint(r[:, None] * np.cos(theta)[None, :]).astype(np.intp)
    oy = np.rint(r[:, None] * np.sin(theta)[None, :]).astype(np.intp)
    offsets = oy * (w + 2 * pad) + ox
    shift = int(offsets.min())
    dy = np.arange(-(h - 1), h, dtype=np.float64)[:, None]
    dx = np.arange(-(w - 1), w, dtype=np.float64)[None, :]
    ang = np.rint(np.arctan2(dy, dx) / (2 * math.pi) * n_ang).astype(np.intp) % n_ang
    dist = np.hypot(dy, dx)
    # Read the ray one pixel before the pixel itself: a street pixel right behind a wall
    # counts the wall, and a pixel is never shadowed by its own (rounded) ray sample.
    rad = np.clip(np.rint(dist).astype(np.intp) - 1, 0, r_max)
    with np.errstate(divide="ignore"):
        log10_dist = np.log10(dist).astype(np.float32)  # -inf at the transmitter
    return _Tables(n_ang, pad, offsets - shift, shift, rad * n_ang + ang, log10_dist, dist.astype(np.float32))


def obstruction_db(buildings: np.ndarray, tx: tuple[int, int], params: PropagationParams,
                   pixel_m: float) -> np.ndarray:
    """Obstruction loss (dB, before blurring) of the straight path from ``tx`` to every pixel."""
    h, w = buildings.shape
    t = _tables(h, w)
    x, y = int(tx[0]), int(tx[1])
    # Only the rays' first r_need samples can be read: the farthest pixel is a corner.
    r_need = int(math.ceil(math.hypot(max(x, w - 1 - x), max(y, h - 1 - y)))) + 2
    padded = np.zeros((h + 2 * t.pad, w + 2 * t.pad), dtype=np.uint8)
    padded[t.pad:t.pad + h, t.pad:t.pad + w] = buildings
    base = (y + t.pad) * (w + 2 * t.pad) + (x + t.pad) + t.shift
    inside = padded.ravel()[base:].take(t.ray_offsets[:r_need])  # [r_need, n_ang], 1 in buildings
    loss = inside.astype(np.float32)
    loss *= np.float32(params.loss_per_m_db * pixel_m)
    loss[1:] += (inside[1:] > inside[:-1]) * np.float32(params.wall_loss_db)
    for j in range(1, r_need):  # running sum along every ray at once (faster than cumsum here)
        np.add(loss[j - 1], loss[j], out=loss[j])
    window = t.lookup[h - 1 - y:2 * h - 1 - y, w - 1 - x:2 * w - 1 - x]
    # Soft saturation (M tanh(L / M)): linear for a few walls, bounded by the diffracted paths
    # that always exist; a hard cap would give every deep shadow the same level.
    cap = np.float32(params.max_obstruction_db)
    return np.tanh(loss.ravel().take(window) / cap) * cap


@lru_cache(maxsize=16)
def _linear_upsample(n: int, f: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows and weights that upsample n coarse cells by f, linearly between cell centres."""
    pos = np.clip((np.arange(n * f) + 0.5) / f - 0.5, 0.0, n - 1.0)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    return lo, hi, (pos - lo).astype(np.float32)


def _upsample(coarse: np.ndarray, f: int) -> np.ndarray:
    """Bilinear upsampling by an integer factor (separable; much faster than scipy's zoom here)."""
    lo, hi, wt = _linear_upsample(coarse.shape[0], f)
    rows = coarse[lo] + (coarse[hi] - coarse[lo]) * wt[:, None]
    lo, hi, wt = _linear_upsample(coarse.shape[1], f)
    return rows[:, lo] + (rows[:, hi] - rows[:, lo]) * wt[None, :]


def around_corners_db(db: np.ndarray, buildings: np.ndarray, params: PropagationParams,
                      pixel_m: float) -> np.ndarray:
    """Gain (dB) reaching each pixel around corners: lit street cells spread along open cells.

    A coarse max-plus relaxation on ~4 m cells: a cell receives the best neighbour's gain minus
    a loss per metre travelled (never through building cells), then a one-off corner loss is
    paid. This stands in for the diffracted paths that light side streets in dominant-path maps.
    """
    h, w = db.shape
    f = max(1, int(round(4.0 / pixel_m)))
    hc, wc = -(-h // f), -(-w // f)
    if hc * f != h or wc * f != w:
        pad = ((0, hc * f - h), (0, wc * f - w))
        db, buildings = np.pad(db, pad, mode="edge"), np.pad(buildings, pad, mode="edge")
    street_db = np.where(buildings, np.float32(-np.inf), db)
    coarse = street_db[::f, ::f].copy()
    open_count = (~buildings[::f, ::f]).astype(np.int16)
    for i in range(f):  # max over each f x f cell via strided views (a reshape-max is slower)
        for j in range(f):
            if i or j:
                np.maximum(coarse, street_db[i::f, j::f], out=coarse)
                open_count += ~buildings[i::f, j::f]
    blocked = open_count * 2 < f * f  # a cell mostly of building blocks the spreading
    step = np.float32(params.corner_loss_per_m_db * f * pixel_m)
    coarse[blocked] = -np.inf
    for _ in range(int(math.ceil(params.corner_reach_m / (f * pixel_m)))):
        best = coarse.copy()
        # 4-neighbour moves, one cell each (diagonals take two moves: a Manhattan metric, fair
        # along a street grid).
        np.maximum(best[1:], coarse[:-1] - step, out=best[1:])
        np.maximum(best[:-1], coarse[1:] - step, out=best[:-1])
        np.maximum(best[:, 1:], coarse[:, :-1] - step, out=best[:, 1:])
        np.maximum(best[:, :-1], coarse[:, 1:] - step, out=best[:, :-1])
        best[blocked] = -np.inf
        coarse = best
    coarse = np.maximum(coarse, np.float32(-400.0))  # finite for interpolation; far below any floor
    fine = _upsample(coarse, f) if f > 1 else coarse
    return fine[:h, :w] - np.float32(params.corner_loss_db)


def gain_db_map(buildings: np.ndarray, tx: tuple[int, int], params: PropagationParams | None = None,
                pixel_m: float | None = None) -> np.ndarray:
    """Path gain in dB at every pixel (no noise floor, buildings not masked)."""
    buildings = np.asarray(buildings, dtype=bool)
    if buildings.ndim != 2:
        raise ValueError(f"buildings must be a 2-D mask, got shape {buildings.shape}")
    h, w = buildings.shape
    x, y = int(tx[0]), int(tx[1])
    if not (0 <= x < w and 0 <= y < h):
        raise ValueError(f"transmitter (x={x}, y={y}) lies outside the {w} x {h} map")
    p = params or PropagationParams()
    pixel_m = SCENE_METERS / max(h, w) if pixel_m is None else float(pixel_m)
    t = _tables(h, w)
    log_d = t.log10_dist[h - 1 - y:2 * h - 1 - y, w - 1 - x:2 * w - 1 - x] + np.float32(math.log10(pixel_m))
    log_d = np.maximum(log_d, 0.0)  # distances under 1 m count as 1 m
    log_bp = np.float32(math.log10(p.breakpoint_m))
    path_loss = 10 * p.exponent_near * np.minimum(log_d, log_bp)
    path_loss += 10 * p.exponent_far * np.maximum(log_d - log_bp, 0.0)
    obstruction = obstruction_db(buildings, (x, y), p, pixel_m)
    if p.diffraction_m > 0:
        blurred = gaussian_filter(obstruction, sigma=p.diffraction_m / pixel_m, mode="nearest", truncate=3.0)
        # Penumbrae widen away from the transmitter; next to it the blur would only smear the
        # shadow of a nearby wall onto the transmitter itself, so fade it in over 3 sigma.
        dist = t.dist[h - 1 - y:2 * h - 1 - y, w - 1 - x:2 * w - 1 - x]
        ramp = np.minimum(dist * np.float32(pixel_m / (3 * p.diffraction_m)), np.float32(1.0))
        obstruction += (blurred - obstruction) * ramp
    db = np.float32(p.gain_at_1m_db) - path_loss - obstruction
    if p.corner_reach_m > 0:
        db = np.maximum(db, around_corners_db(db, buildings, p, pixel_m))
    return db


def gain_map(buildings: np.ndarray, tx: tuple[int, int], params: PropagationParams | None = None,
             pixel_m: float | None = None) -> np.ndarray:
    """Encoded path-gain map [H, W] float32 in [0, 1]: 0 inside buildings and below the noise floor.

    ``buildings`` is a bool mask (True inside), ``tx`` the transmitter (x, y) in pixels, and
    ``pixel_m`` the pixel size in metres (default: 256 m across the map, as RadioMapSeer).
    """
    p = params or PropagationParams()
    return finish_gain(gain_db_map(buildings, tx, p, pixel_m), buildings, p)


def finish_gain(db: np.ndarray, buildings: np.ndarray, params: PropagationParams) -> np.ndarray:
    """Encode a dB map on the [0, 1] scale, 0 below the noise floor and inside buildings."""
    gain = encode_db(db)
    gain[db < params.noise_floor_db] = 0.0
    gain[np.asarray(buildings, dtype=bool)] = 0.0
    return gain
