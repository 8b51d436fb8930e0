"""The rows one line-by-line pass over a chunk of a text log gathers, and their conversion to columns.

A step line's values are kept as its text (``payload``) and converted per key shape at the end, all
lines of a shape in one numpy call (``_values``); the validating pass hands over floats instead.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .columns import ColumnStore, batch_from_columns
from .events import Event, SegmentInfo
from .text_lines import SlowPath, bulk_timestamps


@dataclass
class Carry:
    """The last row of the previous chunk, which the next chunk's lines may still merge into."""

    head: str  # "<step>/<total>" as printed
    step: int
    sig: int
    prefix: str
    line: int
    entries: list = field(default_factory=list)  # (pair id, float values)


class ChunkRows:
    """Rows of one chunk: per row its step, prefix and line number; per (keys as printed, names
    stored) pair the rows and payloads; the segments the chunk opens; the row carried over."""

    def __init__(self, local: int, info: SegmentInfo | None, carry: Carry | None) -> None:
        self.step: list[int] = []
        self.prefix: list[str] = []
        self.line: list[int] = []
        self.merged_prefix: list[str] = []  # prefixes of lines merged into a row: checked, not used
        self.buckets: dict[int, tuple[list[int], list]] = {}  # pair id -> (row indices, payloads)
        # (first row index, local segment id, segment info to announce or None)
        self.bounds: list[tuple[int, int, SegmentInfo | None]] = [(0, local, info)]
        self.carry, self.carry_touched = carry, False
        if carry is not None:
            self.new_row(carry.step, carry.prefix, carry.line)
            for pid, vals in carry.entries:
                self.add(pid, 0, vals)

    def open_row(self) -> tuple[str | None, int, int]:
        """(head, step, key signature) of the row the previous chunk left open, or (None, -1, -1)."""
        c = self.carry
        return (c.head, c.step, c.sig) if c is not None else (None, -1, -1)

    def new_segment(self, info: SegmentInfo) -> None:
        """The next rows belong to a new launch logged into the same file."""
        self.bounds.append((len(self.step), info.key[1], info))

    def new_row(self, step: int, prefix: str, line: int) -> int:
        """Start a row; returns its index."""
        self.step.append(step)
        self.prefix.append(prefix)
        self.line.append(line)
        return len(self.step) - 1

    def join(self, prefix: str) -> int:
        """A line merged into the last row (its prefix is checked later); returns the row index."""
        self.merged_prefix.append(prefix)
        row = len(self.step) - 1
        if row == 0 and self.carry is not None:
            self.carry_touched = True
        return row

    def add(self, pid: int, row: int, payload) -> None:
        """A line's payload (its body text, or its floats) for row ``row`` under pair ``pid``."""
        bucket = self.buckets.get(pid)
        if bucket is None:
            bucket = self.buckets[pid] = ([], [])
        bucket[0].append(row)
        bucket[1].append(payload)

    def lines_used(self) -> int:
        """Step lines this chunk used (the carried row's lines were counted by the chunk before)."""
        carried = len(self.carry.entries) if self.carry is not None else 0
        return sum(len(rows) for rows, _ in self.buckets.values()) - carried

    def assemble(self, parser) -> ColumnStore:
        """Rows -> columns: each bucket's values converted in one numpy call; SlowPath when a value or
        a timestamp does not read."""
        n = len(self.step)
        metrics: dict[str, np.ndarray] = {}
        logged: dict[str, np.ndarray] = {}
        for pid, (rows, payloads) in self.buckets.items():
            raw, eff = parser.pairs[pid]
            arr = _values(payloads, parser.sig_keys[raw])
            idx = np.asarray(rows, dtype=np.int64)
            for j, key in enumerate(parser.sig_keys[eff]):
                if key not in metrics:
                    metrics[key] = np.full(n, np.nan)
                    logged[key] = np.zeros(n, bool)
                metrics[key][idx] = arr[:, j]
                logged[key][idx] = True
        times = bulk_timestamps(self.prefix)
        if self.merged_prefix:
            bulk_timestamps(self.merged_prefix)  # SlowPath when one is not a timestamp
        return batch_from_columns(np.asarray(self.step, np.int64), times, np.asarray(self.line, np.int64),
                                  metrics, logged)

    def carry_out(self, parser, head: str | None, step: int, sig: int) -> Carry | None:
        """The last row, which the next chunk's lines may still join (None when no row is open)."""
        if not self.step or self.bounds[-1][0] >= len(self.step):
            return None
        r = len(self.step) - 1
        entries = [(pid, _as_floats(payloads[-1], parser.sig_keys[parser.pairs[pid][0]]))
                   for pid, (rows, payloads) in self.buckets.items() if rows[-1] == r]
        return Carry(head, step, sig, self.prefix[r], self.line[r], entries)

    def events(self, path: str, batch: ColumnStore) -> list[Event]:
        """The segments opened and the rows of each, as events for the stitcher."""
        events: list[Event] = []
        for idx, (lo, local, info) in enumerate(self.bounds):
            hi = self.bounds[idx + 1][0] if idx + 1 < len(self.bounds) else len(self.step)
            if info is not None:
                events.append(Event("segment", segment=info))
            replace = idx == 0 and self.carry is not None and self.carry_touched
            if idx == 0 and self.carry is not None and not self.carry_touched:
                lo = 1  # the carried row was handed over already and did not change
            if hi > lo:
                events.append(Event("rows", key=(path, local), rows=_slice(batch, lo, hi), replace_last=replace))
        return events


def _values(payloads: list, keys: tuple) -> np.ndarray:
    """Bodies of one shape -> (m, k) floats, all lines split at once; SlowPath when a line differs.
    A payload that is a list already holds floats (the row carried over from the previous chunk)."""
    m, width = len(payloads), len(keys)
    out = np.empty((m, width), np.float64)
    done = [r for r, p in enumerate(payloads) if not isinstance(p, str)] if not isinstance(payloads[0], str) \
        or not isinstance(payloads[-1], str) else []
    for r in done:
        out[r] = payloads[r]
    strings = [p for p in payloads if isinstance(p, str)] if done else payloads
    if not strings:
        return out
    flat = ", ".join(strings).replace(": ", ", ").split(", ")
    ms = len(strings)
    if len(flat) != 2 * ms * width or flat[0::2] != list(keys) * ms:
        raise SlowPath
    try:
        vals = np.array(flat[1::2], dtype=np.float64).reshape(ms, width)
    except ValueError:
        raise SlowPath from None
    if not done:
        return vals
    mask = np.ones(m, bool)
    mask[done] = False
    out[mask] = vals
    return out


def _as_floats(payload, keys: tuple) -> list[float]:
    """One line's values as floats (a body string, or values already converted)."""
    if not isinstance(payload, str):
        return list(payload)
    flat = payload.replace(": ", ", ").split(", ")
    if len(flat) != 2 * len(keys) or tuple(flat[0::2]) != keys:
        raise SlowPath
    try:
        return [float(v) for v in flat[1::2]]
    except ValueError:
        raise SlowPath from None


def _slice(batch: ColumnStore, lo: int, hi: int) -> ColumnStore:
    if lo == 0 and hi == batch.n:
        return batch
    out = ColumnStore(hi - lo)
    out.append_from(batch, lo, hi)
    for name in list(out.metrics):
        if not out.logged[name][: out.n].any():
            del out.metrics[name], out.logged[name]
    return out
