"""Numeric building blocks of the run analysis: smoothing, robust noise, trend tests, metric status.

Everything here is a pure function of arrays or DataFrames: no file reading, no plotting.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import stdtr  # Student t CDF; scipy.stats would cost seconds of import

from ..errors import AnalysisError
from ..vocabulary import (
    D_WEIGHT, DISC_FACTOR, DISC_LOSS, G_LOSS, KL_LOSS, LDM_TOTAL_LOSS, LOGITS_FAKE, LOGITS_REAL, LOGVAR, LOSS_SIMPLE,
    LR, NLL_LOSS, PHASE_GAN, PHASE_VAE, REC_LOSS, STAGE_LDM, STAGE_VAE, TOTAL_LOSS,
)

# Metrics where a lower value means the model reconstructs better: only these earn
# "improving"/"worsening"; every other metric only "rising"/"falling" (no value judgement),
# because a falling total_loss or d_weight says nothing good by itself.
LOWER_IS_BETTER = (REC_LOSS, NLL_LOSS)

# Groups of metrics written together on one log line: a NaN in a metric counts as a logged
# non-finite value (not as "absent on this row") when another metric of its group is present.
METRIC_GROUPS = (
    (TOTAL_LOSS, LOGVAR, KL_LOSS, NLL_LOSS, REC_LOSS, LR),
    (D_WEIGHT, DISC_FACTOR, G_LOSS),
    (DISC_LOSS, LOGITS_REAL, LOGITS_FAKE),
)

# The loss that matters most for a run of each stage, then the stage's total loss when that one is not logged:
# the key figure, the level a restart is compared on, the loss an LR decay or a plateau is judged on.
MAIN_LOSSES = {STAGE_VAE: (REC_LOSS, TOTAL_LOSS), STAGE_LDM: (LOSS_SIMPLE, LDM_TOTAL_LOSS)}

MAD_TO_STD = 1.4826  # MAD of a normal sample times this estimates its standard deviation


def main_loss(stage: str, logged: Any) -> str | None:
    """The first of the stage's ``MAIN_LOSSES`` among ``logged`` (metric names), or None."""
    return next((k for k in MAIN_LOSSES[stage] if k in logged), None)


def with_entries(metrics: dict[str, "MetricStats"]) -> list[str]:
    """The names of the metrics with at least one logged entry."""
    return [k for k, m in metrics.items() if m.count]


def smooth_tensorboard(values: Any, weight: float) -> np.ndarray:
    """TensorBoard's debiased EMA; non-finite points pass through unchanged and are not counted."""
    w = float(weight)
    if not 0.0 <= w < 1.0:
        raise AnalysisError(f"smoothing weight must be in [0, 1), got {weight!r}: use e.g. 0.6 "
                            f"(1 would freeze the curve at 0)")
    y = np.asarray(values, dtype=float)
    fin = np.isfinite(y)
    if fin.sum() > _LFILTER_FROM:
        # same recursion in C (scipy.signal.lfilter): long TensorBoard series would take seconds in Python
        from scipy.signal import lfilter
        out = y.copy()
        last = lfilter([1.0 - w], [1.0, -w], y[fin])
        out[fin] = last / (1.0 - w ** np.arange(1, last.size + 1))
        return out
    out = np.empty_like(y)
    last, n = 0.0, 0
    for i, v in enumerate(y):
        if not fin[i]:
            out[i] = v  # passed through, does not touch the running average
            continue
        last = last * w + (1.0 - w) * v
        n += 1
        out[i] = last / (1.0 - w ** n)
    return out


_LFILTER_FROM = 5000  # finite points above which smoothing runs in scipy (its import costs ~1 s)


