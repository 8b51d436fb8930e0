"""The RadioMapSeer folder loader (png/, gain/<simulation>/, antenna/), split by a reference protocol.

Items are (map, transmitter) pairs of the maps in the split; which maps a split holds is
``splits.plan_split`` of the map file numbers in the gain folder under ``data.split_protocol``
(``radiodiff``, RadioDiff's ``RadioUNet_c`` split, or ``radiounet``, the RadioUNet paper's), by map
file number as the reference loaders read them. Choices made where the data set leaves room:

* Transmitters are the ``<map>_<tx>.png`` files present (numbered from 0 as the data set, or from 1).
* The buildings mask is where the gain of that city is 0 for every transmitter present. The
  buildings PNG is used instead (it is faster) once its polarity has been checked against that
  rule on the first map; when no polarity agrees, every mask is derived from the gains.
* Transmitter positions come from ``antenna/<map>.json`` ([x, y] per transmitter; its order of
  x and y is checked against the antenna PNG once), else from ``png/antennas/<map>_<tx>.png``.
* Every map of a folder has one square size, that of the first gain PNG of its lowest map number;
  a PNG of another size is refused, never stretched (``png.read_grey_png`` checks the pixels too).
* Resizing (``image_size`` different from the PNGs): area averaging when shrinking and bilinear
  when enlarging for the gain, nearest for the mask; the gain is then 0 again inside buildings.
  At the PNGs' own size an item's ``image`` equals ``RadioUNet_c``'s ``out['image']``:
  ``gain / 255``, then ``Normalize(0.5, 0.5)``, in float32.
"""
from __future__ import annotations

import json
import os
import re
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ..errors import DataError, DataWarning
from .png import CONVERSIONS, png_size, read_grey_png
from .splits import SplitPlan, check_split, plan_split

SIMULATIONS = ("DPM", "IRT2", "IRT4")
MAP_SOURCE = "radiomapseer"  # what a map file number identifies: a city of the RadioMapSeer data set
# Appended to the errors of a missing folder or file, on the same line (one line per error).
LAYOUT = ("RadioMapSeer's layout: gain/<DPM|IRT2|IRT4|carsDPM|carsIRT2|carsIRT4>/<map>_<tx>.png (8-bit grey path "
          "gain, required), png/buildings_complete/<map>.png (optional), antenna/<map>.json ([[x, y], ...]) or "
          "png/antennas/<map>_<tx>.png; maps are read by file number (the reference loaders read 1..700).")
_GAIN_NAME = re.compile(r"^(\d+)_(\d+)\.png$")


def gain_folder(root: str | Path, simulation: str = "DPM", cars: bool = False) -> Path:
    """``root/gain/[cars]<simulation>``, checked to exist; DataError naming what is there otherwise."""
    root = Path(root).expanduser()
    sim = str(simulation).upper()
    if sim not in SIMULATIONS:
        raise DataError(f"Unknown RadioMapSeer simulation {simulation!r}: use one of {', '.join(SIMULATIONS)}.")
    if not root.is_dir():
        raise DataError(f"RadioMapSeer folder not found: {root}. Set data.root to it. {LAYOUT}")
    folder = root / "gain" / (("cars" if cars else "") + sim)
    if not folder.is_dir():
        have = sorted(p.name for p in (root / "gain").iterdir() if p.is_dir()) if (root / "gain").is_dir() else []
        raise DataError(
            f"Missing folder {folder} (simulation {sim}, cars={bool(cars)}); "
            f"gain/ holds: {', '.join(have) or 'nothing'}. {LAYOUT}"
        )
    return folder


def index_gain_folder(folder: Path) -> dict[int, list[int]]:
    """{map file number: sorted transmitter numbers} from the ``<map>_<tx>.png`` names (no file is opened)."""
    tx_of_map: dict[int, list[int]] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            m = _GAIN_NAME.match(entry.name)
            if m:
                tx_of_map.setdefault(int(m.group(1)), []).append(int(m.group(2)))
    if not tx_of_map:
        raise DataError(f"No <map>_<tx>.png gain files in {folder}. {LAYOUT}")
    return {m: sorted(t) for m, t in sorted(tx_of_map.items())}


def plan_folder(root: str | Path, protocol: str = "radiodiff", simulation: str = "DPM",
                cars: bool = False) -> SplitPlan:
    """The split plan of a RadioMapSeer folder under ``protocol``, from its gain file names alone."""
    return plan_split(index_gain_folder(gain_folder(root, simulation, cars)), protocol)


