"""One run from several sources: text logs (or metrics.jsonl) and TensorBoard event files merged.

Launches: every text segment (a launch of a text log or of metrics.jsonl) is a launch; an event
segment joins the text launch whose start is nearest to its file's first record, within
``MATCH_SLACK_S`` (a launch writes its first log record and opens its event file within moments of
each other, in either order), one event segment per text launch; without timestamps, the text
launch whose first step is the first at or after the event segment's first step and within its
range. An event segment left over is a launch of its own.

Rows of a launch: the union of the steps of its text and event rows. A step in both is one row: the
events' value where they logged one (more precise than a text log: RadioDiff's ``Learning_Rate``
keeps the digits the text's ``{:.5f}`` drops), the text's value for what the events lack (the VAE's
nll_loss and logvar, the discriminator's lr); metrics.jsonl's float64 values win over the float32
event scalars. The two values are compared first: equal within the
text's printed precision (half a unit of the 5th decimal for RadioDiff's logs, of the 8th significant
digit for train.log, exact for metrics.jsonl) plus float32 rounding of the event value, or a
disagreement, counted per metric and per file and listed with its steps, never averaged.

Launches are then stitched as the single-source reader does: a later launch supersedes the rows at
and after its start step (``stitch.py``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..vocabulary import KIND_EVENTS, KIND_METRICS, KIND_RADIODIFF_LOG, KIND_WORKBENCH_LOG
from .columns import NAT, ColumnStore
from .events import SegmentInfo
from .stitch import segment_frame

MATCH_SLACK_S = 300.0  # an event file is opened within minutes of the launch's first log record
FLOAT32_RTOL = 2.0 ** -23  # an event scalar is a float32
# (absolute, relative) precision of each text kind's printed values
TEXT_PRECISION = {KIND_RADIODIFF_LOG: (0.5e-5, 0.0), KIND_WORKBENCH_LOG: (0.0, 5e-8), KIND_METRICS: (0.0, 0.0)}
MAX_EXAMPLES = 5


@dataclass
class Launch:
    """A launch: its text segment and its event segment (either may be missing)."""

    text: SegmentInfo | None
    events: SegmentInfo | None = None

    @property
    def main(self) -> SegmentInfo:
        return self.text if self.text is not None else self.events

    def sort_key(self) -> tuple:
        return self.main.sort_key()


@dataclass
class Merged:
    """The merged timeline and what the merge found."""

    cur: ColumnStore
    sup: ColumnStore
    segments: pd.DataFrame
    file_stats: dict[str, dict[str, int]] = field(default_factory=dict)
    disagreements: list[dict] = field(default_factory=list)
    configs: list[dict | None] = field(default_factory=list)  # per stitched launch


def _seconds(t: np.datetime64) -> float | None:
    return None if np.isnat(t) else float(t.astype("datetime64[ns]").astype(np.int64)) / 1e9


def _first_step(info: SegmentInfo) -> int | None:
    return int(info.rows.base["step"][0]) if info.rows.n else None


def _partner(ev: SegmentInfo, texts: list[SegmentInfo], taken: set[int]) -> SegmentInfo | None:
    """The text launch an event segment belongs to, or None."""
    t_ev = _seconds(ev.start_time)
    timed = [t for t in texts if _seconds(t.start_time) is not None]
    if t_ev is not None and timed:
        near = [t for t in timed if id(t) not in taken and abs(_seconds(t.start_time) - t_ev) <= MATCH_SLACK_S]
        return min(near, key=lambda t: abs(_seconds(t.start_time) - t_ev)) if near else None
    first, last = _first_step(ev), int(ev.rows.base["step"][ev.rows.n - 1])
    cands = [t for t in texts if id(t) not in taken and t.rows.n and first <= _first_step(t) <= last]
    return min(cands, key=_first_step) if cands else None


def match_launches(segments: list[SegmentInfo]) -> list[Launch]:
    """Text and event segments paired into launches, in time order."""
    texts = sorted((s for s in segments if s.kind != KIND_EVENTS), key=SegmentInfo.sort_key)
    events = sorted((s for s in segments if s.kind == KIND_EVENTS and s.rows.n), key=SegmentInfo.sort_key)
    launches = {id(t): Launch(t) for t in texts}
    alone: list[Launch] = []
    for ev in events:
        t = _partner(ev, texts, {k for k, la in launches.items() if la.events is not None})
        if t is None:
            alone.append(Launch(None, ev))
        else:
            launches[id(t)].events = ev
    return sorted(list(launches.values()) + alone, key=Launch.sort_key)


def agree(text: np.ndarray, events: np.ndarray, kind: str) -> np.ndarray:
    """Where a text value and an event value are the same number within the text's precision."""
    atol, rtol = TEXT_PRECISION.get(kind, (0.0, 0.0))
    with np.errstate(invalid="ignore"):
        tol = atol * (1 + 1e-9) + rtol * np.abs(text) + FLOAT32_RTOL * np.abs(events)
        close = np.abs(text - events) <= tol
    return close | (text == events) | (np.isnan(text) & np.isnan(events))


