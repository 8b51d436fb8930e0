"""Run-level structure of the analysis: progress, phases, resumes, loss decomposition.

Pure functions of a Run's fields (df, superseded, segments, config); no file reading, no plotting.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..vocabulary import (
    D_WEIGHT, DISC_FACTOR, DISC_LOSS, G_LOSS, KL_LOSS, LOGITS_FAKE, LOGITS_REAL, NLL_LOSS, PHASE_GAN, PHASE_VAE,
    TOTAL_LOSS,
)
from .continuity import continuity
from .stats import phase_stats


def sorted_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows ordered by step then segment, index reset (the analysis never relies on input order)."""
    if df is None or df.empty:
        return pd.DataFrame(columns=["step", "segment"]) if df is None else df.reset_index(drop=True)
    keys = [k for k in ("step", "segment") if k in df.columns]
    return df.sort_values(keys, kind="stable").reset_index(drop=True)


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


def all_rows(run: Any) -> pd.DataFrame:
    """Current and superseded rows together (each segment as it was logged)."""
    if not len(run.superseded):
        return run.df
    return pd.concat([run.df, run.superseded], ignore_index=True)


def seconds_between(t0: Any, t1: Any) -> float | None:
    """Seconds from t0 to t1, None when either is missing."""
    if t0 is None or t1 is None or pd.isna(t0) or pd.isna(t1):
        return None
    return float((pd.Timestamp(t1) - pd.Timestamp(t0)).total_seconds())


def steps_per_hour(rows: pd.DataFrame) -> tuple[float | None, dict[str, float]]:
    """Speed from timestamps within each segment only (the gaps between launches do not count)."""
    if "time" not in rows.columns or "segment" not in rows.columns or rows.empty:
        return None, {"steps": 0.0, "seconds": 0.0}
    d_steps = d_secs = 0.0
    for _, g in rows.dropna(subset=["time"]).groupby("segment"):
        if len(g) < 2:
            continue
        g = g.sort_values("step")
        secs = seconds_between(g["time"].min(), g["time"].max())
        if secs and secs > 0:
            d_steps += float(g["step"].max() - g["step"].min())
            d_secs += secs
    if d_secs <= 0 or d_steps <= 0:
        return None, {"steps": d_steps, "seconds": d_secs}
    return d_steps / d_secs * 3600.0, {"steps": d_steps, "seconds": d_secs}


@dataclass
class Phase:
    """One training phase: "vae" (disc_factor 0), "gan" (from disc_start), or "all" when unknown."""
    name: str
    first_step: int | None
    last_step: int | None
    entries: int
    stats: dict[str, dict[str, float | None]] = field(default_factory=dict)


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


def phases(df: pd.DataFrame, metrics: list[str], boundary: int | None) -> list[Phase]:
    """Split the current rows at the GAN boundary and take compact statistics per phase."""
    if df.empty:
        return []
    if boundary is None and DISC_FACTOR not in df.columns:
        groups = [("all", df)]
    else:
        m = gan_mask(df, boundary)
        groups = [(PHASE_VAE, df[~m]), (PHASE_GAN, df[m])]
    out = []
    for name, g in groups:
        if g.empty:
            continue
        out.append(Phase(name, int(g["step"].min()), int(g["step"].max()), int(g["step"].nunique()),
                         {k: phase_stats(g, k) for k in metrics}))
    return out


# Metrics that change by design when the GAN phase begins (the term switches on, D starts learning).
PHASE_SWITCHED = (TOTAL_LOSS, DISC_FACTOR, DISC_LOSS, D_WEIGHT, G_LOSS,
                  LOGITS_REAL, LOGITS_FAKE)


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


def check_continuity(boundaries: list[Resume], run: Any, df: pd.DataFrame, metrics: list[str], *, window: int,
                     jump_sigma: float, min_rel: float = 0.0, boundary: int | None = None,
                     after_points: int = 5) -> None:
    """Fill in each resume's continuity per metric (restarts and relaunches have none: ``jump_test`` says why).

    For the metrics in PHASE_SWITCHED the windows compared stay inside the phase of the resume
    step: the GAN term switching on at `boundary` is a planned change, not a resume artefact.
    """
    rows = all_rows(run)
    for r in boundaries:
        if r.kind != "resume":
            continue
        # before: the analysed rows just before the resume step; after: the new segment's first rows
        before_all = df[df["step"] < r.step]
        after_all = rows[rows["segment"] == r.segment].sort_values("step")  # as logged, even if superseded later
        for k in metrics:
            before, after = before_all, after_all
            if boundary is not None and k in PHASE_SWITCHED:
                gan_side = r.step >= boundary
                before = before[(before["step"] >= boundary) == gan_side]
                after = after[(after["step"] >= boundary) == gan_side]
            before, after = before.tail(window), after.head(window)
            if k not in df.columns or k not in after.columns or (before[k].isna().all() and after[k].isna().all()):
                continue
            ev = continuity(before["step"].to_numpy(float), before[k].to_numpy(float),
                            after["step"].to_numpy(float), after[k].to_numpy(float),
                            jump_sigma=jump_sigma, min_rel=min_rel, after_points=after_points)
            r.continuity[k] = ev["verdict"]
            r.evidence[k] = ev
        tested = [v for v in r.continuity.values() if v != "insufficient data"]
        if not tested:
            r.jump_test = _why_untested(r)


def _why_untested(r: Resume) -> str:
    """Why no metric could be tested across a resume, in numbers."""
    ev = [e for e in r.evidence.values() if "needed_before" in e]
    if not ev:
        return "not run: no metric was logged on both sides of the resume"
    e = max(ev, key=lambda e: e["n_before"])
    if e["n_after"] < 1:
        return "not run: no entry after the resume"
    return (f"not run: {e['n_before']} entries before the resume, {e['needed_before']} needed to extrapolate "
            "the curve and measure how well it predicts")


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
