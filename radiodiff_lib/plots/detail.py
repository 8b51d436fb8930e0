"""Detail figures: total-loss decomposition, zoom on a resume point, discriminator and adaptive weight."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..analysis import smooth_tensorboard
from ..errors import AnalysisError
from ..formatting import duration
from ..vocabulary import (
    D_WEIGHT, DISC_FACTOR, DISC_LOSS, G_LOSS, KL_LOSS, LDM_TOTAL_LOSS, LOGITS_FAKE, LOGITS_REAL, LOSS_SIMPLE, LR,
    NLL_LOSS, REC_LOSS, TOTAL_LOSS,
)
from .style import (
    NOT_SMOOTHED, RESTART_COLOR, RESUME_COLOR, SUPERSEDED_COLOR, color_of, experiment_rows, finish,
    mark_phases_and_resumes, metric_rows, new_figure, set_value_scale, short, styled, suptitle, thin,
)

ZOOM_DEFAULT = (REC_LOSS, TOTAL_LOSS, NLL_LOSS, KL_LOSS, G_LOSS, D_WEIGHT, LOSS_SIMPLE, LDM_TOTAL_LOSS, LR)
DECOMP_TERMS = (("nll_loss", "nll_loss"), ("kl_term", "kl_weight x kl_loss"),
                ("gan_term", "d_weight x disc_factor x g_loss"), ("logged_total", "logged total_loss"))


@styled
def decomposition_figure(run: Any, analysis: Any, smoothing: float = 0.0):
    """Total loss taken apart (top, symlog when negative) and the residual against the logged total (bottom)."""
    d = analysis.decomposition
    if d is None or len(d) == 0 or d["logged_total"].isna().all():
        raise AnalysisError("no total_loss logged: there is nothing to decompose")
    fig, axes = new_figure(2, 1, width=9.5, height=6.2, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top, bottom = axes[0, 0], axes[1, 0]
    steps = d["step"].to_numpy()
    drawn = []
    for col, label in DECOMP_TERMS:
        y = d[col].to_numpy(dtype=float)
        if not np.isfinite(y).any():
            continue
        i = thin(y.size, y)
        ln, = top.plot(steps[i], (smooth_tensorboard(y, smoothing) if smoothing else y)[i], color=color_of(col),
                       lw=2.2 if col == "logged_total" else 1.4, label=label,
                       alpha=0.9 if col == "logged_total" else 1.0)
        ln.set_gid(col)
        drawn.append(y)
    rec = d["reconstructed_total"].to_numpy(dtype=float)
    i = thin(rec.size, rec)
    ln, = top.plot(steps[i], (smooth_tensorboard(rec, smoothing) if smoothing else rec)[i], color="black", lw=1.0,
                   ls="--", label="sum of the terms")
    ln.set_gid("reconstructed_total")
    top.axhline(0.0, color="0.2", lw=0.8)
    set_value_scale(top, np.concatenate(drawn + [rec]), log_scale=bool(np.nanmin(np.concatenate(drawn)) < 0))
    mark_phases_and_resumes(top, d, analysis, labels=True)
    src = f"kl_weight {analysis.kl_weight:g} ({analysis.kl_weight_source})" if analysis.kl_weight is not None \
        else "kl_weight unknown"
    finish(top, title=f"total_loss = nll_loss + kl_weight x kl_loss + d_weight x disc_factor x g_loss; {src}",
           ylabel="loss term")
    r = d["residual"].to_numpy(dtype=float)
    i = thin(r.size, r)
    res, = bottom.plot(steps[i], r[i], color="0.3", lw=1.0, label="residual")
    res.set_gid("residual")
    bottom.axhline(0.0, color="0.2", lw=0.8)
    mark_phases_and_resumes(bottom, d, analysis, labels=False)
    finish(bottom, ylabel="logged - sum", xlabel="step", legend=False)
    return fig


def _zoom_span(run: Any, r: Any) -> tuple[int, int]:
    steps = np.sort(run.df["step"].unique())
    interval = int(np.median(np.diff(steps))) if steps.size > 1 else 1
    lo_pad = 25 * interval
    hi = max(r.step, r.replayed_range[1] if r.replayed_range else r.step) + 25 * interval
    return r.step - lo_pad, hi


@styled
def resume_zoom_figure(run: Any, analysis: Any, resume_index: int, metrics: Sequence[str] | None = None,
                       step_range: tuple[int, int] | None = None):
    """Around one launch boundary: current rows coloured by segment, the superseded rows in grey (replayed by
    a resume, or set aside by a restart or a relaunch)."""
    if not analysis.resumes:
        raise AnalysisError("this run has no resume (one segment only): there is nothing to zoom on")
    if not -len(analysis.resumes) <= resume_index < len(analysis.resumes):
        raise AnalysisError(f"resume_index {resume_index} out of range: the run has {len(analysis.resumes)} "
                            f"resume(s), indices 0..{len(analysis.resumes) - 1}")
    r = analysis.resumes[resume_index]
    resume = r.kind == "resume"
    logged = r.continuity if resume else {m: None for m in ZOOM_DEFAULT if m in run.df.columns}
    names = list(metrics) if metrics is not None else [m for m in ZOOM_DEFAULT if m in logged][:4]
    if not names:
        raise AnalysisError(f"no metric logged on both sides of the resume at step {r.step}")
    lo, hi = step_range if step_range is not None else _zoom_span(run, r)
    fig, axes = new_figure(len(names), 1, width=9.0, height=2.6 * len(names) + 0.4, sharex=True)
    sup = run.superseded
    for k, (ax, name) in enumerate(zip(axes[:, 0], names)):
        cur = metric_rows(run, name, analysis if resume else None)
        cur = cur[(cur["step"] >= lo) & (cur["step"] <= hi)]
        mark_phases_and_resumes(ax, cur, analysis, labels=(k == 0), resumes=False)
        for seg, g in cur.groupby("segment"):
            ln, = ax.plot(g["step"], g[name], marker="o", ms=3, lw=1.1, color=color_of(name),
                          alpha=1.0 if seg == r.segment else 0.55, label=f"segment {seg}")
            ln.set_gid("current")
        if sup is not None and len(sup) and name in sup.columns:
            s = sup[(sup["step"] >= lo) & (sup["step"] <= hi) & sup[name].notna()]
            if len(s):
                ln, = ax.plot(s["step"], s[name], ls="none", marker="x", ms=5, color=SUPERSEDED_COLOR,
                              label="superseded (replayed)" if resume else "set aside")
                ln.set_gid("superseded")
        ln = ax.axvline(r.step, color=RESUME_COLOR if resume else RESTART_COLOR, ls=":" if resume else "--", lw=1.2,
                        label=f"{r.kind} at {r.step}")
        ln.set_gid("resume" if resume else "restart")
        if resume:
            ev = r.evidence.get(name, {})
            verdict = r.continuity.get(name, "not compared")
            z, rel = ev.get("shift_sigma"), ev.get("relative_shift")
            extra = f", shift {z:+.2g} sigma" if z is not None and np.isfinite(z) else ""
            extra += f" ({rel:+.2%} of the level)" if rel is not None else ""
        else:
            verdict, extra = "no jump test", f" ({r.kind})"
        finish(ax, title=f"{short(name)}: {verdict}{extra}", ylabel=short(name), legend=(k == 0))
    gap = f", gap {duration(r.gap_seconds)}" if r.gap_seconds is not None else ""
    what = (f"{r.replayed_steps} logged step(s) replayed" if resume else
            f"{sum(x['entries'] for x in r.set_aside)} entries of earlier launch(es) set aside")
    suptitle(fig, f"{r.kind} {resume_index} at step {r.step}: {what}{gap}")
    axes[-1, 0].set_xlabel("step")
    return fig


@styled
def discriminator_figure(run: Any, analysis: Any, smoothing: float = 0.6):
    """disc_loss, logits_real/fake, d_weight (with its clamp) and disc_factor, phases shaded."""
    fig, axes = new_figure(2, 2, width=11.0, height=6.5, sharex=True)
    df = experiment_rows(run, analysis)
    panels = ((axes[0, 0], (DISC_LOSS,), "discriminator loss"),
              (axes[0, 1], (LOGITS_REAL, LOGITS_FAKE), "discriminator logits (mean D)"),
              (axes[1, 0], (D_WEIGHT,), "adaptive weight d_weight"),
              (axes[1, 1], (DISC_FACTOR,), "disc_factor"))
    for ax, names, title in panels:
        drawn = False
        for name in names:
            if name not in df.columns or df[name].notna().sum() == 0:
                continue
            g = metric_rows(run, name, analysis)
            y, x = g[name].to_numpy(dtype=float), g["step"].to_numpy()
            i = thin(y.size, y)
            ln, = ax.plot(x[i], y[i], color=color_of(name), alpha=0.3, lw=0.9)
            ln.set_gid("raw")
            w = 0.0 if name in NOT_SMOOTHED else smoothing  # a 0 -> 1 switch must stay a switch
            i = thin(y.size, y) if w == 0 else thin(y.size)
            ln, = ax.plot(x[i], smooth_tensorboard(y, w)[i], color=color_of(name), lw=1.6, label=short(name))
            ln.set_gid("smoothed")
            drawn = True
        if names == (D_WEIGHT,) and drawn and analysis.disc_weight is not None:
            ln = ax.axhline(1e4 * analysis.disc_weight, color="crimson", ls="--", lw=1.0,
                            label=f"clamp 1e4 x disc_weight = {1e4 * analysis.disc_weight:g}")
            ln.set_gid("clamp")
        if not drawn:
            diag = analysis.diagnostic("discriminator_not_trained") if names[0] == DISC_LOSS else None
            note = f"{', '.join(map(short, names))} never logged"
            if diag is not None:
                note += "\nthe discriminator was not trained"
            ax.text(0.5, 0.5, note, ha="center", va="center", transform=ax.transAxes, fontsize=11, color="crimson")
        mark_phases_and_resumes(ax, df, analysis, labels=(ax is axes[0, 1]))
        finish(ax, title=title)
    for ax in axes[1]:
        ax.set_xlabel("step")
    return fig