class RadioMapSeer(Dataset):
    """One split of a RadioMapSeer folder under a split protocol: items ``image, buildings, tx, name, map, transmitter``."""

    map_source = MAP_SOURCE

    def __init__(self, root: str | Path, split: str = "train", simulation: str = "DPM", cars: bool = False,
                 image_size: int = 256, protocol: str = "radiodiff"):
        self.root = Path(root).expanduser()
        self.split = check_split(split)
        self.simulation, self.cars, self.image_size = str(simulation).upper(), bool(cars), int(image_size)
        self.gain_dir = gain_folder(self.root, self.simulation, self.cars)
        self.tx_of_map = index_gain_folder(self.gain_dir)
        self.map_ids = sorted(self.tx_of_map)
        self.root_maps = len(self.map_ids)
        self.plan = plan_split(self.map_ids, protocol)
        self.protocol, self.reference = self.plan.protocol, self.plan.reference
        self.split_maps = list(self.plan.split(self.split))
        if not self.reference:
            warnings.warn(f"{self.root}: {self.plan.describe()}.", DataWarning, stacklevel=2)
        self.items = [(m, t) for m in self.split_maps for t in self.tx_of_map[m]]
        if not self.items:
            raise DataError(
                f"The {self.split!r} split of {self.root} is empty: {len(self.map_ids)} maps are too few "
                "to hold out validation and test maps (at least 3 are needed)."
            )
        first = self.gain_dir / f"{self.map_ids[0]}_{self.tx_of_map[self.map_ids[0]][0]}.png"
        self.map_size = png_size(first)  # every map of the folder must have this size
        if self.map_size[0] != self.map_size[1]:
            raise DataError(f"{first} is {self.map_size[0]}x{self.map_size[1]} pixels: RadioMapSeer maps are square; "
                            "this folder's maps cannot be read without stretching them.")
        self._building_rule: str | None = None  # "white", "black" or "derived", found on first use
        self._swap_json: bool | None = None
        self._derived: dict[int, np.ndarray] = {}
        self._positions: dict[int, list] = {}
        self.conversions: dict[str, int] = {}  # reads of PNGs converted to grey without loss, by kind (said once per kind)
        # Transmitters numbered from 0 or 1 in file names; the JSON list is always 0-based.
        self.first_tx = 1 if min(min(t) for t in self.tx_of_map.values()) == 1 else 0

    def identity(self, i: int) -> tuple[int, int]:
        """(map file number, transmitter number) of item ``i``, without reading it."""
        return self.items[i]

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return (f"RadioMapSeer(root={str(self.root)!r}, split={self.split!r}, protocol={self.protocol!r}, "
                f"simulation={self.simulation!r}, cars={self.cars}, maps={len(self.split_maps)} of {len(self.map_ids)}, "
                f"items={len(self)})")

    def read_map_png(self, path: Path) -> np.ndarray:
        """A PNG of this folder (gain, mask or antenna) as uint8 [H, W], checked to have the folder's map size."""
        png = read_grey_png(path, size=self.map_size, missing_hint=f" {LAYOUT}")
        if png.converted is not None:
            seen = self.conversions.get(png.converted, 0)
            self.conversions[png.converted] = seen + 1
            if not seen:
                warnings.warn(f"{self.root}: {CONVERSIONS[png.converted]} (first: {path}).", DataWarning, stacklevel=2)
        return png.pixels

    # --- buildings -------------------------------------------------------------------------

    def gain_png(self, map_id: int, tx: int) -> np.ndarray:
        """The raw 8-bit gain map of (map, transmitter)."""
        return self.read_map_png(self.gain_dir / f"{map_id}_{tx}.png")

    def derived_buildings(self, map_id: int) -> np.ndarray:
        """Buildings of a map as the pixels whose gain is 0 for all its transmitters (cached)."""
        if map_id not in self._derived:
            mask = None
            for tx in self.tx_of_map[map_id]:
                zero = self.gain_png(map_id, tx) == 0
                mask = zero if mask is None else mask & zero
            if len(self._derived) >= 64:  # a bounded cache: one mask per city in use
                self._derived.pop(next(iter(self._derived)))
            self._derived[map_id] = mask
        return self._derived[map_id]

    def _find_building_rule(self) -> str:
        """Which buildings-PNG value marks buildings, checked against the gains of the first map."""
        folder = self.root / "png" / "buildings_complete"
        first = next((m for m in self.map_ids if (folder / f"{m}.png").is_file()), None)
        if first is None:
            return "derived"
        path = folder / f"{first}.png"
        derived = self.derived_buildings(first)
        white = self.read_map_png(path) > 127
        best, best_recall = "derived", 0.0
        for rule, cand in (("white", white), ("black", ~white)):
            if not cand.any():
                continue
            precision = derived[cand].mean()  # the gain must be 0 on every building pixel
            recall = cand[derived].mean() if derived.any() else 0.0
            if precision >= 0.98 and recall > best_recall:
                best, best_recall = rule, recall
        return best

    def buildings(self, map_id: int) -> np.ndarray:
        """The bool buildings mask of a map (from the PNG when consistent, else from the gains)."""
        if self._building_rule is None:
            self._building_rule = self._find_building_rule()
        path = self.root / "png" / "buildings_complete" / f"{map_id}.png"
        if self._building_rule == "derived" or not path.is_file():
            return self.derived_buildings(map_id)
        white = self.read_map_png(path) > 127
        return white if self._building_rule == "white" else ~white

    # --- transmitters ----------------------------------------------------------------------

    def _antenna_png_xy(self, map_id: int, tx: int) -> tuple[int, int] | None:
        path = self.root / "png" / "antennas" / f"{map_id}_{tx}.png"
        if not path.is_file():
            return None
        ant = self.read_map_png(path)
        y, x = np.unravel_index(int(np.argmax(ant)), ant.shape)
        return int(x), int(y)

    def _json_positions(self, map_id: int) -> list | None:
        if map_id in self._positions:
            return self._positions[map_id]
        path = self.root / "antenna" / f"{map_id}.json"
        if not path.is_file():
            return None  # not cached: the file may yet appear; the PNG is the fallback
        try:
            pos = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: not a JSON list of [x, y] transmitter positions ({exc}).") from exc
        if not isinstance(pos, list):
            raise DataError(f"{path}: expected a JSON list of [x, y] transmitter positions.")
        if len(self._positions) >= 256:
            self._positions.pop(next(iter(self._positions)))
        self._positions[map_id] = pos
        return pos

    def tx_position(self, map_id: int, tx: int) -> tuple[float, float]:
        """Transmitter (x, y) in pixels of the PNGs."""
        pos = self._json_positions(map_id)
        k = tx - self.first_tx
        if pos is not None and 0 <= k < len(pos):
            try:
                a, b = float(pos[k][0]), float(pos[k][1])
            except (TypeError, ValueError, IndexError, KeyError):
                raise DataError(f"{self.root / 'antenna' / f'{map_id}.json'}: entry {k} is {pos[k]!r}, "
                                "expected [x, y].") from None
            if self._swap_json is None:  # check the order of x and y once against the antenna PNG
                png = self._antenna_png_xy(map_id, tx)
                self._swap_json = png is not None and (round(b), round(a)) == png and (round(a), round(b)) != png
            return (b, a) if self._swap_json else (a, b)
        png = self._antenna_png_xy(map_id, tx)
        if png is None:
            raise DataError(
                f"No position for transmitter {tx} of map {map_id}: neither {self.root / 'antenna' / f'{map_id}.json'} "
                f"(entry {k}) nor {self.root / 'png' / 'antennas' / f'{map_id}_{tx}.png'} exists. {LAYOUT}"
            )
        return float(png[0]), float(png[1])

    # --- items -----------------------------------------------------------------------------

    def __getitem__(self, i: int) -> dict:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} items")
        map_id, tx = self.items[i]
        gain = self.gain_png(map_id, tx).astype(np.float32) / np.float32(255.0)
        bld = self.buildings(map_id)  # the gain's shape: every PNG is read at the folder's map size
        x, y = self.tx_position(map_id, tx)
        image = torch.from_numpy(gain)[None]
        buildings = torch.from_numpy(bld.astype(np.float32))[None]
        if self.image_size != gain.shape[0] or self.image_size != gain.shape[1]:
            image, buildings, (x, y) = resize_item(image, buildings, (x, y), self.image_size)
        return {
            "image": image * 2.0 - 1.0,
            "buildings": buildings,
            "tx": torch.tensor([x, y], dtype=torch.float32),
            "name": f"{map_id}_{tx}",
            "map": map_id,
            "transmitter": tx,
        }


def resize_item(gain: torch.Tensor, buildings: torch.Tensor, tx: tuple[float, float], size: int):
    """Resize a [1, H, W] gain (area/bilinear) and mask (nearest) to size x size; scale the tx."""
    h, w = gain.shape[-2:]
    shrink = size < h and size < w
    mode = "area" if shrink else "bilinear"
    kwargs = {} if shrink else {"align_corners": False}
    g = F.interpolate(gain[None], size=(size, size), mode=mode, **kwargs)[0]
    b = F.interpolate(buildings[None], size=(size, size), mode="nearest")[0]
    g = torch.where(b > 0.5, torch.zeros_like(g), g).clamp_(0.0, 1.0)
    x = (tx[0] + 0.5) * size / w - 0.5  # pixel centres map onto pixel centres
    y = (tx[1] + 0.5) * size / h - 0.5
    return g, b, (x, y)
