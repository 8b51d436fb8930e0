"""Read training logs into one tidy DataFrame: RadioDiff text logs, our metrics.jsonl / train.log,
TensorBoard event files; stitch a launch and its resumes; follow a live run incrementally.

Which files of a results folder are read:
- ``metrics.jsonl`` (the workbench trainer's full-precision record) when present, and then not
  ``train.log`` (the same numbers printed with 8 digits); other ``*.log`` files (RadioDiff's
  ``<YYYY-MM-DD-HH-MM>_.log``, one per launch) are read beside it;
- otherwise every ``*.log`` file;
- TensorBoard ``events.out.tfevents.*`` (searched below the folder) only when the folder has no
  text log and no metrics file (the text logs hold the same scalars; ``Run.notes`` says so).
A file named explicitly is always read, whatever else is given.

Errors and skips: a missing path, a folder without any log, and a run without a single training
row raise ``LogFormatError`` naming the paths. A single file (or, with ``strict=True``, any file)
that is empty or has no training line is an error naming it; within several files such a file
(e.g. a launch that crashed before its first step) is recorded in ``skipped`` with line 0 and
reason ``empty file`` / ``no training lines``, and the others are read. Every line not used is in
``skipped`` with its file, 1-based line number and reason (see ``logs_radiodiff`` for the grammar).
A cut-off last line is skipped whole (reason ``cut-off line``), its complete pairs not used: a
row with some of its values missing would be indistinguishable from one that did not log them.
``RunReader`` does not consume a last line until its newline is written (``update(final=True)``
does, as ``read_run`` does).

Stitching: segments (launches) are ordered by the time of their first line (else the time in the
file name, else the file's mtime); a segment starting at step k supersedes the current rows with
step >= k of the earlier ones (``Run.superseded``). See ``logs_stitch``.
"""
from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterable

import pandas as pd

from ..errors import LogFormatError
from ..vocabulary import LOG_METRICS, METRICS_FILE, TEXT_LOG
from .columns import MAX_STEP
from .metrics_file import MetricsParser
from .stitch import Stitcher
from .text import TextLogParser
from .tfevents import TensorBoardParser

_NAME_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)-(\d\d)-(\d\d)")
_MAX_TEXT = 500  # characters of a skipped line kept for the report


@dataclass
class SkippedLine:
    """A line (or a whole file, line 0) the reader did not use, and why."""

    file: str
    line: int
    reason: str
    text: str


def count_reasons(reasons: Iterable[str]) -> dict[str, int]:
    """How many skipped lines each reason has, in the order the reasons first occur."""
    return dict(Counter(reasons))


def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame({"step": pd.Series(dtype="int64")})


@dataclass
class Run:
    """Everything read from a run's logs (see the module docstring for the rules)."""

    df: pd.DataFrame = field(default_factory=_empty_frame)
    superseded: pd.DataFrame = field(default_factory=_empty_frame)
    config: dict | None = None
    segments: pd.DataFrame = field(default_factory=pd.DataFrame)
    skipped: list[SkippedLine] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    # True where a metric was logged in that row (a logged nan vs. a value not logged at all)
    logged: pd.DataFrame | None = None
    total_steps: int | None = None
    notes: list[str] = field(default_factory=list)
    configs: list[dict | None] = field(default_factory=list)  # per segment

    def skipped_counts(self) -> dict[str, int]:
        """Number of skipped lines per reason."""
        return count_reasons(s.reason for s in self.skipped)

    def metric_names(self) -> list[str]:
        """The metric columns present in ``df``, RadioDiff's first in their log order."""
        fixed = {"step", "time", "file", "segment", "line", "phase"}
        return [c for c in self.df.columns if c not in fixed]


