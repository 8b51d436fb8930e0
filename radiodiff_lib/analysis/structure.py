"""The shape of an analysed run: the rows of the experiment, its progress, the GAN phase, the loss
decomposition and its weights; the boundary record (``Resume``) the launches fill in.

Pure functions of a Run's rows and the values its configs give (``configs.read_configs``); no file
reading, no plotting.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..logs import Run
from ..vocabulary import D_WEIGHT, DISC_FACTOR, G_LOSS, KL_LOSS, NLL_LOSS, TOTAL_LOSS
from .configs import LoggedConfigs


@dataclass
class Resume:
    """One launch boundary (a relaunch): its kind, replayed steps, gap, config changes, the launches it
    sets aside and, for a resume, each metric's continuity across it (``boundaries`` says which kind)."""
    index: int
    segment: int
    step: int
    previous_last_step: int | None
    replayed_steps: int  # logged entries of earlier segments at or after the resume step (now superseded)
    replayed_range: tuple[int, int] | None
    gap_seconds: float | None
    file: str | None
    continuity: dict[str, str] = field(default_factory=dict)
    evidence: dict[str, dict[str, Any]] = field(default_factory=dict)
    kind: str = "resume"  # "resume" | "restart" | "crash-and-relaunch"
    config_changes: list[dict] = field(default_factory=list)  # {key, before, after, aspect}
    configs_logged: bool = True  # False: no config per launch, the kind comes from the steps alone
    jump_test: str | None = None  # why the continuity test did not run (None: it ran)
    set_aside: list[dict] = field(default_factory=list)  # launches this boundary sets aside
    level_change: dict | None = None  # main loss of the launch before vs this one (restart, relaunch)
    checkpoint: str | None = None  # the checkpoint a resume starts from, by RadioDiff's naming


