"""Random city layouts (building footprints) and transmitter placement for synthetic radio maps.

A city is drawn in metres on a 256 m x 256 m square (RadioMapSeer's 1 m per pixel at 256 px) and
rasterised at any size, so one (seed, index) gives the same city at 64, 128 or 256 pixels.
Blocks between streets are cut into parcels; each parcel holds a rectangle, an L-shape, a
courtyard or a U-shaped building (or stays open, like a square or a park); the whole grid is
sometimes rotated so streets are not always axis-aligned.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

SCENE_METERS = 256.0  # side of the square scene; RadioMapSeer: 256 px at 1 m per pixel
TX_BAND = (53, 202)  # RadioMapSeer's transmitters lie roughly within these pixels (of 256)

# A drawing operation in metres on the un-rotated canvas: (x0, x1, y0, y1, value).
Rect = tuple[float, float, float, float, bool]


class Uniforms:
    """Uniform draws from a Generator, fetched in chunks (scalar Generator calls cost ~µs each)."""

    def __init__(self, rng: np.random.Generator, chunk: int = 512):
        self.rng, self.chunk = rng, chunk
        self.buf: list[float] = []
        self.i = 0

    def __call__(self, low: float = 0.0, high: float = 1.0) -> float:
        """One draw from U(low, high)."""
        if self.i >= len(self.buf):
            self.buf, self.i = self.rng.random(self.chunk).tolist(), 0
        self.i += 1
        return low + (high - low) * self.buf[self.i - 1]


def _blocks_along(u: Uniforms, length: float) -> list[tuple[float, float]]:
    """Cut [0, length] into blocks separated by streets; returns the (start, end) of each block."""
    pos = -u(0.0, 40.0)
    blocks = []
    while pos < length:
        # Mostly ordinary streets, sometimes a wide avenue: gives lit corridors of varied width.
        street = u(16.0, 26.0) if u() < 0.15 else u(6.0, 13.0)
        start = pos + street
        end = start + u(22.0, 70.0)
        blocks.append((start, end))
        pos = end
    return blocks


def _parcels(u: Uniforms, box: tuple[float, float, float, float], depth: int = 0) -> list:
    """Split a block into parcels recursively along its longer side, sometimes leaving an alley."""
    x0, x1, y0, y1 = box
    w, h = x1 - x0, y1 - y0
    longer = max(w, h)
    if depth >= 3 or longer < 20.0 or (depth > 0 and u() < 0.3):
        return [box]
    gap = u(2.0, 4.0) if u() < 0.35 else 0.0  # an alley between buildings
    cut = u(0.3, 0.7)
    if w >= h:
        xm = x0 + cut * w
        return (_parcels(u, (x0, xm - gap / 2, y0, y1), depth + 1)
                + _parcels(u, (xm + gap / 2, x1, y0, y1), depth + 1))
    ym = y0 + cut * h
    return (_parcels(u, (x0, x1, y0, ym - gap / 2), depth + 1)
            + _parcels(u, (x0, x1, ym + gap / 2, y1), depth + 1))


def _building(u: Uniforms, parcel: tuple[float, float, float, float]) -> list[Rect]:
    """Drawing operations for one building on a parcel (set-back, then a shape)."""
    x0, x1, y0, y1 = parcel
    x0 += u(0.0, 3.0)
    x1 -= u(0.0, 3.0)
    y0 += u(0.0, 3.0)
    y1 -= u(0.0, 3.0)
    w, h = x1 - x0, y1 - y0
    if w < 4.0 or h < 4.0:
        return []
    ops: list[Rect] = [(x0, x1, y0, y1, True)]
    shape = u()
    if shape < 0.30 and w > 10 and h > 10:  # L-shape: cut away one corner
        cw, ch = u(0.35, 0.65) * w, u(0.35, 0.65) * h
        cx = x0 if u() < 0.5 else x1 - cw
        cy = y0 if u() < 0.5 else y1 - ch
        ops.append((cx, cx + cw, cy, cy + ch, False))
    elif shape < 0.42 and w > 22 and h > 22:  # courtyard
        m = u(6.0, 9.0)
        ops.append((x0 + m, x1 - m, y0 + m, y1 - m, False))
    elif shape < 0.50 and w > 18 and h > 14:  # U-shape: a courtyard open to one side
        m = u(5.0, 7.0)
        ops.append((x0 + m, x1 - m, y0 + m, y1 + 1.0, False))
    return ops


def city_plan(rng: np.random.Generator) -> tuple[list[Rect], float, float]:
    """Draw a city: drawing operations (metres, un-rotated canvas), grid angle, canvas side."""
    u = Uniforms(rng)
    angle = 0.0 if u() < 0.4 else u(-math.pi / 5, math.pi / 5)
    # The canvas just covers the scene turned by the angle: no city is drawn out of sight.
    side = SCENE_METERS * (abs(math.cos(angle)) + abs(math.sin(angle)))
    ops: list[Rect] = []
    for bx0, bx1 in _blocks_along(u, side):
        for by0, by1 in _blocks_along(u, side):
            if u() < 0.06:  # an open square or park
                continue
            for parcel in _parcels(u, (bx0, bx1, by0, by1)):
                if u() < 0.08:  # an empty lot
                    continue
                ops.extend(_building(u, parcel))
    return ops, angle, side


@lru_cache(maxsize=8)
def _centres(size: int) -> np.ndarray:
    """Pixel-centre coordinates (metres from the scene centre) of a size-pixel axis."""
    px = SCENE_METERS / size
    return ((np.arange(size) + 0.5) * px - SCENE_METERS / 2).astype(np.float32)


def rasterize(ops: list[Rect], angle: float, side: float, size: int) -> np.ndarray:
    """Rasterise a city plan to a [size, size] bool mask (True inside buildings)."""
    px = SCENE_METERS / size
    n = int(math.ceil(side / px)) + 1
    canvas = np.zeros((n, n), dtype=bool)
    for x0, x1, y0, y1, value in ops:
        j0, j1 = max(int(round(x0 / px)), 0), min(int(round(x1 / px)), n)
        i0, i1 = max(int(round(y0 / px)), 0), min(int(round(y1 / px)), n)
        if j1 > j0 and i1 > i0:
            canvas[i0:i1, j0:j1] = value
    if angle == 0.0:  # the canvas is the scene
        return canvas[:size, :size].copy()
    # Each output pixel centre, rotated into the canvas frame (nearest-neighbour lookup).
    c, s = np.float32(math.cos(angle) / px), np.float32(math.sin(angle) / px)
    dx, dy = _centres(size)[None, :], _centres(size)[:, None]
    half = np.float32(side / 2 / px)
    ui = (c * dx + s * dy + half).astype(np.intp)
    vi = (c * dy - s * dx + half).astype(np.intp)
    np.clip(ui, 0, n - 1, out=ui)
    np.clip(vi, 0, n - 1, out=vi)
    return canvas.ravel().take(vi * n + ui)


def random_buildings(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random city's buildings mask [size, size] (True inside buildings)."""
    ops, angle, side = city_plan(rng)
    return rasterize(ops, angle, side, size)


