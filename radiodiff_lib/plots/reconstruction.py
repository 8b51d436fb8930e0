"""Figures of an evaluation: example reconstructions and histograms of the per-map metrics.

Figures are built with ``matplotlib.figure.Figure`` (no pyplot state), so they work headless,
display once in Jupyter, and are freed when dropped.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib.figure import Figure

from ..evaluation import EvalResult, Example
from ..vocabulary import EVAL_METRICS, METRIC_NAMES



def _outline(ax, buildings: np.ndarray, color: str) -> None:
    """Draw the building outlines: the 0.5 contour of the buildings mask."""
    if buildings.min() < 0.5 < buildings.max():
        ax.contour(buildings, levels=[0.5], colors=color, linewidths=0.7)


def _reconstruction(ax_rec: Any, ax_err: Any, e: Example, name: str, err_max: float) -> Any:
    """A model's reconstruction of an example and its |error| on a shared scale; the error image."""
    ax_rec.imshow(e.reconstruction, cmap="viridis", vmin=0, vmax=1)
    ax_rec.set_title(f"{name} (NMSE {e.nmse:.3g}, street {e.nmse_street:.3g})", fontsize=9, parse_math=False)
    ax_err.set_title(f"|error| (max {float(e.error.max()):.3g})", fontsize=9)
    return ax_err.imshow(e.error, cmap="magma", vmin=0, vmax=err_max)


def gallery_figure(examples: Sequence[Example], title: str, name: str = "reconstruction",
                   beside: Sequence[Example] | None = None, beside_name: str = "") -> Figure:
    """One row per example (best, median, worst): its input, ``name``'s reconstruction and |error|, and, when
    ``beside`` is given, that model's reconstruction and |error| of the same item in two more columns."""
    cols = 5 if beside else 3
    fig = Figure(figsize=(3.5 * cols, 3.2 * max(len(examples), 1)), layout="constrained")
    if not examples:
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, "no maps evaluated", ha="center", va="center")
        ax.set_axis_off()
        return fig
    # One error scale for all rows and both models, so they compare honestly (the best row looks dark).
    err_max = max(float(e.error.max()) for e in [*examples, *(beside or [])]) or 1.0
    axes = fig.subplots(len(examples), cols, squeeze=False)
    for row, e, other in zip(axes, examples, beside or [None] * len(examples)):
        im_in = row[0].imshow(e.input, cmap="viridis", vmin=0, vmax=1)
        row[0].set_title("input", fontsize=9)
        row[0].set_ylabel(f"{e.label}\n{e.name}", fontsize=9, parse_math=False)  # a file name: data
        im_err = _reconstruction(row[1], row[2], e, name, err_max)
        if other is not None:
            _reconstruction(row[3], row[4], other, beside_name, err_max)
        for c, ax in enumerate(row):
            _outline(ax, e.buildings, "cyan" if c in (2, 4) else "white")
            ax.set_xticks([])
            ax.set_yticks([])
    fig.colorbar(im_in, ax=list(axes[:, [0, 1, 3] if beside else [0, 1]].ravel()), shrink=0.8, fraction=0.04,
                 label="gain [0, 1]")
    fig.colorbar(im_err, ax=list(axes[:, [2, 4] if beside else [2]].ravel()), shrink=0.8, fraction=0.08,
                 label="absolute error")
    fig.suptitle(title, fontsize=10, parse_math=False)  # a path: data, not mathtext
    return fig


def examples_figure(result: EvalResult) -> Figure:
    """Grid of input, reconstruction and |error| for the best, median and worst maps by NMSE."""
    return gallery_figure(result.examples, f"{result.checkpoint}: best / median / worst of {result.n_maps} maps by "
                                           "NMSE (outlines: buildings)")


def histograms_figure(result: EvalResult) -> Figure:
    """Histograms of the per-map NMSE, RMSE, SSIM and PSNR, all pixels and street pixels."""
    fig = Figure(figsize=(13, 3.4), layout="constrained")
    axes = fig.subplots(1, len(EVAL_METRICS))
    df = result.per_map
    bins = int(np.clip(np.sqrt(len(df)) * 2, 5, 40))
    for ax, name in zip(axes, EVAL_METRICS):
        notes = []
        both = df[[name, name + "_street"]].to_numpy(dtype=float).ravel()
        both = both[np.isfinite(both)]
        # Shared bin edges so the two series line up bar for bar.
        edges = np.histogram_bin_edges(both, bins=bins) if both.size else bins
        for suffix, label, color in (("", "all pixels", "tab:blue"), ("_street", "street", "tab:orange")):
            v = df[name + suffix].to_numpy(dtype=float)
            stats = (result.metrics if suffix == "" else result.metrics_street)[name]
            finite = v[np.isfinite(v)]
            n_inf = int(np.isinf(v).sum())
            if n_inf:
                # inf has no place on an axis: count it (PSNR of a perfect map) instead of dropping it silently
                notes.append(f"{label}: {n_inf} inf")
            if finite.size:
                ax.hist(finite, bins=edges, alpha=0.55, color=color, label=f"{label} (median {stats['median']:.4g})")
            if np.isfinite(stats["median"]):
                ax.axvline(stats["median"], color=color, linestyle="--", linewidth=1)
        ax.set_title(METRIC_NAMES[name], fontsize=10)
        ax.set_xlabel(name)
        ax.legend(fontsize=7)
        if notes:
            ax.text(0.02, 0.98, "\n".join(notes), transform=ax.transAxes, va="top", fontsize=7)
    axes[0].set_ylabel("maps")
    for ax in axes:
        ax.yaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(f"Per-map metrics over {result.n_maps} maps ({result.split} split)", fontsize=10)
    return fig


def write_evaluation_figures(result: EvalResult, folder: str | Path) -> dict[str, str]:
    """Write ``examples.png`` and ``histograms.png`` into ``folder``; record and return their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for kind, make in (("examples", examples_figure), ("histograms", histograms_figure)):
        path = folder / f"{kind}.png"
        make(result).savefig(path, dpi=110)
        result.figures[kind] = str(path)
    return result.figures
