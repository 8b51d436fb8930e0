"""Look of every figure: backend choice, one colour per metric, fonts legible at 100 dpi, shared marks."""
from __future__ import annotations

import contextlib
import functools
import os
import sys
import textwrap
import zlib
from typing import Any, Iterator

import matplotlib

# No display and no notebook kernel (CI, CLI, tests): draw off-screen instead of failing on a GUI backend.
if ("matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND")
        and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")
        and "ipykernel" not in sys.modules):
    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager, ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from ..analysis import experiment_rows as analysed_rows  # noqa: E402
from ..errors import AnalysisError  # noqa: E402
from ..vocabulary import (  # noqa: E402
    D_WEIGHT, DISC_FACTOR, DISC_LOSS, G_LOSS, KL_LOSS, LOG_METRICS, LOGITS_FAKE, LOGITS_REAL, LOGVAR, LR, NLL_LOSS,
    REC_LOSS, TOTAL_LOSS, short_name,
)

# Fixed order so that a metric keeps its colour in every figure whatever else is logged.
METRIC_ORDER = (TOTAL_LOSS, REC_LOSS, NLL_LOSS, KL_LOSS, G_LOSS, D_WEIGHT, DISC_LOSS, LOGITS_REAL, LOGITS_FAKE,
                DISC_FACTOR, LOGVAR, LR)
# Twelve clearly distinct hues (tab10 plus two dark ones); similar metrics get unlike colours.
_BASE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#d62728", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
         "#7f7f7f", "#393b79", "#637939"]
PALETTE: dict[str, Any] = dict(zip(METRIC_ORDER, _BASE))
# Terms of the total-loss decomposition wear the colour of the metric they come from.
PALETTE.update({"nll_loss": PALETTE[NLL_LOSS], "kl_term": PALETTE[KL_LOSS], "gan_term": PALETTE[G_LOSS],
                "logged_total": PALETTE[TOTAL_LOSS]})
# Switches, not noisy measurements: smoothing would draw a ramp where the value jumps.
NOT_SMOOTHED = (DISC_FACTOR,)
GAN_SHADE = "#c9b458"  # khaki: unlike every metric colour
GAN_LINE = "#6b5d12"
RESUME_COLOR = "0.35"
SUPERSEDED_COLOR = "0.55"
RESTART_COLOR = "crimson"  # a restart or relaunch: the launches before it are set aside
SET_ASIDE_COLOR = "0.6"
CHAR_WIDTH = 0.55  # average glyph width of the title font, in font sizes (wraps titles to their axes)

RC = {"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "xtick.labelsize": 9, "ytick.labelsize": 9,
      "legend.fontsize": 8.5, "figure.dpi": 100, "savefig.dpi": 100, "axes.grid": True, "grid.alpha": 0.35,
      "figure.constrained_layout.use": True,
      # titles and legends show metric names from the log: data, never mathtext ('$' in a name is a '$')
      "text.parse_math": False}


def color_of(name: str) -> Any:
    """The colour of a metric (or decomposition term); unknown names get a stable hashed colour."""
    if name in PALETTE:
        return PALETTE[name]
    pal = sns.color_palette("husl", 16)
    return pal[zlib.crc32(name.encode()) % len(pal)]


@contextlib.contextmanager
def style() -> Iterator[None]:
    """Seaborn whitegrid plus our font sizes, only while a figure is being built."""
    with plt.rc_context({**sns.axes_style("whitegrid"), **RC}):
        yield


def styled(fn: Any) -> Any:
    """Decorator: build the whole figure inside style(), so legends and labels get our sizes too."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with style():
            return fn(*args, **kwargs)
    return wrapper


short = short_name  # titles and legends name a metric without its 'train/' prefix


def x_values(df: pd.DataFrame, x_axis: str) -> Any:
    """The x coordinates of rows: their step, or their wall-clock time."""
    if x_axis == "step":
        return df["step"].to_numpy()
    return df["time"].to_numpy()


def x_of_step(df: pd.DataFrame, step: int, x_axis: str) -> Any:
    """Where a step sits on the x axis (for time: the time of the first row at or after it)."""
    if x_axis == "step":
        return step
    hit = df.loc[df["step"] >= step, "time"]
    return hit.iloc[0] if len(hit) and not pd.isna(hit.iloc[0]) else None


def mark_phases_and_resumes(ax: Any, df: pd.DataFrame, analysis: Any, x_axis: str = "step",
                            labels: bool = True, resumes: bool = True) -> None:
    """Shade the GAN phase, draw the disc_start line, the EMA start (second stage) and mark each resume step."""
    start = analysis.disc_start if analysis.disc_start is not None else analysis.disc_first_logged_step
    if start is not None and len(df) and df["step"].max() >= start:
        x0 = x_of_step(df, start, x_axis)
        x1 = x_values(df, x_axis)[-1]
        if x0 is not None:
            ax.axvspan(x0, x1, color=GAN_SHADE, alpha=0.15, lw=0, label="GAN phase" if labels else None)
            src = "disc_start" if analysis.disc_start is not None else "first disc_factor > 0"
            ln = ax.axvline(x0, color=GAN_LINE, lw=1.3, ls="-.", label=f"{src} {start}" if labels else None)
            ln.set_gid("disc_start")
    ema = getattr(analysis, "ema_start", None)  # second stage: the EMA starts at ema_update_after_step
    if ema is not None and len(df) and df["step"].max() >= ema:
        x_ema = x_of_step(df, ema, x_axis)
        if x_ema is not None:
            ln = ax.axvline(x_ema, color=GAN_LINE, lw=1.2, ls="--", label=f"EMA from step {ema}" if labels else None)
            ln.set_gid("ema_start")
    seen: set[str] = set()
    for r in analysis.resumes if resumes else []:
        x = x_of_step(df, r.step, x_axis)
        if x is None:
            continue
        kind = getattr(r, "kind", "resume")
        first = labels and kind not in seen
        seen.add(kind)
        if kind == "resume":
            ln = ax.axvline(x, color=RESUME_COLOR, lw=1.0, ls=":", label="resume" if first else None)
            ln.set_gid("resume")
        else:  # the launches before it are set aside: another experiment, or a stopped launch
            ln = ax.axvline(x, color=RESTART_COLOR, lw=1.2, ls="--", label=kind if first else None)
            ln.set_gid("restart")


def set_value_scale(ax: Any, values: np.ndarray, log_scale: bool) -> None:
    """Log scale when asked; symlog (linear near 0) when the values reach 0 or below."""
    if not log_scale:
        return
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size and v.min() <= 0:
        nz = np.abs(v[v != 0])
        # the linear band spans the small values, so the sign change stays readable
        ax.set_yscale("symlog", linthresh=float(np.quantile(nz, 0.05)) if nz.size else 1.0)
    else:
        ax.set_yscale("log")
    plain_ticks(ax)


def _plain(value: float, _pos: Any = None) -> str:
    return f"{value:g}"


def plain_ticks(ax: Any, axis: str = "y") -> None:
    """Tick labels as plain numbers ('-1000', '1e-06'). Log and symlog axes label their ticks in
    mathtext ('$\\mathdefault{10^{3}}$'), which text.parse_math False (names are data) would print raw."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(ticker.FuncFormatter(_plain))
    target.set_minor_formatter(ticker.NullFormatter())


