"""What a parser hands to the stitcher: the one event type every log format's parser emits.

A parser (RadioDiff text, metrics.jsonl, TensorBoard) turns bytes into ``Event``s: a new segment
(one launch, described by its ``SegmentInfo``) or rows of an existing segment.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .columns import NAT, ColumnStore


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


@dataclass
class Event:
    """A new segment (``kind="segment"``), or rows of an existing one (``kind="rows"``)."""

    kind: str  # "segment" | "rows"
    segment: SegmentInfo | None = None
    key: tuple[str, int] | None = None
    rows: ColumnStore | None = None
    replace_last: bool = False  # the first row redoes the last row handed over before
