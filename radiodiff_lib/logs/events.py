"""What a parser hands to the stitcher: the one event type every log format's parser emits.

A parser (RadioDiff text, metrics.jsonl, TensorBoard) turns bytes into ``Event``s: a new segment
(one launch, described by its ``SegmentInfo``) or rows of an existing segment.
"""
from __future__ import annotations

import re
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


KEEP_PER_REASON = 1000  # skipped lines of one reason kept one by one per file; the rest are counted
SHOWN_CHARS = 500  # characters of a skipped line kept to show
# surrogateescape decodes byte b (not UTF-8) as U+DC00 + b; a translation table escapes it as "\xNN"
# at C speed (a backslashreplace decode calls its error handler once per byte)
_ESCAPES = {0xDC00 + b: f"\\x{b:02x}" for b in range(0x80, 0x100)}
_SURROGATE = re.compile("[\udc80-\udcff]")  # those stand-ins


def has_bad_bytes(text: str) -> bool:
    """Whether text decoded with surrogateescape holds bytes that were not UTF-8."""
    return not text.isascii() and _SURROGATE.search(text) is not None


def shown(line: str) -> str:
    """A line as a skip record keeps it: its start, bytes that were not UTF-8 as ``\\xff``."""
    line = line[:SHOWN_CHARS]
    return line if line.isascii() else line.translate(_ESCAPES)


class SkipLog:
    """The lines a parser skipped, as (line, reason, text): every one counted, the first
    KEEP_PER_REASON of each reason kept, the rest as a count and a line range per reason (a file
    of millions of junk lines must not make millions of records)."""

    def __init__(self) -> None:
        self.kept: list[tuple[int, str, str]] = []
        self.counts: dict[str, int] = {}  # reason -> lines, all of them
        self.more: dict[str, list[int]] = {}  # reason -> [lines not kept, first, last]

    def append(self, item: tuple[int, str, str]) -> None:
        """Count a skipped line (keep it, its text ``shown``, while fewer than KEEP_PER_REASON of
        its reason are kept)."""
        reason = item[1]
        n = self.counts.get(reason, 0) + 1
        self.counts[reason] = n
        if n <= KEEP_PER_REASON:
            self.kept.append((item[0], reason, shown(item[2])))
            return
        more = self.more.get(reason)
        if more is None:
            self.more[reason] = [1, item[0], item[0]]
        else:
            more[0] += 1
            more[2] = item[0]

    def extend(self, items) -> None:
        """Count several skipped lines."""
        for item in items:
            self.append(item)

    def __len__(self) -> int:
        return sum(self.counts.values())

    def mark(self) -> tuple:
        """The state to go back to with ``restore`` (a pass that is redone)."""
        return len(self.kept), dict(self.counts), {k: list(v) for k, v in self.more.items()}

    def restore(self, mark: tuple) -> None:
        """Forget what was counted since ``mark``."""
        n_kept, counts, more = mark
        del self.kept[n_kept:]
        self.counts, self.more = dict(counts), {k: list(v) for k, v in more.items()}
