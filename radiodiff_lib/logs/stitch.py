"""Stitching of launch segments into one timeline for the log reader (see ``reader.py``).

Rule ("later launch wins"): a segment that starts at step k (its first logged step, or the
start/rewind step its launch record states) moves every current row with step >= k of the earlier
segments to ``superseded``; the current timeline is therefore strictly increasing in step.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..vocabulary import SEGMENT_COLUMNS
from .columns import ColumnStore
from .events import SegmentInfo


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
        self._sup_cache: tuple | None = None

    def forget_file(self, path: str) -> None:
        """Drop every segment read from ``path`` (it was rewritten and is read again)."""
        for key in [k for k, info in self.segments.items() if info.file == path]:
            del self.segments[key]
        self.dirty = True

    def current_frame(self, metric_order) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(rows, logged mask) of the stitched timeline, restitched first when needed."""
        if self.dirty:
            self.restitch()
        return self.cur.frame(self.files, list(metric_order))

    def superseded_frame(self, metric_order) -> pd.DataFrame:
        """The rows later launches replaced (built again only when they changed: they rarely do)."""
        if self.dirty:
            self.restitch()
        key = (self.sup.version, len(self.files))
        if self._sup_cache is None or self._sup_cache[0] != key:
            self._sup_cache = (key, self.sup.frame(self.files, list(metric_order))[0])
        return self._sup_cache[1]

    def configs(self) -> list[dict | None]:
        """The config of each stitched segment, in timeline order."""
        return [self.segments[k].config for k in self.order]

    def unplaced_configs(self) -> list[dict | None]:
        """The configs of every segment, stitched or not (a launch that logged no row has one too)."""
        return [info.config for info in self.segments.values()]

    def totals(self) -> list[int]:
        """The train_num_steps each stitched segment states, in timeline order."""
        return [self.segments[k].total_steps for k in self.order if self.segments[k].total_steps]

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
        return segment_frame(recs)


def segment_frame(records: list[dict], extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """``Run.segments`` from one record per launch: ``vocabulary.SEGMENT_COLUMNS`` (and ``extra``), times as
    datetimes."""
    table = pd.DataFrame(records, columns=list(SEGMENT_COLUMNS + extra))
    for c in ("start_time", "end_time"):
        table[c] = pd.to_datetime(table[c])
    return table