@dataclass
class _LaunchRows:
    rows: ColumnStore
    text_steps: np.ndarray
    event_steps: np.ndarray
    both: np.ndarray  # steps in both sources
    disagree: np.ndarray  # steps where some value disagrees


def _empty() -> ColumnStore:
    return ColumnStore(1)


def merge_launch(la: Launch, codes: dict[str, int], renames: dict[str, str],
                 found: dict[tuple[str, str], dict]) -> _LaunchRows:
    """The rows of one launch, text and events merged; disagreements added to ``found``."""
    t = la.text.rows if la.text is not None else _empty()
    e = la.events.rows if la.events is not None else _empty()
    ts, es = t.base["step"][:t.n], e.base["step"][:e.n]
    steps = np.union1d(ts, es)
    n = steps.size
    pt, pe = np.searchsorted(steps, ts), np.searchsorted(steps, es)
    out = ColumnStore(max(n, 1))
    out.n = n
    out.base["step"][:n] = steps
    out.base["segment"][:n] = -1
    time, line, code, phase = (out.base[k] for k in ("time", "line", "file", "phase"))
    time[:n], line[:n], phase[:n] = NAT, -1, -1
    if la.events is not None:
        time[pe], line[pe], code[pe] = e.base["time"][:e.n], e.base["line"][:e.n], codes[la.events.file]
    if la.text is not None:
        line[pt], code[pt] = t.base["line"][:t.n], codes[la.text.file]
        t_time = t.base["time"][:t.n]
        keep = np.isnat(time[pt])
        time[pt[keep]] = t_time[keep]
        phase[pt] = t.base["phase"][:t.n]
        out.has_phase = t.has_phase
    for name, vals in t.metrics.items():
        col, logged = out.column(name)
        col[pt], logged[pt] = vals[:t.n], t.logged[name][:t.n]
    disagree = np.zeros(n, bool)
    in_text = np.zeros(n, bool)
    in_text[pt] = True
    for raw, vals in e.metrics.items():
        name = renames.get(raw, raw)
        col, logged = out.column(name)
        elog = e.logged[raw][:e.n]
        at = pe[elog]
        ev = vals[:e.n][elog]
        both = in_text[at] & logged[at]
        if both.any():
            bad = ~agree(col[at][both], ev[both], la.text.kind)
            if bad.any():
                disagree[at[both][bad]] = True
                _note(found, la, name, steps[at[both][bad]], col[at][both][bad], ev[both][bad])
        # metrics.jsonl holds float64 values: there they win over the float32 event scalars
        fill = ~both if la.text is not None and la.text.kind == KIND_METRICS else np.ones(at.size, bool)
        col[at[fill]], logged[at[fill]] = ev[fill], True
    both_steps = np.intersect1d(ts, es, assume_unique=True)
    return _LaunchRows(out, ts.copy(), es.copy(), both_steps, steps[disagree])


