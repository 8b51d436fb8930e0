"""Fuzzing the log readers (issue 10): the three log formats with random insertions of huge numbers, deeply nested JSON,
flipped bits and truncation. The reader never raises, every row whose lines were not damaged is
kept with its exact values, no undamaged line is skipped, and every inserted bad line is counted.

A flipped bit in a text or JSON line may leave a valid line with another value (a text format has
no checksum): such a line is "damaged", and only its own row is exempt from the exact check. In a
TensorBoard file every damaged record is caught by its checksums: exactly the undamaged records'
scalars come back. The fast suite draws a few dozen cases per format (``FAST``); ``-m slow`` draws many more (``SLOW``).
Each format's strategy and test sit with its parser's tests (test_text, test_metrics_file, test_tfevents).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from hypothesis import HealthCheck, settings, strategies as st

from radiodiff_lib.errors import LogFormatError
from radiodiff_lib.logs import read_run


FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HUGE = "9" * 30
DEEP_JSON = "[" * 50_000 + "]" * 50_000
T0 = datetime(2025, 3, 2, 9, 0, 0)
# the printed values a step line or a metrics record carries
values = st.sampled_from([0.0, -2292.09155, 180257.59375, 0.07931, float("nan"), float("inf"), 1e-5])


@dataclass
class Case:
    """A log as lines (or records), the rows they hold, and what was done to them."""

    chunks: list[bytes]  # lines (text formats, no newline) or records (TensorBoard)
    rows: dict[int, dict]  # row id -> {"step": .., metric: value}
    row_chunks: dict[int, list[int]]  # row id -> indices into chunks
    inserted: set[int] = field(default_factory=set)  # chunk indices of inserted bad lines
    damaged: set[int] = field(default_factory=set)  # chunk indices flipped or cut

    def insert(self, at: int, chunk: bytes) -> None:
        """Insert a bad chunk before chunk ``at``; indices after it move up by one."""
        def up(i: int) -> int:
            return i + 1 if i >= at else i
        self.chunks.insert(at, chunk)
        self.row_chunks = {r: [up(i) for i in ids] for r, ids in self.row_chunks.items()}
        self.inserted = {up(i) for i in self.inserted} | {at}
        self.damaged = {up(i) for i in self.damaged}

    def intact_rows(self) -> dict[int, dict]:
        return {r: v for r, v in self.rows.items() if not (set(self.row_chunks[r]) & (self.damaged | self.inserted))
                and all(i < len(self.chunks) for i in self.row_chunks[r])}


@st.composite
def damage(draw, case: Case, bad_chunks: list[bytes], newline_free: bool) -> Case:
    """Insert bad chunks, flip bits in random chunks, and maybe cut the last chunk short."""
    for chunk in draw(st.lists(st.sampled_from(bad_chunks), max_size=3)):
        case.insert(draw(st.integers(1, len(case.chunks))), chunk)
    before = list(case.chunks)
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(case.chunks) - 1))
        if not case.chunks[i]:
            continue
        b, bit = draw(st.integers(0, len(case.chunks[i]) - 1)), draw(st.integers(0, 7))
        data = bytearray(case.chunks[i])
        data[b] ^= 1 << bit
        if newline_free and data[b] in (10, 13):  # a new line break would renumber every line after it
            data[b] ^= 0b11 << 4
        case.chunks[i] = bytes(data)
    case.damaged |= {i for i, chunk in enumerate(case.chunks) if chunk != before[i]}  # two flips may cancel
    if draw(st.booleans()):
        i = len(case.chunks) - 1
        case.chunks[i] = case.chunks[i][:draw(st.integers(0, max(len(case.chunks[i]) - 1, 0)))]
        case.damaged.add(i)
    return case


def read_or_none(path: Path, case: Case):
    """read_run, which may only refuse a file without a single intact row (a clear LogFormatError)."""
    try:
        return read_run(path)
    except LogFormatError:
        assert not case.intact_rows(), "rows were lost: the reader refused a file that holds intact rows"
        return None


def check_lines(run, case: Case) -> None:
    """Every intact row kept with its exact values; skipped lines are inserted or damaged ones, and
    every inserted line is counted once."""
    rows = {int(r["line"]): r for frame in (run.df, run.superseded) for _, r in frame.iterrows()}
    for r, values in case.intact_rows().items():
        got = rows.get(case.row_chunks[r][0] + 1)
        assert got is not None, f"intact row {values['step']} lost"
        for key, value in values.items():
            assert (math.isnan(got[key]) and math.isnan(value)) or got[key] == value, (key, got[key], value)
    skipped = [s.line for s in run.skipped]
    assert set(skipped) <= {i + 1 for i in case.inserted | case.damaged}, "an intact line was skipped"
    clean = case.inserted - case.damaged  # an inserted line that was flipped or cut may be anything
    assert sorted(x for x in skipped if x - 1 in clean) == sorted(i + 1 for i in clean)