def _sort_hint(path: Path) -> float:
    """Seconds (naive local clock) from a RadioDiff file name, else the file's mtime."""
    m = _NAME_TIME.search(path.name)
    if m:
        try:
            return datetime(*map(int, m.groups())).timestamp()
        except ValueError:
            pass
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _kind_of(path: Path) -> str:
    name = path.name
    if name.startswith("events.out.tfevents"):
        return "tensorboard"
    if name.endswith(".jsonl"):
        return "workbench-metrics"
    if name == TEXT_LOG:
        return "workbench-log"
    return "radiodiff-log"


def _discover(folder: Path, notes: list[str]) -> list[Path]:
    """The log files of a results folder, by the rules in the module docstring."""
    metrics = folder / METRICS_FILE
    logs = sorted(p for p in folder.glob("*.log") if p.is_file())
    chosen: list[Path] = []
    if metrics.is_file():
        chosen.append(metrics)
        if folder / TEXT_LOG in logs:
            logs.remove(folder / TEXT_LOG)
            notes.append(f"{folder / 'train.log'}: not read, {metrics} holds the same rows at full precision")
    chosen += logs
    events = sorted(p for p in folder.rglob("events.out.tfevents.*") if p.is_file())
    if not chosen:
        chosen = events
    elif events:
        notes.append(f"{len(events)} TensorBoard event file(s) under {folder}: not read, the text/metrics "
                     "logs hold the same scalars")
    return chosen


class _Shrunk(Exception):
    """A file got shorter than what was read of it: it was rewritten, read it again from the start."""


class _File:
    """Read state of one file: its parser and how far it has been read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = str(path)
        self.kind = _kind_of(path)
        hint = _sort_hint(path)
        if self.kind == "tensorboard":
            self.parser = TensorBoardParser(self.name, sort_hint=hint)
        elif self.kind == "workbench-metrics":
            self.parser = MetricsParser(self.name, sort_hint=hint)
        else:
            self.parser = TextLogParser(self.name, self.kind, sort_hint=hint)
        self.offset = 0  # bytes consumed
        self.lines = 0  # lines consumed
        self.bytes_read = 0
        self.n_skipped_taken = 0

    def read(self, final: bool) -> list:
        """Parse what was appended since the last call; returns the parser's events."""
        try:
            size = self.path.stat().st_size
        except OSError as exc:
            raise LogFormatError(f"cannot read log file {self.path}: {exc}") from exc
        if size < self.offset:
            raise _Shrunk(self.name)
        if size == self.offset:
            return []
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read(size - self.offset)
        self.bytes_read += len(data)
        if self.kind == "tensorboard":
            used, events = self.parser.feed_bytes(data, at_eof=final)
            self.offset += used
            return events
        end = len(data) if final else data.rfind(b"\n") + 1
        if end <= 0:
            return []
        chunk = data[:end]
        try:
            text, bad = chunk.decode("utf-8"), False
        except UnicodeDecodeError:
            text, bad = chunk.decode("utf-8", "surrogateescape"), True
        before = self.parser.n_lines  # the parser counts the lines it split (no second pass here)
        events = self.parser.feed(text, self.lines + 1, at_eof=final, bad_bytes=bad)
        self.offset += end
        self.lines += self.parser.n_lines - before
        return events


