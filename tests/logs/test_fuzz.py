"""Fuzz (issue 10): the three log formats with random insertions of huge numbers, deeply nested JSON,
flipped bits and truncation. The reader never raises, every row whose lines were not damaged is
kept with its exact values, no undamaged line is skipped, and every inserted bad line is counted.

A flipped bit in a text or JSON line may leave a valid line with another value (a text format has
no checksum): such a line is "damaged", and only its own row is exempt from the exact check. In a
TensorBoard file every damaged record is caught by its checksums: exactly the undamaged records'
scalars come back. The fast suite draws a few dozen cases per format; ``-m slow`` draws many more.
"""
from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.record_writer import RecordWriter

from radiodiff_lib.errors import LogFormatError
from radiodiff_lib.logs import read_run
from tests.helpers.logfactory import DISC_KEYS, GEN_KEYS, asctime, step_line

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HUGE = "9" * 30
DEEP_JSON = "[" * 50_000 + "]" * 50_000
T0 = datetime(2025, 3, 2, 9, 0, 0)


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


# ---- the damage every format gets -----------------------------------------------------------

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


# ---- RadioDiff text log -----------------------------------------------------------------------

values = st.sampled_from([0.0, -2292.09155, 180257.59375, 0.07931, float("nan"), float("inf"), 1e-5])


@st.composite
def text_log(draw) -> Case:
    n = draw(st.integers(1, 25))
    steps = sorted(draw(st.sets(st.integers(0, 10_000), min_size=n, max_size=n)))
    case = Case([], {}, {})
    for r, step in enumerate(steps):
        when = T0 + timedelta(seconds=step)
        gen = {k: draw(values) for k in GEN_KEYS}
        if draw(st.booleans()):  # a value too big for a float64 prints as a long number: inf
            gen[GEN_KEYS[0]] = float("inf")
        case.row_chunks[r] = [len(case.chunks)]
        line = step_line(step, 10_000, gen, when)
        case.chunks.append(line.replace("inf", "1" + "0" * 400, 1).encode() if gen[GEN_KEYS[0]] == float("inf")
                           else line.encode())
        row = {"step": step, **{k: float(f"{v:.5f}") for k, v in gen.items()}}
        if draw(st.booleans()):
            disc = {k: draw(values) for k in DISC_KEYS}
            case.row_chunks[r].append(len(case.chunks))
            case.chunks.append(step_line(step, 10_000, disc, when).encode())
            row.update({k: float(f"{v:.5f}") for k, v in disc.items()})
        case.rows[r] = row
    bad = [f"{asctime(T0)} [Train Step] {HUGE}/10000: train/total_loss: 1.00000, ".encode(),
           f"{asctime(T0)} {{'a': ".encode() * 2000 + b"1" + b"}" * 2000,
           DEEP_JSON.encode(), b"\xff\xfe garbage"]
    return draw(damage(case, bad, newline_free=True))


def _check_text(tmp_path_factory, case: Case) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "2025-03-02-09-00_.log"
    path.write_bytes(b"\n".join(case.chunks) + (b"\n" if case.chunks[-1] else b""))
    run = read_or_none(path, case)
    if run is not None:
        check_lines(run, case)


@FAST
@given(text_log())
def test_text_log_fuzz(tmp_path_factory, case):
    _check_text(tmp_path_factory, case)


@pytest.mark.slow
@SLOW
@given(text_log())
def test_text_log_fuzz_long(tmp_path_factory, case):
    _check_text(tmp_path_factory, case)


# ---- metrics.jsonl -----------------------------------------------------------------------------

@st.composite
def metrics_file(draw) -> Case:
    n = draw(st.integers(1, 25))
    steps = sorted(draw(st.sets(st.integers(0, 10_000), min_size=n, max_size=n)))
    launch = {"kind": "launch", "launch": 0, "time": 1.75e9, "start_step": steps[0],
              "config": {"trainer": {"train_num_steps": 10_000}}}
    case = Case([json.dumps(launch).encode()], {}, {})
    for r, step in enumerate(steps):
        vals = {k: draw(values) for k in GEN_KEYS[:4]}
        rec = {"kind": "step", "launch": 0, "time": 1.75e9 + step, "step": step, **vals}
        line = json.dumps(rec)
        if draw(st.booleans()):  # a number past float64 reads as inf
            line = line.replace(json.dumps(vals[GEN_KEYS[0]]), "1e999", 1)
            vals[GEN_KEYS[0]] = json.loads(line)[GEN_KEYS[0]]
        case.row_chunks[r] = [len(case.chunks)]
        case.chunks.append(line.encode())
        case.rows[r] = {"step": step, **vals}
    bad = [b'{"kind": "step", "launch": 0, "step": 1e30, "train/total_loss": 1.0}',
           b'{"kind": "step", "launch": 0, "step": ' + HUGE.encode() + b', "train/total_loss": 1.0}',
           b'{"kind": "step", "launch": 0, "step": -3, "train/total_loss": 1.0}',
           b'{"kind": "step", "launch": [0], "step": 3, "train/total_loss": 1.0}',
           DEEP_JSON.encode(), ('{"a": ' * 3000 + "1" + "}" * 3000).encode()]
    return draw(damage(case, bad, newline_free=True))