def robust_sigma(x: np.ndarray) -> float:
    """Noise scale of finite values: 1.4826 * MAD, falling back to the std when the MAD is 0."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size < 2:
        return float("nan")
    mad = float(np.median(np.abs(x - np.median(x)))) * MAD_TO_STD
    return mad if mad > 0 else float(np.std(x, ddof=1))


def normalize_minmax(values: Any) -> np.ndarray | None:
    """Scale finite values to [0, 1] by min and max; None when the values are constant or absent."""
    y = np.asarray(values, dtype=float)
    fin = np.isfinite(y)
    if not fin.any():
        return None
    lo, hi = float(y[fin].min()), float(y[fin].max())
    if hi - lo <= 1e-9 * max(abs(hi), abs(lo)):  # constant up to float rounding (e.g. after smoothing)
        return None
    return np.where(fin, (y - lo) / (hi - lo), np.nan)


def rolling_level(values: Any, entries: int) -> np.ndarray:
    """A centred rolling median over ``entries`` entries (fewer at the ends): the level of a noisy curve."""
    y = pd.Series(np.asarray(values, dtype=float))
    return y.rolling(max(1, int(entries)), center=True, min_periods=1).median().to_numpy()


@dataclass
class Trend:
    """Least-squares line over the last window of finite values, and whether its slope beats noise."""
    n: int
    first_step: int
    last_step: int
    slope_per_step: float
    intercept: float
    stderr: float
    t: float
    p_value: float
    significant: bool
    change_over_window: float  # slope * step span: the fitted change across the window
    relative_change: float | None  # change_over_window / |window mean|

    @property
    def slope_per_1k_steps(self) -> float:
        """Slope scaled to 1,000 steps (easier to read than per step)."""
        return self.slope_per_step * 1000.0


def fit_trend(steps: np.ndarray, values: np.ndarray, alpha: float = 0.05) -> Trend | None:
    """Least-squares line of values on steps with a two-sided t-test on the slope (as scipy linregress)."""
    s = np.asarray(steps, dtype=float)
    y = np.asarray(values, dtype=float)
    ok = np.isfinite(s) & np.isfinite(y)
    s, y = s[ok], y[ok]
    if s.size < 3 or np.ptp(s) == 0:
        return None
    if np.ptp(y) == 0:  # a constant series: slope exactly 0, no test needed
        slope, icpt, se, t, p = 0.0, float(y[0]), 0.0, 0.0, 1.0
    else:  # ordinary least squares and the t-test of scipy.stats.linregress (n - 2 degrees of freedom)
        xm, ym = s.mean(), y.mean()
        sxx = float(np.sum((s - xm) ** 2))
        slope = float(np.sum((s - xm) * (y - ym)) / sxx)
        icpt = float(ym - slope * xm)
        dof = s.size - 2
        sse = float(np.sum((y - icpt - slope * s) ** 2))
        se = float(np.sqrt(sse / dof / sxx)) if dof > 0 else float("nan")
        if se > 0:
            t = slope / se
            p = float(2.0 * stdtr(dof, -abs(t)))
        else:  # points exactly on a sloped line
            t, p = float("inf") * np.sign(slope), 0.0
    change = slope * float(s[-1] - s[0])
    mean = float(np.mean(y))
    rel = change / abs(mean) if mean != 0 else None
    return Trend(n=int(s.size), first_step=int(s[0]), last_step=int(s[-1]), slope_per_step=slope,
                 intercept=icpt, stderr=se, t=float(t), p_value=p, significant=bool(p < alpha),
                 change_over_window=change, relative_change=rel)


@dataclass
class MetricStats:
    """Statistics of one metric over the current rows (superseded rows excluded)."""
    name: str
    count: int  # rows where the metric was logged (finite or not)
    nonfinite: int
    first: float | None
    latest: float | None
    first_step: int | None
    latest_step: int | None
    min: float | None
    max: float | None
    change_pct: float | None  # end_level vs start_level, in % of |start_level|
    window_n: int
    window_mean: float | None
    window_std: float | None
    window_sigma: float | None  # robust noise (1.4826 * MAD) over the window
    trend: Trend | None
    status: str
    status_reason: str
    phases: dict[str, dict[str, float | None]] = field(default_factory=dict)
    first_nonfinite_step: int | None = None
    start_level: float | None = None  # median of the first level_n finite entries
    end_level: float | None = None  # median of the last level_n finite entries
    level_n: int = 0  # entries in each of those medians (fewer than asked when the metric has few)


STATUS_RULES = """\
Status of a metric, first rule that applies wins (window = last `window` logged entries):
  not logged        the metric has no logged value
  non-finite        the latest logged value, or any value in the window, is nan/inf
  insufficient data fewer than `min_points` finite values in the window
  constant          every finite value in the window is identical (e.g. a frozen logvar, lr printed as 0)
  unstable          point-to-point noise (1.4826 x MAD of second differences / sqrt 6, blind to a
                    smooth trend) > `unstable_cv` x median |value| of the window
  flat              slope not distinguishable from noise (p >= `alpha`, scipy linregress t-test), or the
                    fitted change over the window is < `flat_rel_change` x |window mean|
  improving/worsening   significant fall/rise of a lower-is-better metric (rec_loss, nll_loss)
  falling/rising        significant fall/rise of any other metric (no value judgement)