def tx_candidates(buildings: np.ndarray) -> np.ndarray:
    """Flat indices of street pixels in the transmitter band, clear of buildings on 4 sides."""
    h, w = buildings.shape
    free = ~buildings
    clear = free.copy()
    clear[1:, :] &= free[:-1, :]
    clear[:-1, :] &= free[1:, :]
    clear[:, 1:] &= free[:, :-1]
    clear[:, :-1] &= free[:, 1:]
    band = np.zeros_like(clear)
    lo_y, hi_y = (int(round(b * h / 256)) for b in TX_BAND)
    lo_x, hi_x = (int(round(b * w / 256)) for b in TX_BAND)
    band[lo_y:hi_y + 1, lo_x:hi_x + 1] = True
    cand = np.flatnonzero(clear & band)
    if cand.size == 0:  # a band full of buildings: accept any street pixel in the band
        cand = np.flatnonzero(free & band)
    return cand


def place_transmitters(buildings: np.ndarray, rng: np.random.Generator, count: int = 1) -> list[tuple[int, int]]:
    """Draw ``count`` transmitter positions (x, y) in the street, within the central band.

    When the band has no street pixel at all (a very dense draw), the centre pixel's building
    is cleared in place so the transmitter still stands in the open; this mutates ``buildings``.
    """
    cand = tx_candidates(buildings)
    h, w = buildings.shape
    if cand.size == 0:
        buildings[h // 2 - 1:h // 2 + 2, w // 2 - 1:w // 2 + 2] = False
        cand = tx_candidates(buildings)
    out = []
    for _ in range(count):
        k = int(cand[rng.integers(cand.size)])
        out.append((k % w, k // w))
    return out
