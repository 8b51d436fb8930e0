"""What an evaluation measured (``EvalResult``) and how it is told: strict JSON and a terminal summary.

Every item is one (map, transmitter). ``metrics`` aggregate items; ``metrics_by_map`` average each
map's transmitters first, then give the mean over maps with a 95% Student-t interval and the number
of maps behind it. The summary says which split protocol was used, what the checkpoint trained on
and which of the evaluated maps were left out (or kept, and labelled) for being training maps.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..config import SPLIT_PROTOCOLS, Config
from ..formatting import num, to_jsonable
from ..vocabulary import EVAL_METRICS
from .scope import map_list, maps_word

EXAMPLE_LABELS = ("best", "median", "worst")


@dataclass
class Example:
    """One map kept for the figures: arrays ``[H, W]`` in [0, 1] and its NMSE."""

    label: str
    index: int
    name: str
    input: np.ndarray
    reconstruction: np.ndarray
    buildings: np.ndarray
    nmse: float
    nmse_street: float

    @property
    def error(self) -> np.ndarray:
        """Absolute error map |reconstruction - input|."""
        return np.abs(self.reconstruction - self.input)


@dataclass
class EvalResult:
    """What :func:`evaluate_checkpoint` measured; ``to_json()`` and ``summary_text()`` report it."""

    per_map: pd.DataFrame  # one row per item: index, name, map, transmitter, nmse, ..., psnr_street
    metrics: dict[str, dict[str, float]]  # over items: {nmse: {mean, median, p5, p95, count, n_inf, maps}, ...}
    metrics_street: dict[str, dict[str, float]]
    latent: dict[str, Any]  # {mean: [C], std: [C], scale_factor, channels, shape}
    seconds_per_map: float  # per item (one map and transmitter)
    n_maps: int  # items scored (= transmitters; the name is older than per-map statistics)
    checkpoint: str
    examples: list[Example] = field(default_factory=list)
    data: str = "synthetic"
    split: str = "test"
    use_ema: bool = False
    seed: int = 0
    device: str = "cpu"
    image_size: tuple[int, int] = (0, 0)
    config: Config | None = None
    info: dict = field(default_factory=dict)
    figures: dict[str, str] = field(default_factory=dict)
    protocol: str | None = None  # radiodiff | radiounet (RadioMapSeer), synthetic
    split_note: str = ""  # which split that is (reference, missing maps, or the small-folder fallback)
    maps: int = 0  # distinct city maps scored
    by_map: pd.DataFrame | None = None  # one row per map: map, transmitters, the mean of each metric over them
    metrics_by_map: dict[str, dict[str, float]] = field(default_factory=dict)  # {nmse: {mean, ci_low, ci_high, std, maps, items}}
    metrics_street_by_map: dict[str, dict[str, float]] = field(default_factory=dict)
    training_maps: str = ""  # what the checkpoint trained on, and how that is known
    training_basis: str = "unknown"  # recorded | assumed | recomputed | unknown (data.TrainingMaps.basis)
    training_protocol: str | None = None
    excluded_train_maps: list[int] = field(default_factory=list)  # evaluated maps left out: the model trained on them
    included_train_maps: list[int] = field(default_factory=list)  # training maps scored anyway (include_train_maps)
    overlap_known: bool = True  # False: the checkpoint's training maps are unknown

    @property
    def transmitters(self) -> int:
        """Items scored: one per (map, transmitter)."""
        return self.n_maps

    @property
    def includes_train_maps(self) -> bool:
        """Whether maps the checkpoint trained on are among the scored ones."""
        return bool(self.included_train_maps)

    def to_json(self) -> dict:
        """Strict-JSON dict: ``inf`` is written as ``"inf"``, NaN as ``null``."""
        return to_jsonable({
            "checkpoint": self.checkpoint,
            "checkpoint_format": self.info.get("format"),  # vocabulary.CHECKPOINT_FORMATS
            "step": self.info.get("step"),
            "data": self.data,
            "split": self.split,
            "use_ema": self.use_ema,
            "seed": self.seed,
            "device": self.device,
            "image_size": list(self.image_size),
            "protocol": self.protocol,
            "split_note": self.split_note,
            "maps": self.maps,
            "transmitters": self.transmitters,
            "n_maps": self.n_maps,  # = transmitters (items), kept for older readers
            "training_maps": {"basis": self.training_basis, "protocol": self.training_protocol,
                              "known": self.overlap_known, "description": self.training_maps},
            "excluded_train_maps": list(self.excluded_train_maps),
            "included_train_maps": list(self.included_train_maps),
            "includes_train_maps": self.includes_train_maps,
            "metrics": self.metrics,
            "metrics_street": self.metrics_street,
            "metrics_by_map": self.metrics_by_map,
            "metrics_street_by_map": self.metrics_street_by_map,
            "by_map": [] if self.by_map is None else self.by_map.to_dict(orient="records"),
            "latent": self.latent,
            "seconds_per_map": self.seconds_per_map,
            "maps_per_second": (1.0 / self.seconds_per_map) if self.seconds_per_map > 0 else None,
            "examples": [{"label": e.label, "index": e.index, "name": e.name, "nmse": e.nmse} for e in self.examples],
            "figures": self.figures,
            "encoding": "metrics in [0, 1] maps; inf written as \"inf\", undefined (NaN) as null; metrics are over "
                        "items (map, transmitter), metrics_by_map over maps (each map's items averaged first, "
                        "95% Student-t interval over maps)",
        })

    def summary_text(self) -> str:
        """A few lines for a terminal or a notebook."""
        which = "EMA" if self.use_ema else "model"
        h, w = self.image_size
        source = "synthetic data" if self.data == "synthetic" else f"RadioMapSeer folder {self.data}"
        label = "[includes training maps] " if self.includes_train_maps else ""
        lines = [
            f"{label}Evaluated {self.checkpoint} ({which} weights, posterior mode) on {self.transmitters} "
            f"transmitters of {self.maps} maps of the {self.split} split of {source} at {h}x{w}, device {self.device}.",
        ]
        lines += self.scope_lines()
        lines += [
            _metrics_table(self.metrics, f"all pixels, over {self.transmitters} transmitters"),
            _metrics_table(self.metrics_street, "street pixels only (buildings mask 0)"),
        ]
        if self.metrics_by_map:
            lines.append(_by_map_table(self.metrics_by_map, self.metrics_street_by_map))
        lat = self.latent
        fmt = lambda xs: "[" + ", ".join(f"{x:.4g}" for x in xs) + "]"  # noqa: E731
        lines.append(
            f"Latent {lat['shape']}: per-channel mean {fmt(lat['mean'])}, std {fmt(lat['std'])}; "
            f"scale_factor = 1/std(all latents) = {lat['scale_factor']:.6g}"
        )
        lines.append(
            f"Time: {self.seconds_per_map * 1e3:.2f} ms per map "
            f"({1 / max(self.seconds_per_map, 1e-12):.2f} maps/s; model forward only)."
        )
        if self.examples:
            lines.append("Examples by NMSE: " + ", ".join(
                f"{e.label} {e.name} ({e.nmse:.4g})" for e in self.examples))
        for kind, path in self.figures.items():
            lines.append(f"Figure {kind}: {path}")
        return "\n".join(lines)

    def scope_lines(self) -> list[str]:
        """Sentences on the split and the training maps: protocol, what was left out or kept, and why."""
        if self.protocol is None:  # a result built by hand, without a data set behind it
            return []
        lines = [f"Split protocol {self.protocol}" + (f": {self.split_note}." if self.split_note else ".")]
        if self.training_maps:
            lines.append(f"Training maps of the checkpoint: {self.training_maps}.")
        if self.training_protocol not in (None, self.protocol) and self.protocol in SPLIT_PROTOCOLS:
            lines.append(f"The checkpoint trained on the {self.training_protocol} protocol, this is the {self.protocol} "
                         f"{self.split} split: their overlap is counted below.")
        if self.excluded_train_maps:
            lines.append(f"Left out {len(self.excluded_train_maps)} {self.split} "
                         f"{maps_word(self.excluded_train_maps)} the checkpoint trained on: "
                         f"{map_list(self.excluded_train_maps)} (--include-train-maps scores them, labelled).")
        elif self.included_train_maps:
            lines.append(f"Includes {len(self.included_train_maps)} {maps_word(self.included_train_maps)} the "
                         f"checkpoint trained on (--include-train-maps): {map_list(self.included_train_maps)}; these "
                         "numbers are partly training-set numbers.")
        elif self.overlap_known:
            lines.append("None of the scored maps is a training map of the checkpoint.")
        return lines


def _by_map_table(by_map: dict[str, dict[str, float]], street: dict[str, dict[str, float]]) -> str:
    n = max((s["maps"] for s in by_map.values()), default=0)
    rows = [f"  per map (each map's transmitters averaged first; mean over {n} maps, 95% t-interval over maps):",
            f"    {'':6s}{'mean':>12s}{'ci_low':>12s}{'ci_high':>12s}{'maps':>6s}{'street mean':>14s}"]
    for name in EVAL_METRICS:
        s = by_map[name]
        rows.append(f"    {name.upper():6s}" + "".join(f"{num(s[k]):>12s}" for k in ("mean", "ci_low", "ci_high"))
                    + f"{s['maps']:>6d}" + f"{num(street[name]['mean']):>14s}")
    return "\n".join(rows)


def _metrics_table(stats: dict[str, dict[str, float]], title: str) -> str:
    maps = {s["maps"] for s in stats.values() if "maps" in s}
    of = f" of {maps.pop()} maps" if len(maps) == 1 else ""
    rows = [f"  {title}{of}:", f"    {'':6s}{'mean':>12s}{'median':>12s}{'p5':>12s}{'p95':>12s}"]
    for name in EVAL_METRICS:
        s = stats[name]
        note = f"  ({s['n_inf']} inf)" if s.get("n_inf") else ""
        rows.append(f"    {name.upper():6s}" + "".join(f"{num(s[k]):>12s}" for k in ("mean", "median", "p5", "p95")) + note)
    return "\n".join(rows)
