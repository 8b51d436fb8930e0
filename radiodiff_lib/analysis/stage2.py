"""What the analysis says about a second-stage run (``train_cond_ldm.py``, reference section 8).

No GAN phase and no loss decomposition. Its settings: the first-stage checkpoint, the latent scale
and the EMA start (``ema_update_after_step``). The latent scale is read as RadioDiff's
``ddm_const_sde.py`` applies it: ``training_step`` squashes the latents with softsign when
``scale_by_softsign``, else multiplies them by ``scale_factor`` when ``scale_by_std``, else uses them
as they are; ``on_train_batch_start`` (step 0 of a fresh launch only) leaves ``scale_factor`` as
written when ``default_scale`` is true, else asserts it is 1 and sets it to 1 / std of the first
batch's latents (``default_scale`` absent counts as false, as ``model_cfg.get('default_scale',
False)`` reads it). Its diagnostics, each a rule on the data (thresholds in ``thresholds.Thresholds``):
- nonfinite_loss: a loss logged nan/inf; the first step, and whether it follows a resume (the first
  bad row is in a launch that resumed from a step above 0: how many steps after its start);
  critical when the latest loss is non-finite, else warning.
- loss_plateau (warning): the median of the main loss over the last ``plateau_fraction`` of the
  logged steps is within ``plateau_rel_change`` of the median over the same span before it.
- lr_at_floor (info): the last ``min_points`` or more LR entries equal the run's smallest LR
  (rtol 1e-6), which is below the first logged LR: the schedule has reached its floor.
- zero_term (info): a loss logged as exactly 0 in every entry (at least ``min_points``).
- loss_spike (warning) and resume_discontinuity (warning) as for the first stage, on these losses
  (``diagnostics``: ``analyze`` asks for them on ``LDM_LOSSES`` and ``LDM_CONTINUITY``).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..vocabulary import LDM_TOTAL_LOSS, LOSS_SIMPLE, LOSS_VLB, LR, STAGE_LDM
from .configs import LoggedConfigs
from .diagnostics import Diagnostic
from .stats import MetricStats, main_loss, with_entries
from .structure import Resume
from .thresholds import Thresholds

LDM_LOSSES = (LOSS_SIMPLE, LDM_TOTAL_LOSS, LOSS_VLB)
LDM_CONTINUITY = (LOSS_SIMPLE, LDM_TOTAL_LOSS)  # the losses whose jump at a resume is a finding
ZERO_MEANING = {
    LOSS_VLB: "the variational-bound term is weighted off, so total_loss is loss_simple alone; the 0 says "
              "nothing about the model",
    LOSS_SIMPLE: "the denoising loss is not computed (or not logged): the network learns nothing from it",
    LDM_TOTAL_LOSS: "the objective is 0: nothing is being optimised, or the loss is not logged",
}


def settings(configs: LoggedConfigs, first_stage_milestone: int | None) -> dict[str, Any]:
    """The second stage's settings the report names: first-stage checkpoint (and its milestone,
    ``provenance.checkpoint_milestone``), latent scale, EMA."""
    keys = configs.stage2
    return {"first_stage_ckpt": keys["first_stage_ckpt"], "first_stage_milestone": first_stage_milestone,
            "finetune_ckpt": keys["finetune_ckpt"], "scale_factor": configs.scale_factor,
            "scale_by_std": keys["scale_by_std"], "default_scale": keys["default_scale"],
            "scale_by_softsign": keys["scale_by_softsign"], "scale": latent_scale(configs.scale_factor, keys),
            "ema_start": int(configs.ema_start) if configs.ema_start is not None else None,
            "ema_every": keys["ema_every"]}


def latent_scale(written: float | None, flags: dict[str, Any]) -> dict[str, Any]:
    """How RadioDiff's ddm_const_sde.py scales the latents with this scale_factor and these flags
    (scale_by_softsign, scale_by_std, default_scale; module docstring of ``stage2``: training_step and
    on_train_batch_start): mode, the factor it uses, and in words. A flag is on only when it is True (absent,
    None or False: off), as RadioDiff tests it."""
    w = f"{written:g}" if written is not None else "not in the config"
    if flags.get("scale_by_softsign") is True:
        return {"mode": "softsign", "factor": None, "written": written, "measured": False,
                "words": f"the latents go through softsign (scale_by_softsign); scale_factor ({w}) is not used"}
    if flags.get("scale_by_std") is not True:
        return {"mode": "unscaled", "factor": None, "written": written, "measured": False,
                "words": f"scale_by_std is off: the latents are used unscaled and scale_factor ({w}) is not applied"}
    if flags.get("default_scale") is True:
        return {"mode": "as written", "factor": written, "written": written, "measured": False,
                "words": f"scale_factor {w} is used as written and never measured (scale_by_std with default_scale)"}
    words = ("scale_factor is measured at step 0 of a fresh launch as 1 / std of the first batch's latents alone "
             "(scale_by_std without default_scale; the value is printed, not logged), and a resumed launch "
             "takes the one stored in its checkpoint")
    if written is not None and written != 1:
        words += f"; RadioDiff asserts scale_factor == 1 first, so the written {w} stops a fresh launch"
    return {"mode": "measured from the first batch", "factor": None, "written": written, "measured": True,
            "words": words}


def ldm_diagnostics(df: pd.DataFrame, metrics: dict[str, MetricStats], resumes: list[Resume],
                    configs: LoggedConfigs, th: Thresholds) -> list[Diagnostic]:
    """The second stage's own diagnostics for a step-sorted DataFrame of current rows (spikes and jumps at a
    resume are the first stage's rules: ``diagnostics``)."""
    return (_nonfinite(df, metrics, resumes) + _plateau(df, metrics, th) + _lr_floor(df, configs, th)
            + _zero_terms(metrics, th))


