"""The learning rate: as logged, and as RadioDiff computes it where the log lost its digits.

RadioDiff's text logs print the LR with 5 decimals, so 5e-6 prints as 0.00000 or 0.00001 and the
logged curve says nothing below 1e-5. Both of its trainers set the LR with a LambdaLR whose
multiplier is ``max((1 - step / train_num_steps) ** p, min_lr)``: p = 0.95 in ``train_vae.py``, p =
0.96 in ``train_cond_ldm.py`` (its own schedule, read from UNIC-Lab/RadioDiff), ``min_lr`` a floor on
the multiplier, not on the LR. The text line of a step prints the LR before the scheduler steps:
``lr x multiplier(step)``. ``lr_schedule`` reconstructs it per row from the config of that row's
launch and checks it against every printed value (to half of the last printed digit); it is
drawn dashed and named as reconstructed.

Where the LR (full-precision logged, else the reconstruction that agrees with the log) has fallen
below ``lr_decayed_fraction`` of its initial value, a flat loss says the steps have become small,
not that the model converged: ``lr_decayed``, a warning when the main loss is flat or constant
over the last window there, else info.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..logs import Run
from ..vocabulary import KIND_EVENTS, KIND_METRICS, LR, STAGE_LDM, STAGE_VAE
from .configs import LaunchConfig, LoggedConfigs
from .diagnostics import Diagnostic
from .stats import MetricStats, main_loss, with_entries
from .thresholds import Thresholds

EXPONENT = {STAGE_VAE: 0.95, STAGE_LDM: 0.96}
TRAINER = {STAGE_VAE: "train_vae.py", STAGE_LDM: "train_cond_ldm.py"}
PRINTED_DECIMALS = 5
TEXT_SOURCE = "the text log (5 decimals)"
FLAT = ("flat", "constant")


def multiplier(steps: Any, total: float, min_lr: float, exponent: float) -> np.ndarray:
    """RadioDiff's LambdaLR multiplier max((1 - step/total) ** exponent, min_lr) at each step."""
    left = np.clip(1.0 - np.asarray(steps, dtype=float) / total, 0.0, None)
    return np.maximum(left ** exponent, min_lr)


def schedule_of(launch: LaunchConfig, stage: str) -> dict | None:
    """lr, min_lr, train_num_steps and the exponent of a launch's schedule; None when its config lacks one."""
    lr, min_lr, total = launch.lr, launch.min_lr, launch.train_num_steps
    if lr is None or min_lr is None or total is None or lr <= 0 or total <= 0:
        return None
    return {"lr": lr, "min_lr": min_lr, "train_num_steps": int(total), "exponent": EXPONENT[stage]}


def formula(stage: str) -> str:
    """The schedule in words, as the report names it."""
    return f"lr x max((1 - step / train_num_steps) ** {EXPONENT[stage]:g}, min_lr)  ({TRAINER[stage]})"


def lr_source(run: Run) -> str:
    """Where the analysed LR values come from: full-precision events or metrics, else the text log."""
    kinds = {s["kind"] for s in run.source_report if s.get("rows_used")}
    return ("TensorBoard Learning_Rate (full precision)" if KIND_EVENTS in kinds else
            "metrics.jsonl (full precision)" if KIND_METRICS in kinds else TEXT_SOURCE)


def lr_schedule(df: pd.DataFrame, run: Run, stage: str, configs: LoggedConfigs) -> dict[str, Any] | None:
    """The LR as logged (first, latest, smallest, largest, source) and, where the source is the text log,
    its reconstruction from each launch's config (``reconstructed``; None when no config gives it)."""
    if LR not in df.columns:
        return None
    v = df[LR].to_numpy(dtype=float)
    ok = np.isfinite(v)
    if not ok.any():
        return None
    lr, steps = v[ok], df["step"].to_numpy()[ok]
    out = {"first": float(lr[0]), "first_step": int(steps[0]), "latest": float(lr[-1]), "latest_step": int(steps[-1]),
           "min": float(lr.min()), "max": float(lr.max()), "source": lr_source(run), "reconstructed": None}
    if out["source"] == TEXT_SOURCE:
        out["reconstructed"] = reconstruct(df[ok], stage, configs)
    return out


