"""Reading figures back in tests: lines tagged with a gid, tick labels, titles clipped at the figure's edge."""
from __future__ import annotations

from matplotlib.figure import Figure


def gid_lines(fig: Figure, gid: str) -> list:
    """The lines of every axis of ``fig`` tagged ``gid``."""
    return [ln for ax in fig.axes for ln in ax.lines if ln.get_gid() == gid]


def ax_gid_lines(ax, gid: str) -> list:
    """The lines of one axis tagged ``gid``."""
    return [ln for ln in ax.lines if ln.get_gid() == gid]


def tick_labels(fig) -> list[str]:
    """Every tick label and offset text of a drawn figure."""
    fig.canvas.draw()
    out = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            out += [t.get_text() for t in axis.get_ticklabels(which="both")]
            out.append(axis.get_offset_text().get_text())
    return out


def clipped_titles(fig) -> list[str]:
    """The titles (axes and figure) that reach beyond the figure's width: clipped in the PNG."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    width = fig.bbox.width
    texts = [ax.title for ax in fig.axes] + ([fig._suptitle] if fig._suptitle is not None else [])
    return [t.get_text() for t in texts if t.get_text()
            and (t.get_window_extent(renderer).x0 < -1 or t.get_window_extent(renderer).x1 > width + 1)]