def experiment_rows(run: Run, first_segment: int | None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The rows of the analysed experiment (the segments from the last restart on) by step, then segment, and
    the reader's logged-mask in the same order (None if not aligned)."""
    df, logged = sorted_with_mask(run.df, run.logged)
    if first_segment is None or "segment" not in df.columns:
        return df, logged
    keep = (df["segment"] >= first_segment).to_numpy()
    return (df[keep].reset_index(drop=True),
            logged[keep].reset_index(drop=True) if logged is not None else None)


def sorted_with_mask(df: pd.DataFrame, logged: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Rows by step (then segment) and the reader's logged-mask in the same order (None if not aligned)."""
    if df.empty or "step" not in df.columns:
        return df.reset_index(drop=True), None
    keys = [df[k].to_numpy() for k in ("segment", "step") if k in df.columns]
    pos = np.lexsort(keys)  # last key is primary: step, then segment
    out = df.iloc[pos].reset_index(drop=True)
    if isinstance(logged, pd.DataFrame) and len(logged) == len(df):
        return out, logged.iloc[pos].reset_index(drop=True)
    return out, None


@dataclass
class Progress:
    """How far the run is: its steps, the share of train_num_steps done and the time left at its speed."""

    entries: int  # logged steps analysed, each once
    first_step: int | None
    latest_step: int | None
    progress: float | None  # latest_step / total_steps, clipped to [0, 1]
    time_left: float | None  # seconds to total_steps at steps_per_hour
    log_interval: int | None  # median steps between logged entries


def progress(df: pd.DataFrame, total: int | None, steps_per_hour: float | None) -> Progress:
    """The progress of the analysed rows towards ``total`` steps at ``steps_per_hour``."""
    first = int(df["step"].min()) if len(df) else None
    latest = int(df["step"].max()) if len(df) else None
    done = clip01(latest / total) if total and latest is not None else None
    left = (max(total - latest, 0) / steps_per_hour * 3600.0) if (steps_per_hour and total and latest is not None) \
        else None
    steps = np.unique(df["step"].to_numpy()) if len(df) else np.empty(0)
    interval = int(np.median(np.diff(steps))) if steps.size > 1 else None
    return Progress(int(df["step"].nunique()) if len(df) else 0, first, latest, done, left, interval)


def clip01(x: float) -> float:
    """x clipped to [0, 1]."""
    return float(min(1.0, max(0.0, x)))


def gan_boundary(disc_start: int | None, disc_first: int | None) -> int | None:
    """The step where the GAN phase begins: disc_start from the config, else the first disc_factor > 0."""
    return disc_start if disc_start is not None else disc_first


def gan_mask(df: pd.DataFrame, boundary: int | None) -> np.ndarray:
    """Rows in the GAN phase (step >= boundary; disc_factor > 0 when the boundary is unknown)."""
    if boundary is not None:
        return (df["step"] >= boundary).to_numpy()
    if DISC_FACTOR in df.columns:
        return (df[DISC_FACTOR].to_numpy(dtype=float) > 0)
    return np.zeros(len(df), dtype=bool)


def first_disc_step(df: pd.DataFrame) -> int | None:
    """First logged step with disc_factor > 0, or None."""
    if DISC_FACTOR not in df.columns:
        return None
    hit = df.loc[df[DISC_FACTOR].to_numpy(dtype=float) > 0, "step"]
    return int(hit.min()) if len(hit) else None


def gan_rows(df: pd.DataFrame, boundary: int | None) -> np.ndarray | None:
    """The rows of the GAN phase (``gan_mask``), None when the log cannot tell the phases apart (no disc_start
    and no disc_factor logged)."""
    if boundary is None and DISC_FACTOR not in df.columns:
        return None
    return gan_mask(df, boundary)


def gan_progress(disc_start: int | None, total: int | None, latest: int | None) -> float | None:
    """(latest - disc_start) / (total - disc_start), clipped to [0, 1], or None."""
    if disc_start is None or not total or latest is None or total <= disc_start:
        return None
    return clip01((latest - disc_start) / (total - disc_start))


def loss_weights(th: Any, configs: LoggedConfigs, df: pd.DataFrame) -> tuple[float | None, str | None, float | None]:
    """(kl_weight, where it comes from, disc_weight) of a first-stage run: the parameter, else the config, else the
    loss's own default when the config has a lossconfig; kl_weight last estimated from the log."""
    disc_weight = th.disc_weight if th.disc_weight is not None else configs.disc_weight
    if disc_weight is None and configs.has_lossconfig:
        disc_weight = 1.0  # the loss's own default (LPIPSWithDiscriminator) when the config omits it
    if th.kl_weight is not None:
        return th.kl_weight, "parameter", disc_weight
    if configs.kl_weight is not None:
        return configs.kl_weight, "config", disc_weight
    if configs.has_lossconfig:
        return 1.0, "config default", disc_weight  # LPIPSWithDiscriminator's default kl_weight
    est = estimate_kl_weight(df)
    found = est is not None and np.isfinite(est)
    return (est if found else None), ("estimated from the log" if found else None), disc_weight


def decomposition(df: pd.DataFrame, kl_weight: float | None, disc_start: int | None) -> pd.DataFrame:
    """total = nll_loss + kl_weight*kl_loss + d_weight*disc_factor*g_loss, and the residual vs the log.

    Where d_weight/g_loss are not logged (our trainer omits them while disc_factor is 0) the GAN
    term is 0 if disc_factor is 0 (or the step is before disc_start), else unknown (NaN).
    """
    def col(name: str) -> np.ndarray:
        return df[name].to_numpy(dtype=float) if name in df.columns else np.full(len(df), np.nan)

    nll, kl, total = col(NLL_LOSS), col(KL_LOSS), col(TOTAL_LOSS)
    dw, g = col(D_WEIGHT), col(G_LOSS)
    fac = col(DISC_FACTOR)
    steps = df["step"].to_numpy() if "step" in df.columns else np.arange(len(df))
    if disc_start is not None:
        fac = np.where(np.isnan(fac) & (steps < disc_start), 0.0, fac)
    with np.errstate(invalid="ignore"):
        gan = dw * fac * g
    gan = np.where(fac == 0, 0.0, gan)  # 0 * anything finite-or-missing is 0 when the factor is off
    kl_term = kl * (kl_weight if kl_weight is not None else np.nan)
    recon = nll + kl_term + gan
    return pd.DataFrame({"step": steps, "nll_loss": nll, "kl_term": kl_term, "gan_term": gan,
                         "reconstructed_total": recon, "logged_total": total, "residual": total - recon})


def estimate_kl_weight(df: pd.DataFrame) -> float | None:
    """Least-squares kl_weight from (total - nll - gan) = w * kl when the config does not give it."""
    if not {KL_LOSS, NLL_LOSS, TOTAL_LOSS} <= set(df.columns):
        return None
    d = decomposition(df, 0.0, None)
    kl = df[KL_LOSS].to_numpy(dtype=float)
    y = (d["logged_total"] - d["nll_loss"] - d["gan_term"]).to_numpy()
    ok = np.isfinite(kl) & np.isfinite(y)
    if ok.sum() < 1 or not np.any(kl[ok] != 0):
        return None
    return float(np.dot(kl[ok], y[ok]) / np.dot(kl[ok], kl[ok]))
