"""Several runs side by side: their analyses, the config keys that differ, and a noise-aware verdict
per main metric on the steps the runs share.

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

from ..errors import AnalysisError, RadiodiffError
from ..formatting import to_jsonable
from ..logs import Run, read_run
from ..vocabulary import KL_LOSS, LDM_TOTAL_LOSS, LOSS_SIMPLE, NLL_LOSS, REC_LOSS, TOTAL_LOSS
from .analyze import Analysis, analyze
from .configs import config_diff
from .stats import point_noise

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


@dataclass
class Comparison:
    """Runs side by side: entries, config keys that differ, verdicts, and the runs that could not be read."""

    entries: list[RunEntry]
    config_diff: list[dict]
    metrics: dict[str, MetricVerdict]
    errors: list[dict] = field(default_factory=list)

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
    """Compare runs already read and analysed."""
    names = [m for m in MAIN_METRICS if any(m in e.analysis.metrics for e in entries)]
    return Comparison(entries, config_diff([e.run.config for e in entries]),
                      {m: metric_verdict(entries, m) for m in names}, list(errors or []))


def _series(entry: RunEntry, name: str) -> tuple[np.ndarray, np.ndarray]:
    df = entry.run.df
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
    """Which run is lower on the shared steps, by how much, and whether it beats the noise (module rule)."""
    latest = [e.analysis.metrics[name].latest if name in e.analysis.metrics else None for e in entries]
    series = [_series(e, name) for e in entries]
    if any(s.size == 0 for s, _ in series):
        missing = [e.label for e, (s, _) in zip(entries, series) if s.size == 0]
        return MetricVerdict(name, None, latest, "not comparable", None, {"reason": f"not logged by {missing}"})
    lo, hi = max(int(s[0]) for s, _ in series), min(int(s[-1]) for s, _ in series)
    if lo >= hi:
        return MetricVerdict(name, None, latest, "not comparable", None, {"reason": "no shared steps"})
    inside = [((s >= lo) & (s <= hi)) for s, _ in series]
    counts = [int(m.sum()) for m in inside]
    if min(counts) < min_points:
        return MetricVerdict(name, (lo, hi), latest, "not comparable", None,
                             {"reason": f"fewer than {min_points} entries in the shared steps", "entries": counts})
    edges = np.linspace(lo, hi, max(1, min(bins, min(counts) // min_points)) + 1)
    binned = [_binned(s[m], v[m], edges) for (s, v), m in zip(series, inside)]
    valid = np.all([c > 0 for _, c in binned], axis=0)
    noise = [point_noise(v[m]) for (_, v), m in zip(series, inside)]
    mean = np.array([float(np.mean(b[valid])) for b, _ in binned])
    se = np.array([sig * float(np.sqrt(np.sum(1.0 / c[valid]))) / valid.sum() for sig, (_, c) in zip(noise, binned)])
    return _decide(entries, name, (lo, hi), latest, mean, se, noise, counts, z, min_rel)


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
             "diagnostics": e.analysis.diagnostic_ids,
             "sources": [{k: s.get(k) for k in ("path", "kind", "rows_used")} for s in e.analysis.sources]}
            for e in c.entries]
    diff = [{"key": d["key"], "values": d["values"],
             "only_in": [c.labels[i] for i in d["only_in"]] if d["only_in"] is not None else None}
            for d in c.config_diff]
    metrics = {m: {"shared_steps": list(v.shared_steps) if v.shared_steps else None, "latest": v.latest,
                   "verdict": v.verdict, "ratio": v.ratio, "evidence": v.evidence} for m, v in c.metrics.items()}
    return to_jsonable({"runs": runs, "config_diff": diff, "metrics": metrics, "errors": c.errors})