def _nonfinite(df: pd.DataFrame, metrics: dict[str, MetricStats], resumes: list[Resume]) -> list[Diagnostic]:
    bad = {k: metrics[k] for k in LDM_LOSSES if k in metrics and metrics[k].nonfinite}
    if not bad:
        return []
    first = min(m.first_nonfinite_step for m in bad.values())
    seg = int(df.loc[df["step"] == first, "segment"].iloc[0]) if "segment" in df.columns else None
    resume = next((r for r in resumes if r.segment == seg and r.step > 0), None)
    latest_bad = [k for k, m in bad.items() if m.latest is not None and not np.isfinite(m.latest)]
    listing = ", ".join(f"{k} ({m.nonfinite} entries, first at step {m.first_nonfinite_step})" for k, m in bad.items())
    msg = f"Non-finite loss values (nan/inf) were logged: {listing}; the first at step {first}"
    after = None
    if resume is not None:
        after = {"resume_step": resume.step, "steps_after": first - resume.step, "file": resume.file}
        msg += f", {first - resume.step} steps after the resume at step {resume.step}"
    else:
        msg += ", not after a resume"
    msg += "." + (f" The latest {', '.join(latest_bad)} is non-finite: training has diverged." if latest_bad else "")
    return [Diagnostic("nonfinite_loss", "critical" if latest_bad else "warning", msg,
                       {"first_step": first, "counts": {k: m.nonfinite for k, m in bad.items()},
                        "after_resume": after, "latest_nonfinite": latest_bad})]


def _plateau(df: pd.DataFrame, metrics: dict[str, MetricStats], th: Thresholds) -> list[Diagnostic]:
    name = main_loss(STAGE_LDM, with_entries(metrics))
    if name is None:
        return []
    rows = df[np.isfinite(df[name].to_numpy(dtype=float))]
    if rows.empty:
        return []
    lo, hi = int(rows["step"].min()), int(rows["step"].max())
    span = (hi - lo) * th.plateau_fraction
    last = rows[rows["step"] > hi - span][name].to_numpy(dtype=float)
    before = rows[(rows["step"] > hi - 2 * span) & (rows["step"] <= hi - span)][name].to_numpy(dtype=float)
    if min(last.size, before.size) < th.min_points:
        return []
    m_last, m_before = float(np.median(last)), float(np.median(before))
    rel = abs(m_last - m_before) / abs(m_before) if m_before else float("inf")
    if rel >= th.plateau_rel_change:
        return []
    return [Diagnostic("loss_plateau", "warning",
                       f"{name} has stopped falling: its median over the last {span:,.0f} steps ({m_last:.5g}) is "
                       f"within {rel:.2%} of its median over the {span:,.0f} steps before ({m_before:.5g}).",
                       {"metric": name, "median_last": m_last, "median_before": m_before, "relative_change": rel,
                        "span_steps": span, "entries": [int(before.size), int(last.size)]})]


def _lr_floor(df: pd.DataFrame, configs: LoggedConfigs, th: Thresholds) -> list[Diagnostic]:
    if LR not in df.columns:
        return []
    ok = np.isfinite(df[LR].to_numpy(dtype=float))
    lr, steps = df[LR].to_numpy(dtype=float)[ok], df["step"].to_numpy()[ok]
    if lr.size < th.min_points:
        return []
    floor = float(lr.min())
    at = np.isclose(lr, floor, rtol=1e-6, atol=0.0)
    tail = lr.size - (np.flatnonzero(~at)[-1] + 1) if (~at).any() else lr.size
    if floor <= 0 or tail < th.min_points or not lr[0] > floor * (1 + 1e-3):
        return []
    since = int(steps[lr.size - tail])
    base, min_lr = configs.run.lr, configs.run.min_lr
    cfg = f" (config lr {base:g}, min_lr {min_lr:g})" if base is not None and min_lr is not None else ""
    return [Diagnostic("lr_at_floor", "info",
                       f"The LR has been at its floor {floor:.6g} since step {since} ({tail} entries){cfg}.",
                       {"floor": floor, "since_step": since, "entries": int(tail), "first_lr": float(lr[0]),
                        "config_lr": base, "config_min_lr": min_lr})]


def _zero_terms(metrics: dict[str, MetricStats], th: Thresholds) -> list[Diagnostic]:
    out = []
    for k in LDM_LOSSES:
        m = metrics.get(k)
        if m is None or m.count < th.min_points or m.nonfinite or m.min != 0.0 or m.max != 0.0:
            continue
        out.append(Diagnostic("zero_term", "info", f"{k} is exactly 0 in all {m.count} entries: {ZERO_MEANING[k]}.",
                              {"metric": k, "entries": m.count}))
    return out