def _check_metrics(tmp_path_factory, case: Case) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "metrics.jsonl").write_bytes(b"\n".join(case.chunks) + (b"\n" if case.chunks[-1] else b""))
    run = read_or_none(folder / "metrics.jsonl", case)
    if run is not None:
        check_lines(run, case)


@FAST
@given(metrics_file())
def test_metrics_file_fuzz(tmp_path_factory, case):
    _check_metrics(tmp_path_factory, case)


@pytest.mark.slow
@SLOW
@given(metrics_file())
def test_metrics_file_fuzz_long(tmp_path_factory, case):
    _check_metrics(tmp_path_factory, case)


# ---- TensorBoard event file ----------------------------------------------------------------------

def framed(payload: bytes) -> bytes:
    """One TFRecord as TensorBoard's own RecordWriter frames it."""
    buf = io.BytesIO()
    RecordWriter(buf).write(payload)
    return buf.getvalue()


def scalar_event(step: int, tag: str, value: float, t: float) -> bytes:
    summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
    return event_pb2.Event(wall_time=t, step=step, summary=summary).SerializeToString()


def _nested_groups(depth: int) -> bytes:
    start, end = bytes([0xA3, 0x06]), bytes([0xA4, 0x06])  # field 100, start / end group
    return start * depth + end * depth


@st.composite
def event_file(draw) -> Case:
    n = draw(st.integers(1, 20))
    steps = sorted(draw(st.sets(st.integers(0, 10_000), min_size=n, max_size=n)))
    version = event_pb2.Event(wall_time=1.75e9, file_version="brain.Event:2").SerializeToString()
    case = Case([framed(version)], {}, {})
    r = 0
    for step in steps:
        for tag in draw(st.lists(st.sampled_from(["rec_loss", "total_loss", "kl_loss"]), min_size=1, max_size=3,
                                 unique=True)):
            value = draw(st.sampled_from([1.142, -2292.5, 3.4e38, float("inf"), 0.0]))
            case.row_chunks[r] = [len(case.chunks)]
            case.chunks.append(framed(scalar_event(step, tag, value, 1.75e9 + step)))
            case.rows[r] = {"step": step, "tag": tag, "value": value}
            r += 1
    bad = [framed(scalar_event(-7, "rec_loss", 1.0, 1.75e9)), framed(_nested_groups(20_000)),
           b"\x00\x01garbage that is no record\xff" * 3]
    return draw(damage(case, bad, newline_free=False))


def _check_events(tmp_path_factory, case: Case) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "events.out.tfevents.1.host"
    path.write_bytes(b"".join(case.chunks))
    run = read_or_none(path, case)
    names = {"rec_loss": "train/rec_loss", "total_loss": "train/total_loss", "kl_loss": "train/kl_loss"}
    expected: dict[int, dict] = {}
    for rec in case.intact_rows().values():
        expected.setdefault(rec["step"], {})[names[rec["tag"]]] = rec["value"]
    if run is None:
        return
    got = {}
    for k, (_, row) in enumerate(run.df.iterrows()):
        got[int(row["step"])] = {m: row[m] for m in names.values()
                                 if m in run.logged.columns and run.logged[m].iloc[k]}
    # every intact scalar is back with its float32 value, and nothing else (a damaged record never reads)
    assert {s: got.get(s) for s in expected} == {s: {m: pytest.approx(v, rel=1e-6) for m, v in d.items()}
                                                for s, d in expected.items()}
    assert set(got) <= set(expected)
    assert len(run.superseded) == 0
    # each skip covers at least one bad record (a search past a bad length may cover several)
    bad = case.inserted | case.damaged
    visible = bad - ({len(case.chunks) - 1} if not case.chunks[-1] else set())  # a cut at a record boundary
    assert len(run.skipped) <= len(bad), (run.skipped, bad)
    assert bool(run.skipped) == bool(visible), (run.skipped, bad)


@FAST
@given(event_file())
def test_event_file_fuzz(tmp_path_factory, case):
    _check_events(tmp_path_factory, case)


@pytest.mark.slow
@SLOW
@given(event_file())
def test_event_file_fuzz_long(tmp_path_factory, case):
    _check_events(tmp_path_factory, case)
