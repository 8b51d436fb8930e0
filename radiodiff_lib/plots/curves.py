"""Figures of a run, each a matplotlib Figure built from (run, analysis).

Plots compute no statistics of their own: smoothing, normalisation and decomposition come from
`analysis`. Colours follow `style.PALETTE` (one colour per metric in every figure). The detail
figures (decomposition, resume zoom, discriminator) live in `detail.py`.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..analysis import constant_throughout, lr_curve, normalize_minmax, rolling_level, set_aside_rows, smooth_tensorboard
from ..errors import AnalysisError
from ..vocabulary import (
    D_WEIGHT, DISC_LOSS, G_LOSS, KL_LOSS, LDM_TOTAL_LOSS, LOSS_SIMPLE, LOSS_VLB, LR, NLL_LOSS, REC_LOSS, STAGE_TITLES,
    TOTAL_LOSS,
)
from .style import (
    NOT_SMOOTHED, SET_ASIDE_COLOR, color_of, existing_metrics, experiment_rows, finish, mark_phases_and_resumes,
    metric_rows, new_figure, plain_ticks, set_value_scale, short, styled, thin, wrapped, x_values,
)

# (the second stage's losses last: a first-stage run does not log them)
NORMALIZED_DEFAULT = (TOTAL_LOSS, REC_LOSS, NLL_LOSS, KL_LOSS, G_LOSS, DISC_LOSS, D_WEIGHT, LR, LOSS_SIMPLE, LOSS_VLB,
                      LDM_TOTAL_LOSS)
MULTI_AXIS_DEFAULT = (TOTAL_LOSS, REC_LOSS, KL_LOSS, D_WEIGHT, G_LOSS, DISC_LOSS, NLL_LOSS, LOSS_SIMPLE, LDM_TOTAL_LOSS,
                      LR)


def _check_x_axis(x_axis: str, run: Any) -> None:
    if x_axis not in ("step", "time"):
        raise AnalysisError(f"x_axis must be 'step' or 'time', got {x_axis!r}")
    if x_axis == "time" and ("time" not in run.df.columns or run.df["time"].isna().all()):
        raise AnalysisError("x_axis='time' needs timestamps, and this run has none: use x_axis='step'")


def draw_metric(ax: Any, run: Any, analysis: Any, name: str, smoothing: float = 0.6,
                step_range: tuple[int, int] | None = None, log_scale: bool = False, x_axis: str = "step",
                labels: bool = True) -> None:
    """Raw (faint) and TensorBoard-smoothed curves of one metric with phases and resumes on one axes; the
    LR also as reconstructed from the config (dashed) where the log printed too few digits."""
    df = metric_rows(run, name, analysis)
    y = df[name].to_numpy(dtype=float)
    # over the whole run, then cropped, so the crop does not change it
    sm = smooth_tensorboard(y, 0.0 if name in NOT_SMOOTHED else smoothing)
    if step_range is not None:
        keep = ((df["step"] >= step_range[0]) & (df["step"] <= step_range[1])).to_numpy()
        df, y, sm = df[keep], y[keep], sm[keep]
    x = x_values(df, x_axis)
    c = color_of(name)
    # on a time axis each launch is drawn apart, so no line bridges the hours between launches
    parts = [np.arange(len(df))] if x_axis == "step" or "segment" not in df.columns else \
        [np.flatnonzero((df["segment"] == s).to_numpy()) for s in pd.unique(df["segment"])]
    for j, idx in enumerate(parts):
        first = labels and j == 0
        ri, si = idx[thin(idx.size, y[idx])], idx[thin(idx.size)]  # long runs: draw what the pixels can show
        raw, = ax.plot(x[ri], y[ri], color=c, alpha=0.3, lw=0.9, label="raw" if first else None)
        raw.set_gid("raw")
        smooth, = ax.plot(x[si], sm[si], color=c, lw=1.8, label=f"smoothed ({smoothing:g})" if first else None)
        smooth.set_gid("smoothed")
    if name == LR and x_axis == "step":
        _draw_reconstructed_lr(ax, analysis, step_range, labels)
    mark_phases_and_resumes(ax, df, analysis, x_axis, labels=labels)
    set_value_scale(ax, y, log_scale)
    m = analysis.metrics.get(name)
    status = f" [{m.status}]" if m is not None else ""
    finish(ax, title=f"{short(name)}{status}", xlabel="step" if x_axis == "step" else "time", legend=labels)


def _draw_reconstructed_lr(ax: Any, analysis: Any, step_range: tuple[int, int] | None, labels: bool) -> None:
    """The LR schedule the config gives (dashed, labelled as reconstructed), where the analysis has one."""
    got = lr_curve(getattr(analysis, "lr_schedule", None))
    if got is None:
        return
    x, y = got
    if step_range is not None:
        keep = (x >= step_range[0]) & (x <= step_range[1])
        x, y = x[keep], y[keep]
    rec = analysis.lr_schedule["reconstructed"]
    label = "reconstructed from the config" + ("" if rec["agrees_with_log"] else " (does not match the log)")
    ln, = ax.plot(x, y, color="black", lw=1.4, ls="--", label=label if labels else None)
    ln.set_gid("lr_reconstructed")


@styled
def key_figure(run: Any, analysis: Any, smoothing: float = 0.6, sample: Any = None, sample_title: str | None = None):
    """The figure that matters most for the stage (rec_loss, or loss_simple for the second stage) with phases,
    resumes and restarts marked and the launches set aside in grey; the latest sample image beside it."""
    name = analysis.key_metric
    if name is None:
        raise AnalysisError("the run logs neither rec_loss, loss_simple nor a total loss: no key figure to draw")
    if sample is None:
        fig, axes = new_figure(width=11.0, height=3.9)
        ax = axes[0, 0]
    else:
        fig, axes = new_figure(1, 2, width=12.5, height=3.9, gridspec_kw={"width_ratios": [2.3, 1]})
        ax = axes[0, 0]
        axes[0, 1].imshow(sample, cmap="gray" if getattr(sample, "ndim", 3) == 2 else None)
        axes[0, 1].set_axis_off()
        axes[0, 1].set_title(wrapped(sample_title or "latest sample", axes[0, 1]))
    aside = set_aside_rows(run, getattr(analysis, "set_aside", []))
    if len(aside) and name in aside.columns:
        for k, (_, g) in enumerate(aside[aside[name].notna()].groupby("segment")):
            ln, = ax.plot(g["step"], g[name], color=SET_ASIDE_COLOR, lw=0.9, alpha=0.8,
                          label="set-aside launch(es)" if k == 0 else None)
            ln.set_gid("set_aside")
    draw_metric(ax, run, analysis, name, smoothing)
    values = metric_rows(run, name, analysis)[name].to_numpy(dtype=float)
    fin = values[np.isfinite(values)]
    if fin.size and fin.min() > 0 and fin.max() / fin.min() > 20:  # a fall over decades reads on a log axis
        ax.set_yscale("log")
        plain_ticks(ax)
    ax.set_ylabel(short(name))
    m = analysis.metrics[name]
    finish(ax, title=f"{STAGE_TITLES.get(analysis.stage, analysis.stage)}: {short(name)}, {m.status}")
    return fig


@styled
def metric_figure(run: Any, analysis: Any, name: str, smoothing: float = 0.6,
                  step_range: tuple[int, int] | None = None, log_scale: bool = False, x_axis: str = "step"):
    """One metric, raw and smoothed, GAN phase shaded, disc_start line, resume points marked."""
    _check_x_axis(x_axis, run)
    fig, axes = new_figure(width=9.0, height=4.2)
    draw_metric(axes[0, 0], run, analysis, name, smoothing, step_range, log_scale, x_axis)
    axes[0, 0].set_ylabel(short(name))
    return fig


@styled
def overview_grid(run: Any, analysis: Any, smoothing: float = 0.6, ncols: int = 3,
                  metrics: Sequence[str] | None = None, log_scale: bool = False):
    """One panel per metric that exists (no empty panels), shared step axis."""
    names = list(metrics) if metrics is not None else moving_metrics(analysis)
    if not names:
        raise AnalysisError("the run has no logged metric to plot")
    ncols = max(1, min(ncols, len(names)))
    nrows = math.ceil(len(names) / ncols)
    fig, axes = new_figure(nrows, ncols, width=4.2 * ncols, height=2.9 * nrows, sharex=True)
    flat = axes.ravel()
    for i, name in enumerate(names):
        draw_metric(flat[i], run, analysis, name, smoothing, log_scale=log_scale, labels=(i == 0))
        flat[i].set_xlabel("step" if i >= len(names) - ncols else "")
    for ax in flat[len(names):]:
        fig.delaxes(ax)  # no empty panels
    return fig


def moving_metrics(analysis: Any) -> list[str]:
    """Metrics with a logged value that is not the same in every entry (constant ones go in a table)."""
    return [k for k in existing_metrics(analysis)
            if not constant_throughout(analysis.metrics[k], analysis.lr_schedule)]


def trending_metrics(analysis: Any) -> list[str]:
    """Metrics whose last window moves beyond its noise (status improving, worsening, falling, rising)."""
    return [k for k in existing_metrics(analysis)
            if analysis.metrics[k].status in ("improving", "worsening", "falling", "rising")]


@styled
def normalized_figure(run: Any, analysis: Any, metrics: Sequence[str] | None = None, smoothing: float = 0.6):
    """Each metric's level (a centred rolling median over 1/25 of its entries, at least 3) scaled to [0, 1] by its own
    min and max, on one axes, so that shapes compare and point noise does not fill the plot (default: the
    trending losses)."""
    have = trending_metrics(analysis)
    names = list(metrics) if metrics is not None else [m for m in NORMALIZED_DEFAULT if m in have] or have
    fig, axes = new_figure(width=9.5, height=4.5)
    ax = axes[0, 0]
    skipped, windows = [], []
    for name in names:
        df = metric_rows(run, name, analysis)
        entries = max(3, len(df) // 25)
        z = normalize_minmax(rolling_level(df[name].to_numpy(dtype=float), entries))
        if z is None:
            skipped.append(short(name))  # constant: nothing to normalise
            continue
        windows.append(entries)
        i = thin(z.size)
        ln, = ax.plot(df["step"].to_numpy()[i], z[i], color=color_of(name), lw=1.6, label=short(name))
        ln.set_gid("metric")
    mark_phases_and_resumes(ax, experiment_rows(run, analysis), analysis, labels=False)
    ax.set_ylim(-0.03, 1.03)
    title = "levels scaled to [0, 1]: rolling median over 1/25 of each metric's entries (at least 3)"
    if windows:
        title += f": {min(windows)}..{max(windows)} entries" if min(windows) != max(windows) else f": {windows[0]} entries"
    if skipped:
        title += f"\nconstant, not shown: {', '.join(skipped)}"
    finish(ax, title=title, xlabel="step", ylabel="normalised level", legend=False)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return fig


@styled
def multi_axis_figure(run: Any, analysis: Any, metrics: Sequence[str] | None = None, smoothing: float = 0.6):
    """Up to 4 smoothed metrics on one step axis, each with its own y axis (offset right spines)."""
    have = moving_metrics(analysis)
    names = list(metrics) if metrics is not None else [m for m in MULTI_AXIS_DEFAULT if m in have][:4]
    if not names:
        raise AnalysisError("no metric to plot on the multi-axis figure")
    if len(names) > 4:
        raise AnalysisError(f"multi_axis_figure draws at most 4 metrics (independent y axes), got {len(names)}: "
                            f"pass metrics=[...] with 4 or fewer")
    extra = max(0, len(names) - 2)
    fig, axes = new_figure(width=9.0 + 0.9 * extra, height=4.5)
    host = axes[0, 0]
    mark_phases_and_resumes(host, experiment_rows(run, analysis), analysis, labels=False)
    lines = []
    for i, name in enumerate(names):
        ax = host if i == 0 else host.twinx()
        if i >= 2:  # third and fourth axes: move their spine outwards so the tick labels do not overlap
            ax.spines["right"].set_position(("axes", 1.0 + 0.12 * (i - 1)))
        if i > 0:
            ax.grid(False)
        df = metric_rows(run, name, analysis)
        c = color_of(name)
        sm = smooth_tensorboard(df[name].to_numpy(dtype=float), smoothing)
        i = thin(sm.size)
        ln, = ax.plot(df["step"].to_numpy()[i], sm[i], color=c, lw=1.6, label=short(name))
        ln.set_gid("metric")
        lines.append(ln)
        ax.set_ylabel(short(name), color=c)
        ax.tick_params(axis="y", colors=c)
    host.set_xlabel("step")
    finish(host, title=f"independent y axes (smoothing {smoothing:g})", legend=False)
    host.legend(lines, [ln.get_label() for ln in lines], loc="upper right", framealpha=0.85)
    return fig

