"""Displaying things in a notebook: a figure as one PNG, and the numbers a test reads back."""
from __future__ import annotations

import io
from typing import Any

import matplotlib.pyplot as plt
from IPython.display import Image, display

from ..formatting import to_jsonable
from .env import RECORD_MIME


def figure_png(fig: Any, dpi: int = 100) -> bytes:
    """PNG bytes of a figure, drawn once (no tight-bbox second pass); the figure is closed."""
    buf = io.BytesIO()
    # fast zlib level: on these large figures compression was a sixth of the time
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white", pil_kwargs={"compress_level": 1})
    plt.close(fig)
    return buf.getvalue()


def show_figure(fig: Any, dpi: int = 100, alt: str | None = None) -> None:
    """Display a matplotlib figure once, as a PNG (with its alt text, when given), and release it."""
    display(Image(data=figure_png(fig, dpi), format="png", alt=alt))


def record(**values: Any) -> None:
    """Numbers for tests, in the executed notebook only (the HTML and Markdown exports drop them)."""
    display({RECORD_MIME: to_jsonable(values)}, raw=True)
