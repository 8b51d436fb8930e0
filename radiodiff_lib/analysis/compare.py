"""Several runs side by side: their analyses, the config keys that differ, whether they are like for
like, a noise-aware verdict per main metric on the steps the runs share; as JSON (``comparison_json``)
and as the terminal summary of ``radiodiff compare`` (``comparison_text``).

Comparability (``comparability``), said before any verdict: the aspects of ``configs.ASPECTS`` (data
set, simulation, first-stage checkpoint, fine-tune source, architecture, length, LR, batch size) in
which the runs' configs differ, a stage that differs, and a run without a logged config (nothing to
tell). A verdict over runs that are not like for like carries a ``caveat`` naming those aspects.
Each run's rows are those its analysis covers (``structure.experiment_rows``: the launches before its
last restart are another experiment, set aside). Levels are robust: each run's end level (its
analysis' ``MetricStats.end_level``) and its level at the last shared step (median of its last
``level_n`` entries at or before it, ``level_n`` from the analyses' thresholds).

Verdict of a metric (``metric_verdict``), on the shared step range [max of first steps, min of last
steps]: the range is cut into ``bins`` equal step bins (fewer when a run has few entries there); each
run's value is the mean over the bins of its bin means, so runs logged every step and every 500
steps weigh each part of the range alike ("at equal steps"). Its noise is the run's point-to-point
noise (``stats.point_noise``, blind to a trend) over sqrt(entries) per bin. The run with the lowest
value is "<label> lower" when it is below every other run by more than ``z`` combined noise units
and by more than ``min_rel`` of the other's value; otherwise "indistinguishable". "not comparable":
a run lacks the metric, the runs share no steps, or a run has fewer than ``min_points`` finite
entries in the shared range. ``ratio``: lowest value / next lowest (None unless both are positive).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config_dict import config_diff
from ..errors import AnalysisError, RadiodiffError
from ..formatting import num, to_jsonable
from ..logs import Run, read_run
from ..vocabulary import KL_LOSS, LDM_TOTAL_LOSS, LOSS_SIMPLE, NLL_LOSS, REC_LOSS, TOTAL_LOSS
from .analyze import Analysis, analyze
from .configs import ASPECTS, aspect_of
from .stats import levels, point_noise
from .structure import experiment_rows

MAIN_METRICS = (REC_LOSS, NLL_LOSS, TOTAL_LOSS, KL_LOSS, LOSS_SIMPLE, LDM_TOTAL_LOSS)
X_AXES = ("step", "time", "hours")  # steps; wall-clock hours since the start; training hours without resume gaps
MIN_RUNS, MAX_RUNS = 2, 8


@dataclass
class RunEntry:
    """One run of a comparison: its label, where it was read from, the Run and its Analysis."""

    label: str
    paths: list[str]
    run: Run
    analysis: Analysis


@dataclass
class MetricVerdict:
    """The comparison of one metric across the runs."""

    name: str
    shared_steps: tuple[int, int] | None
    latest: list[float | None]
    verdict: str  # "<label> lower" | "indistinguishable" | "not comparable"
    ratio: float | None
    evidence: dict[str, Any] = field(default_factory=dict)
    end_levels: list[float | None] = field(default_factory=list)  # median of each run's last level_n entries
    at_shared_end: list[float | None] = field(default_factory=list)  # the same, at or before the last shared step
    level_n: int = 0
    caveat: str | None = None  # why the verdict is not like for like (None: it is)


@dataclass
class Comparison:
    """Runs side by side: entries, config keys that differ, verdicts, and the runs that could not be read."""

    entries: list[RunEntry]
    config_diff: list[dict]
    metrics: dict[str, MetricVerdict]
    errors: list[dict] = field(default_factory=list)
    comparability: list[dict] = field(default_factory=list)  # {aspect, keys, values}: what is not like for like

    @property
    def like_for_like(self) -> bool:
        """No aspect of the experiment differs between the runs (and every run logged its config)."""
        return not self.comparability

    @property
    def labels(self) -> list[str]:
        """The run labels, in order."""
        return [e.label for e in self.entries]


def default_labels(paths: list[Any]) -> list[str]:
    """A short label per run from its path (the folder or file name; the parent added when two clash)."""
    def name(p: Any, depth: int) -> str:
        first = Path(p[0] if isinstance(p, (list, tuple)) else p)
        parts = first.resolve().parts if first.exists() else first.parts
        return "/".join(parts[-depth:]) if parts else str(first)
    labels = [name(p, 1) for p in paths]
    for depth in (2, 3):
        if len(set(labels)) == len(labels):
            break
        labels = [name(p, depth) if labels.count(lab) > 1 else lab for p, lab in zip(paths, labels)]
    return [lab if labels.count(lab) == 1 else f"{lab} ({i + 1})" for i, lab in enumerate(labels)]


def _check(n: int, labels: list[str] | None) -> None:
    if not MIN_RUNS <= n <= MAX_RUNS:
        raise AnalysisError(f"compare takes {MIN_RUNS} to {MAX_RUNS} runs, got {n}")
    if labels is not None and (len(labels) != n or len(set(labels)) != n):
        raise AnalysisError(f"give one distinct label per run: {n} runs, labels {labels}")


def read_entries(paths: list[Any], labels: list[str], *, source: str = "all", window: int = 50,
                 **thresholds: Any) -> tuple[list[RunEntry], list[dict]]:
    """Read and analyse each run (a path, or a list of paths of one run): (entries, errors of the runs
    that could not be read, each named with its paths and the reason)."""
    entries, errors = [], []
    for label, p in zip(labels, paths):
        group = [str(x) for x in p] if isinstance(p, (list, tuple)) else [str(p)]
        try:
            run = read_run(group, source=source)
            entries.append(RunEntry(label, group, run, analyze(run, window=window, **thresholds)))
        except RadiodiffError as exc:
            errors.append({"label": label, "paths": group, "error": str(exc)})
    return entries, errors


def compare_paths(paths: list[Any], labels: list[str] | None = None, *, source: str = "all",
                  window: int = 50, **thresholds: Any) -> Comparison:
    """Read, analyse and compare 2 to 8 runs; a run that cannot be read is kept in ``errors`` (named)
    and the others are compared."""
    _check(len(paths), labels)
    labels = list(labels) if labels is not None else default_labels(paths)
    entries, errors = read_entries(paths, labels, source=source, window=window, **thresholds)
    if len(entries) < MIN_RUNS:
        named = "; ".join(f"{e['label']} ({', '.join(e['paths'])}): {e['error']}" for e in errors)
        raise AnalysisError(f"fewer than {MIN_RUNS} runs could be read, nothing to compare: {named}")
    return compare_entries(entries, errors)


def compare_entries(entries: list[RunEntry], errors: list[dict] | None = None) -> Comparison:
    """Compare runs already read and analysed: comparability first, then a verdict per main metric."""
    names = [m for m in MAIN_METRICS if any(m in e.analysis.metrics for e in entries)]
    diff = config_diff([e.run.config for e in entries])
    comp = comparability(entries, diff)
    caveat = ("not like for like: " + ", ".join(c["aspect"] for c in comp) + " differ") if comp else None
    verdicts = {m: metric_verdict(entries, m) for m in names}
    for v in verdicts.values():
        v.caveat = caveat if v.verdict != "not comparable" else None
    return Comparison(entries, diff, verdicts, list(errors or []), comp)


def comparability(entries: list[RunEntry], diff: list[dict]) -> list[dict]:
    """The aspects in which the runs are not like for like: {aspect, keys, values (per key, per run)}."""
    out = []
    stages = [e.analysis.stage for e in entries]
    if len(set(stages)) > 1:
        out.append({"aspect": "stage", "keys": [], "values": {"stage": stages}})
    missing = [e.label for e in entries if e.run.config is None]
    if missing:
        out.append({"aspect": "config (not logged by " + ", ".join(missing) + ")", "keys": [], "values": {}})
    for aspect, _ in ASPECTS:
        keys = [d for d in diff if aspect_of(d["key"]) == aspect]
        if keys and not missing:
            out.append({"aspect": aspect, "keys": [d["key"] for d in keys],
                        "values": {d["key"]: d["values"] for d in keys}})
    return out


def _series(entry: RunEntry, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, finite values) of a metric over the rows the run's analysis covers, by step."""
    df, _ = experiment_rows(entry.run, entry.analysis.experiment_segment)
    if name not in df.columns:
        return np.empty(0, np.int64), np.empty(0)
    v = df[name].to_numpy(dtype=float)
    ok = np.isfinite(v)
    return df["step"].to_numpy()[ok], v[ok]


