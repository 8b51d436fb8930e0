"""Figures of a checkpoint sweep: a metric against step with its intervals, the gallery, latent histograms.

They draw a sweep's JSON (``SweepResult.to_json()`` or a ``sweep.json`` read back) and the arrays the
sweep kept; they compute no statistics of their own.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from matplotlib.figure import Figure

from ..evaluation import Example
from ..vocabulary import EVAL_LOWER_IS_BETTER, METRIC_NAMES
from .reconstruction import gallery_figure
from .style import GAN_LINE, GAN_SHADE, RESUME_COLOR, styled

WEIGHT_COLORS = {"ema": "#1f77b4", "model": "#d62728"}


def _points(payload: dict, metric: str, weights: str) -> list[dict]:
    """The scored candidates of one kind of weights that have a step, in step order."""
    rows = [c for c in payload["checkpoints"] if c["weights"] == weights and c.get(metric) and c["step"] is not None]
    return sorted(rows, key=lambda c: c["step"])


def _mark_run(ax: Any, disc_start: int | None, resumes: Sequence[int], last_step: int) -> None:
    """The GAN phase shaded from disc_start, and the run's resumes as dotted lines."""
    if disc_start is not None and disc_start <= last_step:
        ax.axvspan(disc_start, last_step, color=GAN_SHADE, alpha=0.15, lw=0, label="GAN phase")
        ax.axvline(disc_start, color=GAN_LINE, lw=1.2, ls="-.", label=f"disc_start {disc_start}")
    for i, step in enumerate(resumes):
        ax.axvline(step, color=RESUME_COLOR, lw=1.0, ls=":", label="resume" if i == 0 else None).set_gid("resume")


def _band(ax: Any, pts: list[dict], key: str, color: str, label: str, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean line with its interval band for ``key`` of each point; (x, mean)."""
    x = np.array([c["step"] for c in pts], dtype=float)
    mean, low, high = (np.array([c[key][k] for c in pts], dtype=float) for k in ("mean", "low", "high"))
    ax.fill_between(x, low, high, color=color, alpha=0.2, lw=0, label=f"{level:.0%} interval")
    ax.plot(x, mean, color=color, lw=1.4, marker="o", mfc="white", ms=5, label=label)
    return x, mean


@styled
def sweep_metric_figure(payload: dict, metric: str, resumes: Sequence[int] = (), disc_start: int | None = None) -> Figure:
    """``metric`` of every scored checkpoint against its step with the interval band; EMA and raw weights
    side by side; the best starred and the ones indistinguishable from it filled. For the metric that
    decided, a second row: the paired difference to the best with its interval (what the verdict reads)."""
    kinds = [w for w in ("ema", "model") if _points(payload, metric, w)]
    deciding = metric == payload["metric"]
    rows = 2 if deciding else 1
    fig = Figure(figsize=(5.2 * max(len(kinds), 1) + 1.0, 3.4 * rows), layout="constrained")
    axes = fig.subplots(rows, max(len(kinds), 1), squeeze=False)
    same = set(zip(payload["indistinguishable"], payload.get("indistinguishable_weights") or []))
    best = (payload["best"], payload.get("best_weights"))
    last = max((c["step"] for c in payload["checkpoints"] if c["step"] is not None), default=0)
    level = payload.get("level", 0.95)
    for col, kind in enumerate(kinds):
        pts, color, ax = _points(payload, metric, kind), WEIGHT_COLORS[kind], axes[0, col]
        _mark_run(ax, disc_start, resumes, last)
        x, mean = _band(ax, pts, metric, color, f"{kind} weights, mean", level)
        chosen = [i for i, c in enumerate(pts) if (c["path"], kind) in same]
        ax.plot(x[chosen], mean[chosen], ls="none", marker="o", color=color, ms=7,
                label="indistinguishable from the best")
        star = [i for i, c in enumerate(pts) if (c["path"], kind) == best]
        ax.plot(x[star], mean[star], ls="none", marker="*", color="gold", mec="black", ms=15, label="best")
        better = "lower" if EVAL_LOWER_IS_BETTER[metric] else "higher"
        ax.set_title(f"{METRIC_NAMES[metric]}, {kind} weights ({better} is better)")
        ax.legend(fontsize=7.5, loc="best")
        if deciding:
            low = axes[1, col]
            _mark_run(low, disc_start, resumes, last)
            _band(low, pts, "diff_to_best", color, "minus the best (paired)", level)
            low.axhline(0.0, color="black", lw=0.8)
            low.set_title(f"difference to the best: {kind} weights (interval holding 0: indistinguishable)",
                          fontsize=9)
            low.legend(fontsize=7.5, loc="best")
        axes[-1, col].set_xlabel("step")
    if not kinds:
        axes[0, 0].text(0.5, 0.5, "no checkpoint with a step was scored", ha="center", va="center")
        for ax in axes.flat:
            ax.set_axis_off()
    fig.suptitle(f"{metric.upper()} on {payload['maps']} {payload['split']} maps ({payload['transmitters']} items); "
                 f"intervals: cluster bootstrap over maps", fontsize=10)
    return fig


@styled
def sweep_gallery_figure(examples: Sequence[Example], left: str, beside: Sequence[Example] | None = None,
                         right: str | None = None) -> Figure:
    """Best / median / worst items of checkpoint ``left`` (``gallery_figure``), beside ``right``'s on the same items."""
    title = "Best, median and worst items of " + left + (f", beside {right} on the same items" if beside else "")
    return gallery_figure(examples, title, left, beside, right or "")


@styled
def latent_histogram_figure(samples: np.ndarray, title: str, mean: Sequence[float], std: Sequence[float],
                            marked: Sequence[int] = ()) -> Figure:
    """One histogram per latent channel of ``samples`` [C, S] (a subset of the values measured), titled with the
    channel's ``mean`` and ``std`` over all of them; ``marked`` channels (std near 0) say so."""
    samples = np.atleast_2d(np.asarray(samples, dtype=float))
    n = max(samples.shape[0], 1)
    fig = Figure(figsize=(3.2 * n + 0.8, 2.9), layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)[0]
    for c, ax in enumerate(axes):
        if c >= samples.shape[0] or samples.shape[1] == 0:
            ax.set_axis_off()
            continue
        v = samples[c][np.isfinite(samples[c])]
        ax.hist(v, bins=40, color="#4c72b0", alpha=0.85)
        note = " (std near 0)" if c in marked else ""
        ax.set_title(f"channel {c}: mean {mean[c]:.3g}, std {std[c]:.3g}{note}", fontsize=8.5)
        ax.set_xlabel("latent value")
    axes[0].set_ylabel("values")
    fig.suptitle(title, fontsize=10)
    return fig
