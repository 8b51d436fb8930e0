"""Column storage and stitching of launch segments for the log reader (see ``logs.py``).

Rows live in growable numpy buffers so that appending the few rows of a live ``update()`` costs
time in proportion to those rows, and the DataFrame handed out is built from views (no copy).
Stitching rule ("later launch wins"): a segment that starts at step k (its first logged step, or
the start/rewind step its launch record states) moves every current row with step >= k of the
earlier segments to ``superseded``; the current timeline is therefore strictly increasing in step.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

NAT = np.datetime64("NaT", "ns")
PHASES = ("vae", "gan")


def unix_to_local(seconds: float) -> np.datetime64:
    """Unix time -> naive local datetime64, the clock Python logging's asctime prints."""
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return NAT
    return np.datetime64(datetime.fromtimestamp(seconds), "ns")


class ColumnStore:
    """Growable columns: step, time, line, segment, file code, phase code, metrics + logged masks."""

    _BASE = (("step", np.int64), ("time", "datetime64[ns]"), ("line", np.int64),
             ("segment", np.int64), ("file", np.int32), ("phase", np.int8))

    _versions = iter(range(1, 1 << 62))  # every change of any store gets a new number

    def __init__(self, capacity: int = 64) -> None:
        self.version = next(ColumnStore._versions)
        self.n = 0
        self.cap = max(int(capacity), 1)
        self.base: dict[str, np.ndarray] = {name: np.empty(self.cap, dtype) for name, dtype in self._BASE}
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
        self.version = next(ColumnStore._versions)

    def truncate(self, n: int) -> None:
        """Drop the rows from n on."""
        self.n = min(self.n, max(n, 0))
        self.version = next(ColumnStore._versions)

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


@dataclass
class SegmentInfo:
    """One launch as a parser saw it (``key`` is unique per file: (file, local index))."""

    key: tuple[str, int]
    file: str
    kind: str
    start_time: np.datetime64 = NAT
    config: dict | None = None
    rewind_to: int | None = None  # explicit start/rewind step (metrics launch record), else first step
    sort_hint: float = 0.0  # file-name time or mtime, used when start_time is unknown
    total_steps: int | None = None
    rows: ColumnStore = field(default_factory=ColumnStore)
    end_time: np.datetime64 = NAT

    def sort_key(self) -> tuple:
        t = self.start_time
        ts = t.astype("datetime64[ns]").astype(np.int64) / 1e9 if not np.isnat(t) else self.sort_hint
        return (ts, self.file, self.key[1])


class Stitcher:
    """Holds all segments and the stitched current / superseded rows."""

    def __init__(self) -> None:
        self.segments: dict[tuple[str, int], SegmentInfo] = {}
        self.files: list[str] = []
        self._file_codes: dict[str, int] = {}
        self.cur = ColumnStore()
        self.sup = ColumnStore()
        self.order: list[tuple[str, int]] = []  # keys in time order, as fed into cur/sup
        self.numbers: dict[tuple[str, int], int] = {}
        self.placed_rewind: dict[tuple[str, int], float] = {}
        self.dirty = False

    def file_code(self, path: str) -> int:
        if path not in self._file_codes:
            self._file_codes[path] = len(self.files)
            self.files.append(path)
        return self._file_codes[path]

    def open_segment(self, info: SegmentInfo) -> None:
        """Register a new launch; it is stitched when it brings rows (or an explicit rewind)."""
        self.segments[info.key] = info
        self.file_code(info.file)
        if info.key in self.numbers:
            # re-announced with a (new) rewind point after it was placed: restitch when it moved
            if info.rewind_to is not None and info.rewind_to < self.placed_rewind.get(info.key, np.inf):
                self.dirty = True
            return
        if info.rewind_to is not None:
            self._place(info)

    def add_rows(self, key: tuple[str, int], batch: ColumnStore, replace_last: bool = False) -> None:
        """Append a parser's rows to a segment (replace_last: the batch's first row redoes the last)."""
        info = self.segments[key]
        seg_rows = info.rows
        if replace_last:
            seg_rows.truncate(seg_rows.n - 1)
        first = seg_rows.n == 0
        seg_rows.append_from(batch)
        if batch.n:
            # the times of the segment's first and last rows, whatever batches the rows came in
            info.end_time = batch.base["time"][batch.n - 1]
            if first and np.isnat(info.start_time):
                info.start_time = batch.base["time"][0]
        if self.dirty:
            return
        if key in self.order and self.order[-1] != key:
            self.dirty = True  # rows arrived for an older segment: restitch at the next frame
            return
        if key not in self.order:
            self._place(info)
            if self.dirty:
                return
        if replace_last:
            self.cur.truncate(self.cur.n - 1)
        self.cur.append_from(batch, segment=self.numbers[key], file_code=self._file_codes[info.file])

    def _place(self, info: SegmentInfo) -> None:
        """Put a new segment at the end of the timeline, or mark a restitch when it is not last."""
        if self.dirty:
            return
        if self.order and self.segments[self.order[-1]].sort_key() > info.sort_key():
            self.dirty = True
            return
        self._rewind(info)
        self.numbers[info.key] = len(self.order)
        self.order.append(info.key)

    def _rewind(self, info: SegmentInfo) -> None:
        start = info.rewind_to
        if start is None and info.rows.n:
            start = int(info.rows.base["step"][0])
        if start is None:
            return
        self.placed_rewind[info.key] = start
        cut = int(np.searchsorted(self.cur.base["step"][: self.cur.n], start, side="left"))
        self.sup.append_from(self.cur, cut, self.cur.n)
        self.cur.truncate(cut)

    def restitch(self) -> None:
        """Rebuild current / superseded rows from all segments in time order."""
        self.cur, self.sup = ColumnStore(self.cur.cap), ColumnStore(max(self.sup.cap, 64))
        self.order, self.numbers = [], {}
        self.dirty = False
        for info in sorted(self.segments.values(), key=SegmentInfo.sort_key):
            if info.rows.n == 0 and info.rewind_to is None:
                continue
            self._rewind(info)
            self.numbers[info.key] = len(self.order)
            self.order.append(info.key)
            self.cur.append_from(info.rows, segment=self.numbers[info.key],
                                 file_code=self._file_codes[info.file])

    def segment_table(self) -> pd.DataFrame:
        """One row per stitched segment."""
        recs = []
        for key in self.order:
            info = self.segments[key]
            n = info.rows.n
            steps = info.rows.base["step"][:n]
            recs.append({
                "segment": self.numbers[key], "file": info.file,
                "first_step": int(steps[0]) if n else None, "last_step": int(steps[-1]) if n else None,
                "start_time": info.start_time, "end_time": info.end_time if n else info.start_time,
                "n_rows": n, "kind": info.kind,
                "rewind_to": info.rewind_to if info.rewind_to is not None else (int(steps[0]) if n else None),
            })
        cols = ["segment", "file", "first_step", "last_step", "start_time", "end_time", "n_rows", "kind",
                "rewind_to"]
        table = pd.DataFrame(recs, columns=cols)
        for c in ("start_time", "end_time"):
            table[c] = pd.to_datetime(table[c])
        return table
