"""Write synthetic scenes as a RadioMapSeer-layout folder (for tests, demos and other tools).

Layout written (the RadioMapSeer data set's):
``png/buildings_complete/<map>.png`` (buildings 255, streets 0), ``png/antennas/<map>_<tx>.png``
(the transmitter pixel 255), ``antenna/<map>.json`` (the [x, y] of each transmitter),
``gain/<DPM|IRT2|IRT4>/<map>_<tx>.png`` (8-bit gain, 0 = -186 dB, 255 = -47 dB), with
``cars=True`` also ``png/cars/<map>.png`` and ``gain/cars<SIM>/``, and ``dataset.csv`` (one row
per map and transmitter). No ``polygon/`` folder: the loader does not need it.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import DataError
from .propagation import PropagationParams, finish_gain, gain_db_map, obstruction_db
from .synthetic import SIMULATIONS, scene_city, scene_params, scene_rng

# Cars: low obstacles in the street, a few dB each, never shadowing like a building.
CAR_PARAMS = PropagationParams(wall_loss_db=3.0, loss_per_m_db=0.3, max_obstruction_db=12.0)


def _cars(buildings: np.ndarray, seed: int, index: int) -> np.ndarray:
    """A mask of parked cars (about 2 x 4.5 m) on street pixels of scene (seed, index)."""
    h, w = buildings.shape
    px = 256.0 / max(h, w)
    rng = scene_rng(seed, index, 3)
    cars = np.zeros_like(buildings)
    street = np.flatnonzero(~buildings)
    if street.size == 0:
        return cars
    for k in rng.choice(street, size=min(40, street.size), replace=True):
        y, x = divmod(int(k), w)
        a, b = max(1, round(2.0 / px)), max(1, round(4.5 / px))
        dy, dx = (a, b) if rng.random() < 0.5 else (b, a)
        cars[y:y + dy, x:x + dx] = True
    return cars & ~buildings


def _save_png(path: Path, array: np.ndarray) -> None:
    Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8)).save(path)


def write_radiomapseer_folder(root: str | Path, num_maps: int, seed: int, size: int = 256,
                              simulations: tuple[str, ...] = ("DPM",), cars: bool = False,
                              tx_per_map: int = 4, first_map: int = 0) -> Path:
    """Write ``num_maps`` synthetic cities with ``tx_per_map`` transmitters each in RadioMapSeer's layout.

    Map m (file number ``first_map + m``) is scene index m of ``seed``: its buildings and its
    transmitter 0 are those of ``synthetic.generate_scene(seed, m, size)``, and its DPM gain for
    transmitter 0 is that scene's gain quantised to 8 bits. Returns the root folder.
    """
    root = Path(root)
    for sim in simulations:
        if sim not in SIMULATIONS:
            raise DataError(f"Unknown simulation {sim!r}: use one of {', '.join(SIMULATIONS)}.")
    if num_maps < 1 or tx_per_map < 1:
        raise DataError(f"num_maps and tx_per_map must be at least 1, got {num_maps} and {tx_per_map}.")
    folders = {"bld": root / "png" / "buildings_complete", "ant": root / "png" / "antennas", "json": root / "antenna"}
    if cars:
        folders["cars"] = root / "png" / "cars"
    gain_folders = {sim: root / "gain" / sim for sim in simulations}
    if cars:
        gain_folders.update({f"cars{sim}": root / "gain" / f"cars{sim}" for sim in simulations})
    for folder in [*folders.values(), *gain_folders.values()]:
        folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for m in range(num_maps):
        name = str(first_map + m)
        buildings, txs = scene_city(seed, m, size, tx_per_map)
        _save_png(folders["bld"] / f"{name}.png", buildings * 255)
        (folders["json"] / f"{name}.json").write_text(json.dumps([[int(x), int(y)] for x, y in txs]))
        car_mask = _cars(buildings, seed, m) if cars else None
        if cars:
            _save_png(folders["cars"] / f"{name}.png", car_mask * 255)
        for t, (x, y) in enumerate(txs):
            ant = np.zeros(buildings.shape, dtype=np.uint8)
            ant[y, x] = 255
            _save_png(folders["ant"] / f"{name}_{t}.png", ant)
            for sim in simulations:
                params = scene_params(seed, m, sim)
                db = gain_db_map(buildings, (x, y), params)
                _save_png(gain_folders[sim] / f"{name}_{t}.png", np.rint(finish_gain(db, buildings, params) * 255))
                if cars:
                    px = 256.0 / max(buildings.shape)
                    db_cars = db - obstruction_db(car_mask, (x, y), CAR_PARAMS, px)
                    gain = finish_gain(db_cars, buildings, params)
                    _save_png(gain_folders[f"cars{sim}"] / f"{name}_{t}.png", np.rint(gain * 255))
            rows.append({"map": name, "tx": t, "x": int(x), "y": int(y),
                         "buildings": f"png/buildings_complete/{name}.png",
                         "antenna": f"png/antennas/{name}_{t}.png",
                         **{f"gain_{k}": f"gain/{k}/{name}_{t}.png" for k in gain_folders}})
    with open(root / "dataset.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root