def reconstruct(rows: pd.DataFrame, stage: str, configs: LoggedConfigs) -> dict | None:
    """The schedule of each launch evaluated at its logged steps, checked against the printed LR."""
    launches, pred = [], np.full(len(rows), np.nan)
    segs = rows["segment"].to_numpy() if "segment" in rows.columns else np.zeros(len(rows), int)
    steps = rows["step"].to_numpy()
    for seg in pd.unique(segs):
        params = schedule_of(configs.launch(int(seg)), stage)
        mine = segs == seg
        if params is None:
            return None
        pred[mine] = params["lr"] * multiplier(steps[mine], params["train_num_steps"], params["min_lr"],
                                               params["exponent"])
        launches.append({"segment": int(seg), "from_step": int(steps[mine].min()), "to_step": int(steps[mine].max()),
                         **params})
    diff = np.abs(rows[LR].to_numpy(dtype=float) - pred)
    tol = 0.5 * 10.0 ** -PRINTED_DECIMALS * (1 + 1e-6)
    return {"formula": formula(stage), "trainer": TRAINER[stage], "launches": launches,
            "first": float(pred[0]), "latest": float(pred[-1]), "latest_step": int(steps[-1]),
            "max_abs_difference": float(diff.max()), "agrees_with_log": bool(diff.max() <= tol),
            "tolerance": tol}


def curve(schedule: dict | None, points: int | None = 400) -> tuple[np.ndarray, np.ndarray] | None:
    """(steps, LR) of the reconstructed schedule over each launch's logged range, at ``points`` steps per
    launch (None: every step), for a dashed line."""
    rec = (schedule or {}).get("reconstructed")
    if not rec:
        return None
    xs, ys = [], []
    for la in rec["launches"]:
        s = (np.arange(la["from_step"], la["to_step"] + 1) if points is None
             else np.linspace(la["from_step"], la["to_step"], points))
        xs.append(s)
        ys.append(la["lr"] * multiplier(s, la["train_num_steps"], la["min_lr"], la["exponent"]))
    return np.concatenate(xs), np.concatenate(ys)


def known_lr(schedule: dict | None) -> tuple[str, float, float, int] | None:
    """(where from, initial LR, latest LR, latest step) of the LR the analysis trusts: full-precision
    logged values, else a reconstruction that agrees with the log; None when neither is there."""
    if not schedule:
        return None
    rec = schedule.get("reconstructed")
    if schedule["source"] != TEXT_SOURCE:
        return schedule["source"], schedule["max"], schedule["latest"], schedule["latest_step"]
    if rec and rec["agrees_with_log"]:
        first = rec["launches"][0]["lr"]
        return f"reconstructed from the config ({rec['trainer']})", first, rec["latest"], rec["latest_step"]
    return None


def decayed_since(df: pd.DataFrame, schedule: dict | None, fraction: float) -> int | None:
    """The first step from which the trusted LR stays below ``fraction`` of its initial value, or None."""
    known = known_lr(schedule)
    if known is None or not len(df):
        return None
    _, initial, _, _ = known
    if schedule["source"] != TEXT_SOURCE:
        v = df[LR].to_numpy(dtype=float)
        steps = df["step"].to_numpy()[np.isfinite(v)]
        v = v[np.isfinite(v)]
    else:
        steps, v = curve(schedule, points=None)  # every step: the crossing is exact
    low = v < fraction * initial
    if not low[-1]:
        return None
    above = np.flatnonzero(~low)
    return int(steps[above[-1] + 1]) if above.size else int(steps[0])


def lr_decayed_diagnostics(df: pd.DataFrame, schedule: dict | None, metrics: dict[str, MetricStats], stage: str,
                           th: Thresholds) -> list[Diagnostic]:
    """``lr_decayed``: the LR has fallen below lr_decayed_fraction of its initial value (module rule)."""
    since = decayed_since(df, schedule, th.lr_decayed_fraction)
    if since is None:
        return []
    where, initial, latest, latest_step = known_lr(schedule)
    main = main_loss(stage, with_entries(metrics))
    status = metrics[main].status if main else None
    flat = status in FLAT
    msg = (f"From step {since:,} on the LR is below {th.lr_decayed_fraction:.0%} of its initial {initial:.3g} "
           f"({latest:.3g} at step {latest_step:,}, {where})")
    if flat:
        msg += (f"; {main} is {status} over its last window there: with steps this small a flat loss says the "
                "weights have stopped moving, not that the model converged.")
    else:
        msg += ": from there on the steps are small, so a loss that stops falling says little about convergence."
    return [Diagnostic("lr_decayed", "warning" if flat else "info", msg,
                       {"since_step": since, "fraction": th.lr_decayed_fraction, "initial_lr": initial,
                        "latest_lr": latest, "latest_step": latest_step, "lr_from": where, "main_loss": main,
                        "main_loss_status": status})]
