"""What a sweep found and how it is shown: its settings, the result, its tables, JSON and terminal summary.

The files of a sweep's folder: ``sweep.csv`` (one row per candidate and item), ``checkpoints.csv``
(one row per candidate, with its intervals and the verdict), ``sweep.json`` (the ``--json`` schema),
``handoff.yaml``, ``latents.npz`` and ``cache/``. Numbers are computed by ``bootstrap``; this module
only lays them out.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..config import Config
from ..errors import ConfigError, DataError
from ..formatting import to_jsonable
from ..vocabulary import SWEEP_METRICS
from .bootstrap import Comparison, Interval
from .handoff import Stage2Check
from .items import Items
from .latents import LatentSummary
from .scoring import ITEM_METRICS, Candidate

SWEEP_CSV = "sweep.csv"  # one row per candidate and item
CHECKPOINTS_CSV = "checkpoints.csv"  # one row per candidate
SWEEP_JSON = "sweep.json"
CACHE_FOLDER = "cache"  # one entry per candidate
# cache/handoff/: the chosen candidate's test confirmation and latent statistics, apart from the candidates' entries
HANDOFF_CACHE = "handoff"
FILES_CACHE = "files"  # cache/files/: what each checkpoint file records about its training maps, by its content
LATENTS_FILE = "latents.npz"
FIRST_STAGE_FOLDER = "first_stage"
WEIGHT_CHOICES = ("ema", "model", "both")
CHOICES = ("best", "earliest")


# --- settings ---------------------------------------------------------------------------------------

@dataclass
class SweepSettings:
    """What a sweep scores and how; every field that changes a number is part of the cache key."""

    data: str = "synthetic"
    split: str = "val"
    protocol: str | None = None  # RadioMapSeer's split protocol asked for (None: the run's own)
    maps: int | None = None
    tx: int | None = None
    weights: str = "ema"
    metric: str = "nmse"
    choose: str = "best"
    seed: int = 0
    n_boot: int = 2000
    level: float = 0.95
    batch_size: int = 8
    precision: str = "no"
    config: str | None = None  # architecture (and synthetic data) config for checkpoints that do not carry one
    latent_maps: int | None = None  # maps of the training split measured for the latent scale (None: all)

    def check(self) -> None:
        """ConfigError for a setting that cannot work, naming the option."""
        if self.weights not in WEIGHT_CHOICES:
            raise ConfigError(f"--weights {self.weights}: use one of {', '.join(WEIGHT_CHOICES)}.")
        if self.metric not in SWEEP_METRICS:
            raise ConfigError(f"--metric {self.metric}: use one of {', '.join(SWEEP_METRICS)}.")
        if self.choose not in CHOICES:
            raise ConfigError(f"--choose {self.choose}: use one of {', '.join(CHOICES)}.")
        if self.batch_size < 1 or self.n_boot < 100:
            raise ConfigError(f"batch size {self.batch_size} / bootstrap draws {self.n_boot}: use at least 1 / 100.")
        if not 0.5 < self.level < 1.0:
            raise ConfigError(f"interval level {self.level}: give a number between 0.5 and 1, e.g. 0.95.")

    def weight_kinds(self) -> list[str]:
        """The weights scored per file: ["ema"], ["model"] or both."""
        return ["ema", "model"] if self.weights == "both" else [self.weights]


# --- the result ------------------------------------------------------------------------------------

@dataclass
class SweepResult:
    """What :func:`sweep.sweep_checkpoints` found; ``to_json()`` is the ``--json`` file, ``summary_text()`` the terminal's."""

    run: Path
    out: Path
    settings: SweepSettings
    config: Config
    items: Items
    candidates: list[Candidate]
    comparisons: dict[str, Comparison]  # per metric, over the ok candidates (in their order)
    scored: list[int]  # candidates' indices in the comparisons' order
    precision: str
    precision_note: str
    device: str
    chosen: int | None = None  # index into candidates
    confirmation: list[dict] = field(default_factory=list)
    latent: LatentSummary | None = None
    handoff_cached: bool = False  # confirmation and latents read from the cache, not measured by this sweep
    handoff: Path | None = None
    first_stage: Path | None = None
    stage2: Stage2Check | None = None
    protocol: str | None = None  # the protocol the items were split by ("synthetic" for generated data)
    training_maps: str = ""  # which maps the run trained on, and how that is known
    excluded_train_maps: list[int] = field(default_factory=list)  # maps of the split left out for that
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def comparison(self) -> Comparison | None:
        """The comparison on the sweep's metric (None when no candidate could be scored)."""
        return self.comparisons.get(self.settings.metric)

    def candidate_of(self, position: int) -> Candidate:
        """The candidate at ``position`` of the comparisons."""
        return self.candidates[self.scored[position]]

    def final(self) -> int | None:
        """The index of the newest scored candidate (the run's final weights)."""
        return self.scored[-1] if self.scored else None

    def to_json(self) -> dict:
        """The sweep as the ``--json`` schema of issue 20 (strict JSON)."""
        cmp_ = self.comparison()
        pos = {k: i for i, k in enumerate(self.scored)}
        entries = []
        for k, c in enumerate(self.candidates):
            entry = {"path": str(c.path), "step": c.step, "weights": c.weights, "status": c.status,
                     "format": c.format, "cached": c.cached, "trained_on_scored_maps": c.trained_on}
            if k in pos:
                for name in SWEEP_METRICS:
                    entry[name] = self.comparisons[name].means[pos[k]].to_json()
                entry["diff_to_best"] = cmp_.diffs[pos[k]].to_json()
            else:
                entry.update({name: None for name in SWEEP_METRICS} | {"diff_to_best": None})
            entries.append(entry)
        path_of = lambda i: str(self.candidate_of(i).path)  # noqa: E731
        return to_jsonable({
            "protocol": self.protocol, "split": self.settings.split, "data": self.settings.data,
            "training_maps": self.training_maps, "excluded_train_maps": self.excluded_train_maps,
            "maps": self.items.n_maps, "transmitters": len(self.items), "metric": self.settings.metric,
            "level": self.settings.level, "bootstrap": {"draws": self.settings.n_boot, "seed": self.settings.seed,
                                                        "unit": "map"},
            "precision": self.precision, "precision_note": self.precision_note, "device": self.device,
            "checkpoints": entries,
            "best": path_of(cmp_.best) if cmp_ else None,
            "best_weights": self.candidate_of(cmp_.best).weights if cmp_ else None,
            "indistinguishable": [path_of(i) for i in cmp_.indistinguishable] if cmp_ else [],
            "indistinguishable_weights": [self.candidate_of(i).weights for i in cmp_.indistinguishable] if cmp_ else [],
            "earliest_indistinguishable": path_of(cmp_.earliest) if cmp_ else None,
            "earliest_weights": self.candidate_of(cmp_.earliest).weights if cmp_ else None,
            "excluded_items": cmp_.excluded_items if cmp_ else 0,
            "chosen": str(self.candidates[self.chosen].path) if self.chosen is not None else None,
            "chosen_weights": self.candidates[self.chosen].weights if self.chosen is not None else None,
            "choose": self.settings.choose,
            "confirmation": self.confirmation,
            "latent": self.latent.to_json() if self.latent else None,
            "handoff_cached": self.handoff_cached,
            "handoff": str(self.handoff) if self.handoff else None,
            "first_stage_copy": str(self.first_stage) if self.first_stage else None,
            "stage2": self.stage2.to_json() if self.stage2 else None,
            "stage2_warnings": self.stage2.warnings if self.stage2 else [],
            "disc_start": self.config.model.lossconfig.disc_start,
            "notes": self.notes, "timings": self.timings,
        })

    def summary_text(self) -> str:
        """A few lines for a terminal."""
        return summary_text(self)