def _note(found: dict, la: Launch, name: str, steps: np.ndarray, text: np.ndarray, events: np.ndarray) -> None:
    key = (la.text.file, name)
    rec = found.setdefault(key, {"metric": name, "text_file": la.text.file, "events_file": la.events.file,
                                 "count": 0, "examples": []})
    rec["count"] += int(steps.size)
    room = MAX_EXAMPLES - len(rec["examples"])
    rec["examples"] += [{"step": int(s), "text": float(a), "events": float(b)}
                        for s, a, b in zip(steps[:room], text[:room], events[:room])]


def merge_segments(segments: list[SegmentInfo], codes: dict[str, int], renames: dict[str, str]) -> Merged:
    """Pair, merge and stitch every segment of a run read from text and event files together."""
    launches = match_launches(segments)
    found: dict[tuple[str, str], dict] = {}
    cur, sup = ColumnStore(), ColumnStore()
    placed: list[tuple[Launch, _LaunchRows]] = []
    for la in launches:
        got = merge_launch(la, codes, renames, found)
        rewind = la.text.rewind_to if la.text is not None else None
        if got.rows.n == 0 and rewind is None:
            continue
        start = rewind if rewind is not None else int(got.rows.base["step"][0])
        cut = int(np.searchsorted(cur.base["step"][:cur.n], start, side="left"))
        sup.append_from(cur, cut, cur.n)
        cur.truncate(cut)
        cur.append_from(got.rows, segment=len(placed))
        placed.append((la, got))
    return Merged(cur, sup, _segment_table(placed), _file_stats(cur, placed), list(found.values()),
                  [la.text.config if la.text is not None else None for la, _ in placed])


def _segment_table(placed: list[tuple[Launch, "_LaunchRows"]]) -> pd.DataFrame:
    recs = []
    for k, (la, got) in enumerate(placed):
        steps = got.rows.base["step"][:got.rows.n]
        ends = [s.end_time for s in (la.text, la.events) if s is not None and s.rows.n and not np.isnat(s.end_time)]
        start = la.main.start_time if not np.isnat(la.main.start_time) or la.events is None else la.events.start_time
        recs.append({"segment": k, "file": la.main.file, "first_step": int(steps[0]) if steps.size else None,
                     "last_step": int(steps[-1]) if steps.size else None, "start_time": start,
                     "end_time": max(ends) if ends else start, "n_rows": int(steps.size), "kind": la.main.kind,
                     "rewind_to": la.text.rewind_to if la.text is not None and la.text.rewind_to is not None
                     else (int(steps[0]) if steps.size else None),
                     "events_file": la.events.file if la.events is not None and la.text is not None else None})
    return segment_frame(recs, extra=("events_file",))


def _file_stats(cur: ColumnStore, placed: list[tuple[Launch, "_LaunchRows"]]) -> dict[str, dict[str, int]]:
    """Per file: rows read, rows used in the current timeline, rows merged with the other source, rows
    with a disagreement (the last three counted on the current timeline)."""
    stats: dict[str, dict[str, int]] = {}
    seg, steps = cur.base["segment"][:cur.n], cur.base["step"][:cur.n]
    for k, (la, got) in enumerate(placed):
        mine = steps[seg == k]
        for info, own in ((la.text, got.text_steps), (la.events, got.event_steps)):
            if info is None:
                continue
            s = stats.setdefault(info.file, {"rows_read": 0, "rows_used": 0, "rows_duplicate": 0,
                                             "rows_disagreeing": 0})
            s["rows_read"] += int(own.size)
            s["rows_used"] += int(np.isin(mine, own, assume_unique=True).sum())
            s["rows_duplicate"] += int(np.isin(mine, got.both, assume_unique=True).sum())
            s["rows_disagreeing"] += int(np.isin(mine, got.disagree, assume_unique=True).sum())
    return stats
