"""Continuity across a resume: is the first stretch after a relaunch where the curve before predicts it?

``continuity`` is a pure function of two short series (the entries before and after a resume step);
``check_continuity`` applies it to every metric at every resume.
"""
from __future__ import annotations

from typing import Any

import numpy as np

import pandas as pd

from ..vocabulary import D_WEIGHT, DISC_FACTOR, DISC_LOSS, G_LOSS, LOGITS_FAKE, LOGITS_REAL, TOTAL_LOSS
from .stats import point_noise
from .structure import Resume


def _extrapolation(bs: np.ndarray, bv: np.ndarray, as_: np.ndarray, m: int) -> np.ndarray:
    """Prediction of the entries after a resume from the entries before, using local data only.

    A noiseless series (a schedule such as the LR: a quadratic through its last 3m entries fits to
    1e-6 of the level) follows that quadratic. Any other series is extrapolated from two blocks of
    m entries: the median of the last block plus the drift per step between the medians of the
    last two blocks (no drift when there is one block). Block medians ignore noise and outliers,
    and a local drift follows a curving loss without the overshoot of a fit over a long window."""
    tail_s, tail_v = bs[-3 * m:], bv[-3 * m:]
    level = float(np.median(np.abs(tail_v))) or 1.0
    if tail_v.size >= 4 and np.ptp(tail_s) > 0:
        centre, scale = float(tail_s[-1]), float(np.ptp(tail_s))
        coef = np.polyfit((tail_s - centre) / scale, tail_v, 2)
        resid = tail_v - np.polyval(coef, (tail_s - centre) / scale)
        if float(np.max(np.abs(resid))) <= 1e-6 * level:
            return np.polyval(coef, (as_ - centre) / scale)
    b2s, b2v = bs[-m:], bv[-m:]
    c2, v2 = float(np.median(b2s)), float(np.median(b2v))
    drift = 0.0
    if bv.size >= 2 * m:
        b1s, b1v = bs[-2 * m:-m], bv[-2 * m:-m]
        c1 = float(np.median(b1s))
        if c2 > c1:
            drift = (v2 - float(np.median(b1v))) / (c2 - c1)
    return v2 + drift * (as_ - c2)


MIN_BACKTESTS = 3  # positions before a resume where the extrapolation is tested against what was logged


def backtest_errors(bs: np.ndarray, bv: np.ndarray, m: int, k: int) -> np.ndarray:
    """Error of the extrapolation at the last 2m positions j before the resume that have two blocks
    of m entries before them: median(logged - predicted) over the k entries from j, as at the
    resume (the nearest positions: a loss curves less there than early in a long window)."""
    last = bv.size - k
    return np.array([float(np.median(bv[j:j + k] - _extrapolation(bs[:j], bv[:j], bs[j:j + k], m)))
                     for j in range(max(2 * m, last - 2 * m + 1), last + 1)])


def entries_needed(after_points: int, n_after: int, min_points: int = 5) -> int:
    """Entries before a resume a verdict needs: two blocks of after_points to extrapolate with a
    drift, then MIN_BACKTESTS positions to measure how well that extrapolation predicts k entries."""
    k = max(1, min(after_points, n_after))
    return max(min_points, 2 * after_points + k + MIN_BACKTESTS - 1)


def continuity(before_steps: np.ndarray, before: np.ndarray, after_steps: np.ndarray, after: np.ndarray,
               *, jump_sigma: float, min_rel: float = 0.0, min_points: int = 5,
               after_points: int = 5) -> dict[str, Any]:
    """Shift across a resume in units of the error with which the curve before predicts it.

    The entries before are extrapolated locally to the first k = min(after_points, entries after)
    entries after the resume (``_extrapolation``), so a curving loss or a decaying LR is followed
    rather than called a jump. The shift is median(after - prediction). Its yardstick is measured,
    not assumed: the same extrapolation is back-tested at every position of the window before that
    has two blocks before it, and the root mean square of those errors (trend, curvature and noise
    of this very series) is combined with the point-to-point noise (``point_noise``). Too few
    entries before to extrapolate with a drift and back-test it at MIN_BACKTESTS positions is
    "insufficient data": a short or smooth segment's second differences alone say nothing about
    how far its trend carries (an exact resume of a 12-step run was called a +57 sigma jump). A
    "jump" needs |shift| > jump_sigma x noise and also > min_rel x |median before|, so that an
    almost noiseless curve (5-decimal prints) is not called discontinuous for a hair.
    """
    b_ok, a_ok = np.isfinite(before), np.isfinite(after)
    bs, bv, as_, av = before_steps[b_ok], before[b_ok], after_steps[a_ok], after[a_ok]
    m = after_points
    as_, av = as_[:m], av[:m]
    need = entries_needed(m, av.size, min_points)
    if bv.size < need or av.size < 1:
        return {"verdict": "insufficient data", "shift": None, "noise": None, "shift_sigma": None,
                "n_before": int(bv.size), "n_after": int(av.size), "needed_before": need}
    pred_a = _extrapolation(bs, bv, as_, m)
    errors = backtest_errors(bs, bv, m, av.size)
    backtest = float(np.sqrt(np.mean(errors ** 2)))
    noise = float(np.hypot(point_noise(bv), backtest))
    shift = float(np.median(av - pred_a))
    level = float(abs(np.median(bv)))
    if abs(shift) <= 1e-9 * level:  # floating-point residue of an exactly followed curve
        shift = 0.0
    if noise > 0:
        z = shift / noise
    else:  # noiseless and exactly predicted (e.g. frozen logvar): any change at all is a jump
        z = 0.0 if shift == 0 else float("inf") * np.sign(shift)
    rel = shift / level if level > 0 else None
    big = abs(shift) > min_rel * level
    verdict = "jump" if abs(z) > jump_sigma and big else "continuous"
    return {"verdict": verdict, "shift": shift, "noise": noise, "shift_sigma": float(z), "relative_shift": rel,
            "extrapolation_error": backtest, "backtests": int(errors.size), "n_before": int(bv.size),
            "n_after": int(av.size)}


# Metrics that change by design when the GAN phase begins (the term switches on, D starts learning).
PHASE_SWITCHED = (TOTAL_LOSS, DISC_FACTOR, DISC_LOSS, D_WEIGHT, G_LOSS,
                  LOGITS_REAL, LOGITS_FAKE)


def check_continuity(boundaries: list[Resume], rows: pd.DataFrame, df: pd.DataFrame, metrics: list[str], *, window: int,
                     jump_sigma: float, min_rel: float = 0.0, boundary: int | None = None,
                     after_points: int = 5) -> None:
    """Fill in each resume's continuity per metric (restarts and relaunches have none: ``jump_test`` says why).

    For the metrics in PHASE_SWITCHED the windows compared stay inside the phase of the resume
    step: the GAN term switching on at `boundary` is a planned change, not a resume artefact. ``rows`` are the
    run's current and superseded rows (the new segment's first rows as logged), ``df`` the analysed ones.
    """
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
