"""One JSON rule and one set of number formatters for everything the workbench writes or shows.

JSON (``to_jsonable``): strict JSON, one rule for non-finite numbers everywhere (analysis,
evaluation, inspection, notebook records, the CLI's ``--json``): NaN is ``null`` (the value is
undefined), +inf and -inf are the strings ``"inf"`` and ``"-inf"`` (the value is known: a PSNR of
identical maps, a shift over zero noise). numpy and pandas scalars become Python numbers,
dataclasses dicts, timestamps ISO text, anything else its ``str``.

Text (``num``, ``pct``, ``duration``): '-' for a missing number, nan/inf spelled out.

Shown text (``printable``, ``PrintableWriter``): a name, label or value the user did not write is
data, so a control character in it (an ESC that clears the screen or writes the clipboard through
OSC 52, a carriage return that hides a line) or a mark that reorders text (bidirectional overrides)
is written out as ``\\xNN`` / ``\\uNNNN``; tabs stay, newlines stay where they are the text's lines.
The CLI wraps stdout and stderr in a ``PrintableWriter``, so no command can print one raw.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from typing import Any, TextIO

import numpy as np


def json_number(x: float) -> float | str | None:
    """A float made strict-JSON safe: NaN -> None, +-inf -> "inf" / "-inf"."""
    if math.isnan(x):
        return None
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def to_jsonable(x: Any) -> Any:
    """``x`` as strict-JSON data (``json.dumps(..., allow_nan=False)`` accepts it); see the module rule."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: to_jsonable(getattr(x, f.name)) for f in dataclasses.fields(x)}
    if isinstance(x, dict):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, set)):
        return [to_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return [to_jsonable(v) for v in x.tolist()]
    if x is None or isinstance(x, str):
        return x
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return json_number(float(x))
    if isinstance(x, dt.datetime):  # pandas' Timestamp and NaT too (NaT is the one not equal to itself)
        return x.isoformat() if x == x else None
    if isinstance(x, np.datetime64):
        return None if np.isnat(x) else str(x)
    return str(x)  # paths, devices, dtypes: their text


def num(x: Any, fmt: str = ".5g") -> str:
    """A number for a table or a sentence: '-' when missing, nan/inf spelled out."""
    if x is None:
        return "-"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    return format(v, fmt) if math.isfinite(v) else str(v)


def pct(x: float | None) -> str:
    """A fraction in [0, 1] as a percentage ('-' when missing)."""
    return "-" if x is None else f"{x:.1%}"


def duration(seconds: float | None) -> str:
    """Seconds as s, min, h or days ('unknown' when missing)."""
    if seconds is None or not math.isfinite(seconds):
        return "unknown"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h" if seconds < 48 * 3600 else f"{seconds / 86400:.1f} days"


# C0 and C1 controls (ESC, BEL, CR, ...), DEL, and the marks that reorder or hide text: the Arabic
# letter mark, LRM/RLM, line and paragraph separators, bidirectional embeddings, overrides and
# isolates, the byte-order mark. Tab (\x09) and newline (\x0a) are not in the set.
_CONTROLS = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff"
_HIDDEN = re.compile(f"[{_CONTROLS}]")
_HIDDEN_OR_NEWLINE = re.compile(f"[\n{_CONTROLS}]")


def _written_out(m: re.Match) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def printable(value: Any, lines: bool = True) -> str:
    """``str(value)`` with control characters and text-reordering marks written as ``\\xNN`` /
    ``\\uNNNN``; tabs kept, newlines kept when ``lines`` (else written out too)."""
    return (_HIDDEN if lines else _HIDDEN_OR_NEWLINE).sub(_written_out, str(value))


class PrintableWriter:
    """A text stream that writes everything through ``printable``, the CLI's stdout and stderr.

    A carriage return that starts a write is let through: it is how a progress bar (tqdm) redraws
    its own line; anywhere else it is written out like any other control. Everything but ``write``
    is the wrapped stream's (``isatty``, ``fileno``, ``encoding``, ``flush``)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        """Write ``text`` with its controls written out; returns the length of ``text``."""
        head = "\r" if text.startswith("\r") else ""
        self.stream.write(head + printable(text[len(head):]))
        return len(text)

    def writelines(self, lines: Any) -> None:
        """Write each of ``lines`` as ``write`` does."""
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)