class RunReader:
    """Follows a run's log files: ``update()`` reads only what was appended and sees new files."""

    def __init__(self, paths) -> None:
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        self.paths = [Path(p) for p in paths]
        if not self.paths:
            raise LogFormatError("no log path given: pass a RadioDiff .log file, a metrics.jsonl, an "
                                 "events file or a results folder")
        for p in self.paths:
            if not p.exists():
                raise LogFormatError(f"no such log file or folder: {p} (pass a RadioDiff .log file, a "
                                     "metrics.jsonl, a TensorBoard events file or a results folder)")
        self.files: dict[str, _File] = {}
        self.stitcher = Stitcher()
        self.skipped: list[SkippedLine] = []
        self.notes: list[str] = []
        self._discover_notes: list[str] = []
        self._seen: set[Path] = set()
        self.run = Run()

    def _sources(self) -> list[Path]:
        notes: list[str] = []
        found: list[Path] = []
        for p in self.paths:
            found += _discover(p, notes) if p.is_dir() else [p]
        self._discover_notes = notes
        return found

    def update(self, final: bool = False) -> Run:
        """Read appended bytes of known files and any new file; return the current Run."""
        for path in self._sources():
            real = path.resolve()  # the same file named twice (a folder and its file) is read once
            if real not in self._seen:
                self._seen.add(real)
                self.files[str(path)] = _File(path)
        for name in list(self.files):
            f = self.files[name]
            try:
                events = f.read(final)
            except _Shrunk:
                f = self._reread(name)
                events = f.read(final)
            for ev in events:
                if ev.kind == "segment":
                    self.stitcher.open_segment(ev.segment)
                else:
                    self.stitcher.add_rows(ev.key, ev.rows, ev.replace_last)
            new = f.parser.skipped[f.n_skipped_taken:]
            f.n_skipped_taken += len(new)
            self.skipped += [SkippedLine(f.name, ln, reason, text[:_MAX_TEXT]) for ln, reason, text in new]
        self.run = self._build()
        return self.run

    def _reread(self, name: str) -> "_File":
        """Forget what was read of a file that was rewritten, and start it again."""
        self.stitcher.forget_file(name)
        self.skipped = [s for s in self.skipped if s.file != name]
        self.notes.append(f"{name}: the file got shorter (rewritten); read again from its start")
        self.files[name] = _File(Path(name))
        return self.files[name]

    def _build(self) -> Run:
        st = self.stitcher
        df, logged = st.current_frame(LOG_METRICS)
        superseded = st.superseded_frame(LOG_METRICS)
        configs = st.configs()
        config = next((c for c in reversed(configs) if c is not None), None)
        if config is None:
            config = next((c for c in st.unplaced_configs() if c is not None), None)
        totals = st.totals()
        for f in self.files.values():
            if f.parser.total_steps and not totals:
                totals.append(f.parser.total_steps)
        return Run(df=df, superseded=superseded, config=config, segments=st.segment_table(),
                   skipped=list(self.skipped), sources=list(self.files), logged=logged,
                   total_steps=_total_steps(config) or (totals[-1] if totals else None),
                   notes=list(self._discover_notes) + list(self.notes), configs=configs)


def _total_steps(config: dict | None) -> int | None:
    try:
        value = int(config["trainer"]["train_num_steps"])  # type: ignore[index]
    except (TypeError, KeyError, ValueError, OverflowError):  # absent, not a number, inf
        return None
    return value if 0 < value <= MAX_STEP else None


def read_run(paths, total_steps: int | None = None, *, strict: bool = False) -> Run:
    """Read a run's logs (files and/or results folders) into a Run; see the module docstring."""
    reader = RunReader(paths)
    run = reader.update(final=True)
    if not reader.files:
        raise LogFormatError(
            f"no training logs found in {', '.join(map(str, reader.paths))}: looked for *.log, "
            "metrics.jsonl and events.out.tfevents.* files")
    empty = [f for f in reader.files.values() if f.parser.step_lines == 0]
    if empty and (strict or len(reader.files) == 1 or len(empty) == len(reader.files)):
        raise LogFormatError("; ".join(_why_empty(f) for f in empty) + (
            "; pass the log of a run that has logged at least one training step"))
    for f in empty:
        run.skipped.append(SkippedLine(f.name, 0, "empty file" if f.bytes_read == 0 else "no training lines",
                                       _why_empty(f)))
    if run.df.empty:
        raise LogFormatError(f"no training rows in {', '.join(reader.files)}")
    if total_steps is not None:
        run.total_steps = int(total_steps)
    return run


def _why_empty(f: _File) -> str:
    if f.bytes_read == 0:
        return f"{f.name} is empty"
    counts = count_reasons(reason for _, reason, _ in f.parser.skipped)
    detail = ", ".join(f"{n} {r}" for r, n in sorted(counts.items())) or "no lines"
    return f"{f.name} has no training lines ({f.parser.n_lines} lines: {detail})"