def _binned(steps: np.ndarray, vals: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, count) of the values in each step bin."""
    idx = np.clip(np.searchsorted(edges, steps, side="right") - 1, 0, edges.size - 2)
    counts = np.bincount(idx, minlength=edges.size - 1)
    sums = np.bincount(idx, weights=vals, minlength=edges.size - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts, counts


def metric_verdict(entries: list[RunEntry], name: str, *, z: float = 3.0, min_rel: float = 0.01,
                   min_points: int = 5, bins: int = 20) -> MetricVerdict:
    """Which run is lower on the shared steps, by how much, and whether it beats the noise (module rule);
    each run's end level and its level at the last shared step."""
    stats = [e.analysis.metrics.get(name) for e in entries]
    latest = [m.latest if m is not None else None for m in stats]
    ends = [m.end_level if m is not None else None for m in stats]
    level_n = max(e.analysis.thresholds.level_n for e in entries)
    series = [_series(e, name) for e in entries]
    out = MetricVerdict(name, None, latest, "not comparable", None, end_levels=ends, level_n=level_n)
    if any(s.size == 0 for s, _ in series):
        missing = [e.label for e, (s, _) in zip(entries, series) if s.size == 0]
        out.evidence = {"reason": f"not logged by {missing}"}
        return out
    lo, hi = max(int(s[0]) for s, _ in series), min(int(s[-1]) for s, _ in series)
    if lo >= hi:
        out.evidence = {"reason": "no shared steps"}
        return out
    out.shared_steps = (lo, hi)
    out.at_shared_end = [levels(v[s <= hi], level_n)[1] for s, v in series]
    inside = [((s >= lo) & (s <= hi)) for s, _ in series]
    counts = [int(m.sum()) for m in inside]
    if min(counts) < min_points:
        out.evidence = {"reason": f"fewer than {min_points} entries in the shared steps", "entries": counts}
        return out
    edges = np.linspace(lo, hi, max(1, min(bins, min(counts) // min_points)) + 1)
    binned = [_binned(s[m], v[m], edges) for (s, v), m in zip(series, inside)]
    valid = np.all([c > 0 for _, c in binned], axis=0)
    noise = [point_noise(v[m]) for (_, v), m in zip(series, inside)]
    mean = np.array([float(np.mean(b[valid])) for b, _ in binned])
    se = np.array([sig * float(np.sqrt(np.sum(1.0 / c[valid]))) / valid.sum() for sig, (_, c) in zip(noise, binned)])
    decided = _decide(entries, name, (lo, hi), latest, mean, se, noise, counts, z, min_rel)
    decided.end_levels, decided.at_shared_end, decided.level_n = out.end_levels, out.at_shared_end, level_n
    return decided


def _decide(entries, name, shared, latest, mean, se, noise, counts, z, min_rel) -> MetricVerdict:
    order = np.argsort(mean, kind="stable")
    best, second = int(order[0]), int(order[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        zs = [(mean[j] - mean[best]) / np.hypot(se[best], se[j]) for j in order[1:]]
        rels = [(mean[j] - mean[best]) / abs(mean[j]) if mean[j] else np.inf for j in order[1:]]
    ratio = float(mean[best] / mean[second]) if mean[best] > 0 and mean[second] > 0 else None
    lower = all(zz > z for zz in zs) and all(r > min_rel for r in rels)
    evidence = {"mean_on_shared_steps": mean.tolist(), "noise": noise, "standard_error": se.tolist(),
                "z_vs_lowest": [None] + [float(x) for x in zs], "entries": counts, "z_threshold": z,
                "min_relative_difference": min_rel}
    return MetricVerdict(name, shared, latest, f"{entries[best].label} lower" if lower else "indistinguishable",
                         ratio, evidence)


def x_coordinates(df: pd.DataFrame, x_axis: str) -> np.ndarray:
    """The x of each row: its step, the wall-clock hours since the run's first row ("time"), or the
    training hours with the gaps between launches removed ("hours")."""
    if x_axis not in X_AXES:
        raise AnalysisError(f"x_axis must be one of {', '.join(X_AXES)}, got {x_axis!r}")
    if x_axis == "step":
        return df["step"].to_numpy()
    if "time" not in df.columns or df["time"].isna().all():
        raise AnalysisError(f"x_axis={x_axis!r} needs timestamps, and this run has none: use x_axis='step'")
    t = df["time"].to_numpy("datetime64[ns]").astype(np.int64).astype(float) / 3.6e12
    t[df["time"].isna().to_numpy()] = np.nan
    if x_axis == "time":
        return t - np.nanmin(t)
    out = np.full(t.size, np.nan)
    seg = df["segment"].to_numpy() if "segment" in df.columns else np.zeros(t.size, int)
    offset = 0.0
    for s in pd.unique(seg):  # rows are in timeline order, each launch's rows together
        mine = seg == s
        if np.isfinite(t[mine]).any():
            start = np.nanmin(t[mine])
            out[mine] = offset + t[mine] - start
            offset += np.nanmax(t[mine]) - start
    return out


def comparison_json(c: Comparison) -> dict:
    """The comparison as strict-JSON data (the fields ``radiodiff compare --json`` writes)."""
    runs = [{"label": e.label, "paths": e.paths, "stage": e.analysis.stage, "entries": e.analysis.entries,
             "first_step": e.analysis.first_step, "latest_step": e.analysis.latest_step,
             "total_steps": e.analysis.total_steps, "total_steps_source": e.analysis.total_steps_source,
             "diagnostics": e.analysis.diagnostic_ids, "run_start": e.analysis.run_start,
             "launches_died_early": died_early(e.analysis),
             "sources": [{k: s.get(k) for k in ("path", "kind", "rows_used")} for s in e.analysis.sources]}
            for e in c.entries]
    diff = [{"key": d["key"], "values": d["values"],
             "only_in": [c.labels[i] for i in d["only_in"]] if d["only_in"] is not None else None}
            for d in c.config_diff]
    metrics = {m: {"shared_steps": list(v.shared_steps) if v.shared_steps else None, "latest": v.latest,
                   "end_levels": v.end_levels, "at_last_shared_step": v.at_shared_end, "level_n": v.level_n,
                   "verdict": v.verdict, "caveat": v.caveat, "ratio": v.ratio, "evidence": v.evidence}
               for m, v in c.metrics.items()}
    return to_jsonable({"runs": runs, "like_for_like": c.like_for_like, "comparability": c.comparability,
                        "config_diff": diff, "metrics": metrics, "errors": c.errors})


def died_early(a: Analysis) -> list[dict]:
    """A run's launches that died early: those that never logged a step, and those set aside by a
    relaunch or a restart (file, steps, entries, why, the last error its log names)."""
    out = [{"file": c["file"], "first_step": None, "last_step": None, "entries": 0, "reason": "no step logged",
            "last_error": c["last_error"]} for c in a.crashed_launches]
    changes = {x["segment"]: b.config_changes for b in a.resumes for x in b.set_aside}
    out += [{"file": x["file"], "first_step": x["first_step"], "last_step": x["last_step"], "entries": x["entries"],
             "reason": f"set aside by a {x['reason']} at step {x['boundary_step']}", "last_error": x["last_error"],
             "config_changes": changes.get(x["segment"], [])} for x in a.set_aside]
    return out


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return [line(head), line(["-" * w for w in widths])] + [line(r) for r in rows]


def comparability_lines(c: Comparison) -> list[str]:
    """Whether the runs are like for like, and in which aspects they are not."""
    if c.like_for_like:
        return ["Like for like: data set, simulation, checkpoints, architecture, length, LR and batch size agree."]
    out = ["NOT LIKE FOR LIKE: the runs differ in " + ", ".join(x["aspect"] for x in c.comparability) + ":"]
    for x in c.comparability:
        for key, values in x["values"].items():
            out.append(f"  {x['aspect']}: {key} = " + " | ".join(repr(v) for v in values))
    return out


def comparison_text(c: Comparison) -> str:
    """Runs, comparability, the verdict per main metric, launches that died early, the diagnostics per run
    and the config keys that differ."""
    rows = [[e.label, e.analysis.stage, str(e.analysis.entries), f"{e.analysis.first_step}..{e.analysis.latest_step}",
             f"{e.analysis.total_steps} ({e.analysis.total_steps_source})" if e.analysis.total_steps else "unknown",
             ", ".join(e.paths)] for e in c.entries]
    out = _table(["run", "stage", "entries", "steps", "total steps", "read from"], rows)
    out += [""] + comparability_lines(c)
    n = max((v.level_n for v in c.metrics.values()), default=10)
    vrows = [[m, f"{v.shared_steps[0]}..{v.shared_steps[1]}" if v.shared_steps else "-",
              " / ".join(num(x, ".5g") for x in v.at_shared_end) if v.at_shared_end else "-",
              " / ".join(num(x, ".5g") for x in v.end_levels), v.verdict + (f" ({v.caveat})" if v.caveat else ""),
              num(v.ratio, ".3g")]
             for m, v in c.metrics.items()]
    out += ["", "Verdicts on the shared steps (" + " / ".join(c.labels) + f"; levels are medians of {n} entries):"]
    out += _table(["metric", "shared steps", "level at last shared step", "end level", "verdict", "ratio"], vrows) \
        if vrows else ["  none"]
    died = [(e.label, x) for e in c.entries for x in died_early(e.analysis)]
    if died:
        out += ["", "Launches that died early or were set aside:"]
        out += [f"  {label}: {x['file']} ({x['entries']} entries; {x['reason']})"
                + (f"; {x['last_error']}" if x["last_error"] else "") for label, x in died]
    out += ["", "Diagnostics:"] + [f"  {e.label}: {', '.join(e.analysis.diagnostic_ids) or 'none'}" for e in c.entries]
    out += ["", f"Config keys that differ ({len(c.config_diff)}):"]
    for d in c.config_diff:
        only = f"  [only in {', '.join(c.labels[i] for i in d['only_in'])}]" if d["only_in"] is not None else ""
        out.append(f"  {d['key']}: " + " | ".join(repr(v) for v in d["values"]) + only)
    for err in c.errors:
        out += ["", f"NOT READ: {err['label']} ({', '.join(err['paths'])}): {err['error']}"]
    return "\n".join(out)