def wrapped(text: str, ax: Any, fontsize: float | None = None) -> str:
    """``text`` broken into lines that fit the width of ``ax`` (a long title is never clipped)."""
    size = fontsize or matplotlib.rcParams["axes.titlesize"]
    size = font_manager.FontProperties(size=size).get_size_in_points()
    width_pt = ax.get_position().width * ax.figure.get_figwidth() * 72.0
    chars = max(20, int(width_pt / (CHAR_WIDTH * size)))
    return "\n".join(textwrap.fill(line, chars) for line in text.split("\n"))


def suptitle(fig: Any, text: str) -> None:
    """A figure title broken into lines that fit the figure's width."""
    size = font_manager.FontProperties(size=matplotlib.rcParams["figure.titlesize"]).get_size_in_points()
    chars = max(20, int(fig.get_figwidth() * 72.0 * 0.95 / (CHAR_WIDTH * size)))
    fig.suptitle("\n".join(textwrap.fill(line, chars) for line in text.split("\n")))


def new_figure(nrows: int = 1, ncols: int = 1, width: float = 9.0, height: float = 4.0, **kw: Any):
    """A pyplot figure and its axes array, styled (pyplot so notebooks show it inline)."""
    with style():
        fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False, **kw)
    return fig, axes


def finish(ax: Any, title: str | None = None, xlabel: str | None = None, ylabel: str | None = None,
           legend: bool = True) -> None:
    """Titles, labels and a legend that skips empty entries."""
    if title:
        ax.set_title(wrapped(title, ax))
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if legend:
        handles, labels = ax.get_legend_handles_labels()
        if handles:
            ax.legend(loc="best", frameon=True, framealpha=0.85)


def existing_metrics(analysis: Any) -> list[str]:
    """Metrics with at least one logged value, in the analysis order."""
    return [k for k, m in analysis.metrics.items() if m.count > 0]


def experiment_rows(run: Any, analysis: Any = None) -> pd.DataFrame:
    """The current rows the analysis covers, by step, as the analysis picks them (``analysis.experiment_rows``:
    the launches before its last restart are set aside); every current row without an analysis."""
    first = analysis.experiment_segment if analysis is not None else None
    return analysed_rows(run, first)[0]


def metric_rows(run: Any, name: str, analysis: Any = None) -> pd.DataFrame:
    """Current rows of the analysed experiment where `name` has a value, by step; a clear error naming the
    logged metrics if absent."""
    df = experiment_rows(run, analysis)
    if name not in df.columns:
        logged = [c for c in df.columns if c in LOG_METRICS or c.startswith("train/")]
        raise AnalysisError(f"metric {name!r} is not in this run; logged metrics: {logged}")
    return df[df[name].notna()]


MAX_POINTS = 4000  # a line never needs more points than the figure has pixels across (x 4)


def thin(n: int, y: np.ndarray | None = None, max_points: int = MAX_POINTS) -> np.ndarray:
    """Indices of the points to draw: all when few; else each bin's min and max of y (spikes stay
    visible), or an even stride when y is None (for curves that are already smooth)."""
    if n <= max_points:
        return np.arange(n)
    if y is None:
        return np.unique(np.linspace(0, n - 1, max_points).astype(int))
    yy = np.where(np.isfinite(y), y, np.nan)
    edges = np.linspace(0, n, max_points // 2 + 1).astype(int)
    keep = [0, n - 1]
    for a, b in zip(edges[:-1], edges[1:]):
        seg = yy[a:b]
        if b > a and not np.isnan(seg).all():
            keep += [a + int(np.nanargmin(seg)), a + int(np.nanargmax(seg))]
    return np.unique(keep)
