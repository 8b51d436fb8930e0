"""One JSON rule and one set of number formatters for everything the workbench writes or shows.

JSON (``to_jsonable``): strict JSON, one rule for non-finite numbers everywhere (analysis,
evaluation, inspection, notebook records, the CLI's ``--json``): NaN is ``null`` (the value is
undefined), +inf and -inf are the strings ``"inf"`` and ``"-inf"`` (the value is known: a PSNR of
identical maps, a shift over zero noise). numpy and pandas scalars become Python numbers,
dataclasses dicts, timestamps ISO text, anything else its ``str``.

Text (``num``, ``pct``, ``duration``): '-' for a missing number, nan/inf spelled out.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any

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