"""


def metric_status(name: str, window_vals: np.ndarray, latest: float | None, trend: Trend | None, *,
                  min_points: int, unstable_cv: float, flat_rel_change: float) -> tuple[str, str]:
    """Apply STATUS_RULES; returns (status, the reason in numbers)."""
    if latest is None:
        return "not logged", "no logged value"
    fin = window_vals[np.isfinite(window_vals)]
    if not np.isfinite(latest) or fin.size < window_vals.size:
        return "non-finite", f"{window_vals.size - fin.size} non-finite value(s) in the last {window_vals.size} entries"
    if fin.size < min_points or trend is None:
        return "insufficient data", f"{fin.size} finite value(s) in the window, {min_points} needed"
    if np.ptp(fin) == 0:
        return "constant", f"every value in the window equals {fin[0]:.6g}"
    level = float(np.median(np.abs(fin)))
    # every window value is finite here (the non-finite rule came first)
    scatter = point_noise(fin)
    if level > 0 and scatter > unstable_cv * level:
        return "unstable", f"point-to-point noise {scatter:.3g} > {unstable_cv:g} x median |value| {level:.3g}"
    small = trend.relative_change is not None and abs(trend.relative_change) < flat_rel_change
    if not trend.significant or small:
        why = (f"slope p={trend.p_value:.3g} >= alpha" if not trend.significant
               else f"fitted change {trend.relative_change:+.2%} of the level < {flat_rel_change:.0%}")
        return "flat", why
    down = trend.slope_per_step < 0
    word = ("improving" if down else "worsening") if name in LOWER_IS_BETTER else ("falling" if down else "rising")
    return word, f"slope {trend.slope_per_1k_steps:+.4g} per 1k steps, p={trend.p_value:.3g}"


def logged_mask(df: pd.DataFrame, name: str, logged: pd.DataFrame | None = None) -> np.ndarray:
    """Rows where `name` was logged: the reader's mask when it has one (Run.logged), else a value
    present or a NaN while its line-mates were present (a logged 'nan' rather than 'not on this line')."""
    if logged is not None and name in logged.columns:
        return logged[name].to_numpy(dtype=bool)
    col = df[name].to_numpy(dtype=float)
    present = ~np.isnan(col)
    group = next((g for g in METRIC_GROUPS if name in g), ())
    mates = [c for c in group if c != name and c in df.columns]
    if mates:
        present |= df[mates].notna().any(axis=1).to_numpy() & np.isnan(col) & _seen_before(col)
    return present


def _seen_before(col: np.ndarray) -> np.ndarray:
    """True from the first row where the metric had a value on: a NaN before that is 'not logged yet'."""
    seen = np.cumsum(~np.isnan(col)) > 0
    return seen


def levels(values: np.ndarray, n: int) -> tuple[float | None, float | None, int]:
    """(median of the first k, median of the last k, k) of the finite values, k = min(n, count // 3)
    (at least 1), so that the two windows never share an entry on a short run."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return None, None, 0
    k = max(1, min(n, v.size // 3))
    return float(np.median(v[:k])), float(np.median(v[-k:])), int(k)


def relative_change(start: float | None, end: float | None) -> float | None:
    """(end - start) / |start| in %, None when either is missing or start is 0."""
    if start is None or end is None or start == 0:
        return None
    return (end - start) / abs(start) * 100.0


def metric_stats(df: pd.DataFrame, name: str, *, window: int, alpha: float, min_points: int,
                 unstable_cv: float, flat_rel_change: float, logged: pd.DataFrame | None = None,
                 level_n: int = 10) -> MetricStats:
    """Count, first/latest/min/max, start and end levels and their change, window mean and noise, trend
    and status of one metric of a step-sorted DataFrame (superseded rows are not in it)."""
    if name not in df.columns:
        return _absent(name)
    mask = logged_mask(df, name, logged)
    steps = df["step"].to_numpy()[mask]
    vals = df[name].to_numpy(dtype=float)[mask]
    if vals.size == 0:
        return _absent(name)
    fin = np.isfinite(vals)
    wv, ws = vals[-window:], steps[-window:]
    trend = fit_trend(ws, wv, alpha)
    first, latest = float(vals[0]), float(vals[-1])
    start, end, k = levels(vals, level_n)
    wf = wv[np.isfinite(wv)]
    status, why = metric_status(name, wv, latest, trend, min_points=min_points, unstable_cv=unstable_cv,
                                flat_rel_change=flat_rel_change)
    return MetricStats(
        name=name, count=int(vals.size), nonfinite=int((~fin).sum()), first=first, latest=latest,
        first_step=int(steps[0]), latest_step=int(steps[-1]),
        min=float(vals[fin].min()) if fin.any() else None, max=float(vals[fin].max()) if fin.any() else None,
        change_pct=relative_change(start, end), window_n=int(wv.size),
        window_mean=float(wf.mean()) if wf.size else None,
        window_std=float(wf.std(ddof=1)) if wf.size > 1 else None,
        window_sigma=_none_if_nan(robust_sigma(wf)), trend=trend, status=status, status_reason=why,
        first_nonfinite_step=int(steps[~fin][0]) if (~fin).any() else None,
        start_level=start, end_level=end, level_n=k)


def is_constant(m: MetricStats) -> bool:
    """Every logged value of the metric is the same finite number (a frozen logvar, an LR printed as 0)."""
    return bool(m.count and not m.nonfinite and m.min is not None and m.min == m.max)


def constant_throughout(m: MetricStats, lr_schedule: dict | None) -> bool:
    """The metric has nothing to show but its one value: ``is_constant``, except an LR the log printed as one
    value (0 below 1e-5) that the config reconstructs, whose schedule moves and is drawn.

    The one test of "constant" for the report's tables and figures, so a metric is either a table row or a curve.
    """
    reconstructed = m.name == LR and bool((lr_schedule or {}).get("reconstructed"))
    return is_constant(m) and not reconstructed


def _absent(name: str) -> MetricStats:
    return MetricStats(name, 0, 0, None, None, None, None, None, None, None, 0, None, None, None, None,
                       "not logged", "no logged value")


def _none_if_nan(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def phase_stats(df: pd.DataFrame, name: str) -> dict[str, float | None]:
    """Compact statistics of one metric on a slice of rows (one phase)."""
    if name not in df.columns or df.empty:
        return {"n": 0, "first": None, "latest": None, "min": None, "max": None, "mean": None}
    v = df[name].to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"n": 0, "first": None, "latest": None, "min": None, "max": None, "mean": None}
    return {"n": int(v.size), "first": float(v[0]), "latest": float(v[-1]), "min": float(v.min()),
            "max": float(v.max()), "mean": float(v.mean())}


@dataclass
class Phase:
    """One training phase: "vae" (disc_factor 0), "gan" (from disc_start), or "all" when unknown."""
    name: str
    first_step: int | None
    last_step: int | None
    entries: int
    stats: dict[str, dict[str, float | None]] = field(default_factory=dict)


def phases(df: pd.DataFrame, metrics: list[str], gan: np.ndarray | None) -> list[Phase]:
    """Split the current rows into the phases (``gan``: the rows of the GAN phase, None: not known) and take
    compact statistics per phase."""
    if df.empty:
        return []
    if gan is None:
        groups = [("all", df)]
    else:
        groups = [(PHASE_VAE, df[~gan]), (PHASE_GAN, df[gan])]
    out = []
    for name, g in groups:
        if g.empty:
            continue
        out.append(Phase(name, int(g["step"].min()), int(g["step"].max()), int(g["step"].nunique()),
                         {k: phase_stats(g, k) for k in metrics}))
    return out


def point_noise(values: np.ndarray) -> float:
    """Robust point-to-point noise: 1.4826 x MAD of second differences / sqrt(6); NaN (unknown)
    with fewer than two second differences, never 0 for lack of data.

    Second differences cancel a local trend and most of its curvature, so a falling, curving loss
    is not mistaken for a noisy one (the scatter around a straight-line fit over a curve would be).
    For the same reason it says nothing about how far a trend carries: ``continuity`` measures that
    by back-testing its extrapolation instead."""
    v = np.asarray(values, dtype=float)
    d2 = v[2:] - 2.0 * v[1:-1] + v[:-2]
    d2 = d2[np.isfinite(d2)]
    if d2.size < 2:
        return float("nan")
    return float(np.median(np.abs(d2 - np.median(d2)))) * MAD_TO_STD / np.sqrt(6.0)
