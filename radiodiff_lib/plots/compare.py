"""Figures of a comparison: one metric of several runs overlaid, one colour per run.

Each run: its raw values (faint) and TensorBoard-smoothed curve (thick) over the rows its analysis
covers (a launch set aside by a restart is another experiment), on a shared x axis (steps,
wall-clock hours since its start, or training hours with the gaps between launches removed:
``analysis.x_coordinates``); its resumes (dotted), GAN-phase start (dash-dot) and EMA start
(dashed) marked in its colour. The plots compute no statistics of their own.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..analysis import AnalysisError, smooth_tensorboard, x_coordinates
from .style import experiment_rows, finish, new_figure, plain_ticks, short, styled, thin

RUN_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
X_LABELS = {"step": "step", "time": "wall-clock hours since the start", "hours": "training hours (resume gaps removed)"}


def run_color(index: int) -> str:
    """The colour of the index-th run of a comparison (the same in every figure)."""
    return RUN_COLORS[index % len(RUN_COLORS)]


def _x_at_step(df: Any, x: np.ndarray, step: int) -> float | None:
    """Where a step sits on the x axis: the x of the first row at or after it."""
    at = np.flatnonzero(df["step"].to_numpy() >= step)
    return float(x[at[0]]) if at.size and np.isfinite(x[at[0]]) else None


def _marks(ax: Any, entry: Any, df: Any, x: np.ndarray, color: str) -> None:
    """The run's resumes, GAN-phase start and EMA start, in its colour."""
    a = entry.analysis
    start = a.disc_start if a.disc_start is not None else a.disc_first_logged_step
    for step, style, gid in ([(r.step, ":", "resume") for r in a.resumes]
                             + ([(start, "-.", "gan_start")] if start is not None else [])
                             + ([(a.ema_start, "--", "ema_start")] if a.ema_start is not None else [])):
        where = _x_at_step(df, x, step)
        if where is not None:
            ln = ax.axvline(where, color=color, lw=1.0, ls=style, alpha=0.8)
            ln.set_gid(f"{gid}:{entry.label}")


@styled
def compare_figure(comparison: Any, metric: str, smoothing: float = 0.6, x_axis: str = "step",
                   labels: Sequence[str] | None = None, log_scale: bool = False):
    """One metric of every run (or of the runs named in ``labels``) overlaid."""
    have = [(i, e, _rows_with(e, metric)) for i, e in enumerate(comparison.entries)
            if labels is None or e.label in labels]
    have = [(i, e, df) for i, e, df in have if len(df)]
    if not have:
        raise AnalysisError(f"no run of the comparison logs {metric!r}")
    fig, axes = new_figure(width=9.5, height=4.6)
    ax = axes[0, 0]
    for i, e, df in have:
        y = df[metric].to_numpy(dtype=float)
        x = x_coordinates(df, x_axis)
        sm = smooth_tensorboard(y, smoothing)
        ri, si = thin(y.size, y), thin(y.size)
        raw, = ax.plot(x[ri], y[ri], color=run_color(i), alpha=0.25, lw=0.8)
        raw.set_gid(f"raw:{e.label}")
        line, = ax.plot(x[si], sm[si], color=run_color(i), lw=1.8, label=e.label)
        line.set_gid(f"smoothed:{e.label}")
        _marks(ax, e, df, x, run_color(i))
    if log_scale:
        ax.set_yscale("symlog" if any(np.nanmin(df[metric].to_numpy(dtype=float)) <= 0 for _, _, df in have)
                      else "log")
        plain_ticks(ax)
    verdict = comparison.metrics.get(metric)
    title = short(metric) + (f" [{verdict.verdict}]" if verdict is not None else "")
    title += " (not like for like)" if verdict is not None and verdict.caveat else ""
    finish(ax, title=title + f" (smoothing {smoothing:g}; dotted: resume, dash-dot: GAN phase, dashed: EMA)",
           xlabel=X_LABELS.get(x_axis, x_axis), ylabel=short(metric))
    return fig


def _rows_with(entry: Any, metric: str) -> Any:
    """The rows of the run's analysed experiment where ``metric`` has a value, by step (none if not logged)."""
    df = experiment_rows(entry.run, entry.analysis)
    return df[df[metric].notna()] if metric in df.columns else df.iloc[:0]


def compared_metrics(comparison: Any) -> list[str]:
    """Every metric logged by at least one run, the main ones first."""
    seen: dict[str, None] = dict.fromkeys(m for m in comparison.metrics)
    for e in comparison.entries:
        seen.update(dict.fromkeys(k for k, m in e.analysis.metrics.items() if m.count))
    return list(seen)