# --- assembling ------------------------------------------------------------------------------------

def item_table(result: SweepResult) -> pd.DataFrame:
    """One row per scored candidate and item: checkpoint, step, weights, map, tx, item name, metrics."""
    frames = []
    items = result.items
    for k in result.scored:
        c = result.candidates[k]
        df = pd.DataFrame({"checkpoint": c.path.name, "step": c.step, "weights": c.weights, "map": items.maps,
                           "tx": items.tx, "item": items.names})
        for name in ITEM_METRICS:
            df[name] = c.metrics[name]
        frames.append(df)
    cols = ["checkpoint", "step", "weights", "map", "tx", "item", *ITEM_METRICS]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def candidate_table(result: SweepResult) -> pd.DataFrame:
    """One row per candidate: status, and per reported metric its mean and interval, and the difference to the best."""
    rows = []
    cmp_ = result.comparison()
    pos = {k: i for i, k in enumerate(result.scored)}
    for k, c in enumerate(result.candidates):
        row: dict[str, Any] = {"checkpoint": c.path.name, "step": c.step, "weights": c.weights, "status": c.status}
        if k in pos:
            for name in SWEEP_METRICS:
                iv = result.comparisons[name].means[pos[k]]
                row.update({name: iv.mean, f"{name}_low": iv.low, f"{name}_high": iv.high})
            d = cmp_.diffs[pos[k]]
            row.update({"diff_to_best": d.mean, "diff_low": d.low, "diff_high": d.high,
                        "best": pos[k] == cmp_.best, "indistinguishable": pos[k] in cmp_.indistinguishable,
                        "earliest": pos[k] == cmp_.earliest})
        rows.append(row)
    return pd.DataFrame(rows)


