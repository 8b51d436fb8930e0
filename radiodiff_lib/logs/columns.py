"""Growable column storage for the log reader: the rows a parser hands over and the stitched run.

Rows live in growable numpy buffers so that appending the few rows of a live ``update()`` costs
time in proportion to those rows, and the DataFrame handed out is built from views (no copy).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from ..vocabulary import PHASES, ROW_COLUMNS

NAT = np.datetime64("NaT", "ns")
MAX_STEP = int(np.iinfo(np.int64).max)  # steps are stored as int64: a larger one is not a step
_VERSIONS = iter(range(1, 1 << 62))  # every change of any ColumnStore gets a new number
_NS_SECONDS = 9.2e9  # seconds around 1970 that datetime64[ns] holds (9.22e9), with months to spare


def step_of(value: Any) -> int | None:
    """A logged step (an int, or a float holding a whole number) in 0..MAX_STEP, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float):
        if not (value.is_integer() and 0 <= value <= MAX_STEP):  # False for nan and inf too
            return None
        value = int(value)
    return value if 0 <= value <= MAX_STEP else None


def digits_step(text: str) -> int | None:
    """The step printed as ``text`` when it is ASCII digits and fits int64, else None."""
    if not (text.isdigit() and text.isascii()) or (len(text) >= 19 and int(text) > MAX_STEP):
        return None
    return int(text)


def unix_to_local(seconds: float) -> np.datetime64:
    """Unix time -> naive local datetime64, the clock Python logging's asctime prints (NaT when
    datetime64[ns] cannot hold it: about 1678..2262; numpy would silently wrap it around)."""
    if not -_NS_SECONDS < seconds < _NS_SECONDS:  # False for nan too
        return NAT
    try:
        return np.datetime64(datetime.fromtimestamp(seconds), "ns")
    except (OverflowError, OSError, ValueError):
        return NAT


# How each of ``vocabulary.ROW_COLUMNS`` is stored: file and phase as codes (categories in the frame).
ROW_DTYPES = {"step": np.int64, "time": "datetime64[ns]", "file": np.int32, "segment": np.int64, "line": np.int64,
              "phase": np.int8}


class ColumnStore:
    """Growable columns: the row columns (step, time, file code, segment, line, phase code), metrics + logged
    masks."""

    def __init__(self, capacity: int = 64) -> None:
        self.version = next(_VERSIONS)
        self.n = 0
        self.cap = max(int(capacity), 1)
        self.base: dict[str, np.ndarray] = {name: np.empty(self.cap, ROW_DTYPES[name]) for name in ROW_COLUMNS}
        self.metrics: dict[str, np.ndarray] = {}
        self.logged: dict[str, np.ndarray] = {}
        self.has_phase = False

    def _reserve(self, need: int) -> None:
        if need <= self.cap:
            return
        cap = max(need, 2 * self.cap)
        for d in (self.base, self.metrics, self.logged):
            for name, arr in d.items():
                new = np.empty(cap, arr.dtype)
                new[: self.n] = arr[: self.n]
                d[name] = new
        self.cap = cap

    def column(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The value and logged buffers of a metric, created (NaN / False) when first seen."""
        if name not in self.metrics:
            vals = np.full(self.cap, np.nan)
            self.metrics[name] = vals
            self.logged[name] = np.zeros(self.cap, bool)
        return self.metrics[name], self.logged[name]

    def append_from(self, other: "ColumnStore", lo: int = 0, hi: int | None = None,
                    segment: int | None = None, file_code: int | None = None) -> None:
        """Append rows lo:hi of another store (optionally overriding segment / file)."""
        hi = other.n if hi is None else hi
        k = hi - lo
        if k <= 0:
            return
        a, b = self.n, self.n + k
        self._reserve(b)
        for name, arr in other.base.items():
            self.base[name][a:b] = arr[lo:hi]
        if segment is not None:
            self.base["segment"][a:b] = segment
        if file_code is not None:
            self.base["file"][a:b] = file_code
        for name, arr in other.metrics.items():
            vals, logged = self.column(name)
            vals[a:b] = arr[lo:hi]
            logged[a:b] = other.logged[name][lo:hi]
        for name, vals in self.metrics.items():
            if name not in other.metrics:
                vals[a:b] = np.nan
                self.logged[name][a:b] = False
        self.has_phase |= other.has_phase
        self.n = b
        self.version = next(_VERSIONS)

    def truncate(self, n: int) -> None:
        """Drop the rows from n on."""
        self.n = min(self.n, max(n, 0))
        self.version = next(_VERSIONS)

    def frame(self, files: list[str], metric_order: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(rows, logged-mask) DataFrames over views of the buffers."""
        n = self.n
        names = [m for m in metric_order if m in self.metrics]
        names += [m for m in self.metrics if m not in names]
        data: dict[str, Any] = {"step": self.base["step"][:n]}
        for m in names:
            data[m] = self.metrics[m][:n]
        data["time"] = self.base["time"][:n]
        data["file"] = pd.Categorical.from_codes(self.base["file"][:n], categories=files or ["?"])
        data["segment"] = self.base["segment"][:n]
        data["line"] = self.base["line"][:n]
        if self.has_phase:
            data["phase"] = pd.Categorical.from_codes(self.base["phase"][:n], categories=list(PHASES))
        df = pd.DataFrame(data, copy=False)
        logged = pd.DataFrame({m: self.logged[m][:n] for m in names}, copy=False)
        return df, logged


def metric_columns(rows: list[dict], keep) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Records -> one float column per metric (NaN where a record lacks it) and its logged mask;
    ``keep(key, value)`` says which entries are metrics."""
    n = len(rows)
    metrics: dict[str, np.ndarray] = {}
    logged: dict[str, np.ndarray] = {}
    for r, rec in enumerate(rows):
        for key, value in rec.items():
            if not keep(key, value):
                continue
            if key not in metrics:
                metrics[key] = np.full(n, np.nan)
                logged[key] = np.zeros(n, bool)
            metrics[key][r] = value
            logged[key][r] = True
    return metrics, logged


def batch_from_columns(step: np.ndarray, time: np.ndarray, line: np.ndarray,
                       metrics: dict[str, np.ndarray], logged: dict[str, np.ndarray],
                       phase: np.ndarray | None = None) -> ColumnStore:
    """A ColumnStore holding exactly the given rows (what a parser hands to the stitcher)."""
    n = len(step)
    store = ColumnStore(n)
    store.base["step"][:n] = step
    store.base["time"][:n] = time
    store.base["line"][:n] = line
    store.base["segment"][:n] = -1
    store.base["file"][:n] = 0
    store.base["phase"][:n] = -1 if phase is None else phase
    store.has_phase = phase is not None
    for name, vals in metrics.items():
        store.metrics[name] = np.asarray(vals, np.float64)
        store.logged[name] = np.asarray(logged[name], bool)
    store.n = n
    return store