def write_tables(result: SweepResult) -> None:
    """``sweep.csv`` (per item) and ``checkpoints.csv`` (per candidate) into the out folder."""
    item_table(result).to_csv(result.out / SWEEP_CSV, index=False)
    candidate_table(result).to_csv(result.out / CHECKPOINTS_CSV, index=False)


def read_sweep(folder: str | Path) -> dict:
    """The ``sweep.json`` of a sweep's folder (or the file itself); DataError when there is none."""
    path = Path(folder)
    path = path / SWEEP_JSON if path.is_dir() else path
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: no sweep here; run `radiodiff sweep RUN` first (it writes {SWEEP_JSON}).") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable sweep result ({exc}); run `radiodiff sweep` again.") from exc


# --- the terminal's summary ----------------------------------------------------------------------------

def _iv(d: dict | Interval, digits: int = 4) -> str:
    d = d.to_json() if isinstance(d, Interval) else d
    return f"{d['mean']:.{digits}g} [{d['low']:.{digits}g}, {d['high']:.{digits}g}]"


def summary_text(result: SweepResult) -> str:
    """What was swept, the table, the verdict, the test figures, the scale and the hand-off, in lines."""
    s, items = result.settings, result.items
    lines = [f"Swept {len(result.candidates)} candidate(s) ({s.weights} weights) of {result.run} on {items.n_maps} "
             f"maps, {len(items)} items of the {s.split} split ({result.protocol} protocol) of {s.data}; precision "
             f"{result.precision}, device {result.device}." + (f" Note: {result.precision_note}." if
                                                               result.precision_note else ""),
             f"Training maps of the run: {result.training_maps}."]
    cmp_ = result.comparison()
    pos = {k: i for i, k in enumerate(result.scored)}
    for k, c in enumerate(result.candidates):
        if k not in pos:
            lines.append(f"  {c.label:<28} skipped: {c.status}")
            continue
        i = pos[k]
        mark = " best" if i == cmp_.best else (" indistinguishable" if i in cmp_.indistinguishable else "")
        lines.append(f"  {c.label:<28} step {str(c.step):>7}  {s.metric} {_iv(cmp_.means[i])}  "
                     f"diff to best {_iv(cmp_.diffs[i], 3)}{mark}")
    if cmp_ is None:
        lines.append("No checkpoint could be scored.")
        return "\n".join(lines)
    name = lambda i: result.candidate_of(i).label  # noqa: E731
    lines.append(f"Best by mean {s.metric}: {name(cmp_.best)}; indistinguishable from it ({s.level:.0%} interval of "
                 f"the paired difference holds 0, cluster bootstrap over {cmp_.n_maps} maps): "
                 f"{', '.join(name(i) for i in cmp_.indistinguishable)}; earliest of them: {name(cmp_.earliest)}.")
    lines += [f"Note: {n}" for n in result.notes]
    chosen = result.candidates[result.chosen]
    lines.append(f"Chosen ({s.choose}): {chosen.label}.")
    for conf in result.confirmation:
        lines.append(f"  on {conf['label']} ({conf['maps']} maps, {conf['transmitters']} items): "
                     + ", ".join(f"{m} {_iv(conf[m])}" for m in SWEEP_METRICS))
    if result.latent is not None:
        lat = result.latent
        flags = (f"; channels with std near 0: {lat.near_zero}" if lat.near_zero else "") + (
            f"; channels whose posterior mean hardly varies: {lat.uninformative}" if lat.uninformative else "")
        lines.append(f"Latent scale_factor {lat.scale_factor.mean:.6g} (halves of the maps {lat.scale_factor.low:.6g} .. "
                     f"{lat.scale_factor.high:.6g}) over {lat.n_maps} {lat.split} maps{flags}.")
    if result.handoff:
        lines.append(f"Hand-off: {result.handoff}" + (f" (first stage copied to {result.first_stage})"
                                                       if result.first_stage else ""))
    if result.stage2 is not None:
        lines.append(f"Stage-2 config {result.stage2.source}: {len(result.stage2.differences)} key(s) changed, "
                     f"merged config {result.stage2.written}")
        lines += [f"  warning: {w}" for w in result.stage2.warnings]
    lines.append(f"Tables: {result.out / SWEEP_CSV}, {result.out / CHECKPOINTS_CSV}; {result.out / SWEEP_JSON}")
    return "\n".join(lines)
