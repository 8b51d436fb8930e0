"""Parser for the workbench trainer's ``metrics.jsonl`` (one JSON record per line).

Records: ``launch`` (starts a segment, carries the config and ``start_step``), ``rewind`` (the
launch replaces earlier rows from ``to_step`` on), ``step`` (one row; every key other than
kind/launch/time/step/phase is a metric under its RadioDiff name). A line that is not a JSON
object (or one nested too deeply for the decoder), a record of an unknown kind, a launch number
that is not an int or a string, a step that is not a whole number in 0..int64, or a rewind to
such a step is skipped and counted with its reason (a negative step would otherwise look like a
restart and set the launch's rows aside). A step record with a value that is not a number, or one
no float holds (``1e400`` reads as inf and is kept; a 400-digit integer is not), keeps its other
values and the bad key is counted as ``non-numeric value`` / ``value out of range``.
"""
from __future__ import annotations

import json

import numpy as np

from ..vocabulary import KIND_METRICS, PHASES, RECORD_FIELDS, RECORD_LAUNCH, RECORD_REWIND, RECORD_STEP
from .columns import NAT, batch_from_columns, metric_columns, step_of, unix_to_local
from .events import Event, SegmentInfo, SkipLog, has_bad_bytes


_FLOAT_MAX = int(np.finfo(np.float64).max)


def _is_metric_key(key: str) -> bool:
    return key not in RECORD_FIELDS and key != "_line"


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _unix_to_dt(value) -> np.datetime64:
    try:
        return unix_to_local(float(value))
    except (TypeError, ValueError, OverflowError, OSError):
        return NAT


class MetricsParser:
    """Incremental parser of one metrics.jsonl: ``feed`` complete lines, get events."""

    def __init__(self, path: str, kind: str = KIND_METRICS, sort_hint: float = 0.0) -> None:
        self.path, self.kind, self.sort_hint = path, kind, sort_hint
        self.launches: dict[int, SegmentInfo] = {}
        self.current: SegmentInfo | None = None
        self.last_step: int | None = None
        self.local = -1
        self.skipped = SkipLog()  # (line, reason, text) of the lines not used
        self.n_lines = 0
        self.step_lines = 0
        self.total_steps: int | None = None
        self._events: list[Event] = []  # what the feed() in progress hands over
        self._rows: list[dict] = []  # its step records not yet handed over

    def _open(self, launch, when=NAT, config=None, rewind_to=None) -> tuple[SegmentInfo, bool]:
        """The segment of launch number ``launch``: (info, newly created)."""
        info = self.launches.get(launch) if launch is not None else None
        if info is not None and info is self.current:
            return info, False
        self.local += 1
        info = SegmentInfo(key=(self.path, self.local), file=self.path, kind=self.kind,
                           start_time=when, config=config, rewind_to=rewind_to, sort_hint=self.sort_hint)
        if launch is not None:
            self.launches[launch] = info
        self.current = info
        self.last_step = None
        return info, True

    def feed(self, text: str, first_line: int, at_eof: bool, bad_bytes: bool = False) -> list[Event]:
        """Parse complete lines (the last one may lack its newline only when at_eof)."""
        lines = text.split("\n")
        partial = bool(lines) and lines[-1] != ""
        if not partial and lines:
            lines.pop()
        self.n_lines += len(lines)
        self._events, self._rows = [], []
        for k, line in enumerate(lines):
            cut = partial and at_eof and k == len(lines) - 1
            rec = self._record(first_line + k, line, bad_bytes, cut)
            if rec is not None:
                self._take(rec, first_line + k, line)
        self._flush()
        return self._events

    def long_line(self, ln: int, start: str) -> None:
        """Line ``ln`` was too long to hold (the reader read past it): counted, its start kept."""
        self.n_lines += 1
        self.skipped.append((ln, "line too long", start))

    def finish(self) -> None:
        """The file has ended (every record was complete when fed: nothing is pending)."""

    def _record(self, ln: int, line: str, bad_bytes: bool, cut: bool) -> dict | None:
        """The JSON object of a line, or None (the line is counted as skipped with its reason)."""
        if bad_bytes and has_bad_bytes(line):
            self.skipped.append((ln, "non-utf8 bytes", line))
            return None
        if not line.strip():
            self.skipped.append((ln, "blank", line))
            return None
        try:
            rec = json.loads(line)
        except ValueError:
            self.skipped.append((ln, "cut-off line" if cut else "not JSON", line))
            return None
        except RecursionError:  # the decoder recurses once per nesting level
            self.skipped.append((ln, "nested too deeply", line))
            return None
        if not isinstance(rec, dict):
            self.skipped.append((ln, "unknown record", line))
            return None
        return rec

    def _take(self, rec: dict, ln: int, line: str) -> None:
        """Dispatch one record by its kind."""
        kind, launch = rec.get("kind"), rec.get("launch")
        if launch is not None and (isinstance(launch, bool) or not isinstance(launch, (int, str))):
            self.skipped.append((ln, "unusable launch number", line))  # e.g. a list: no dict key
        elif kind == RECORD_LAUNCH:
            self._launch(rec)
        elif kind == RECORD_REWIND:
            self._rewind(rec, ln, line)
        elif kind == RECORD_STEP:
            step = step_of(rec.get("step"))
            if step is None:
                number = isinstance(rec.get("step"), (int, float)) and not isinstance(rec.get("step"), bool)
                self.skipped.append((ln, "step out of range" if number else "step not a number", line))
            else:
                rec["step"] = step
                self._step(rec, ln)
        else:
            self.skipped.append((ln, "unknown record", line))

    def _flush(self) -> None:
        """Hand the step rows gathered so far over as one batch of the current segment."""
        if self._rows:
            self._events.append(Event("rows", key=self.current.key, rows=self._batch(self._rows)))
            self._rows = []

    def _launch(self, rec: dict) -> None:
        self._flush()
        config = rec.get("config") if isinstance(rec.get("config"), dict) else None
        info, _ = self._open(rec.get("launch"), _unix_to_dt(rec.get("time")), config, step_of(rec.get("start_step")))
        self._events.append(Event("segment", segment=info))
        trainer = config.get("trainer") if config else None
        total = step_of(trainer.get("train_num_steps")) if isinstance(trainer, dict) else None
        if total:
            self.total_steps = info.total_steps = total

    def _rewind(self, rec: dict, ln: int, line: str) -> None:
        self._flush()
        to = step_of(rec.get("to_step"))
        info = self.launches.get(rec.get("launch"), self.current)
        if info is None or to is None:
            self.skipped.append((ln, "unusable rewind record", line))
            return
        if info.rewind_to is None or to < info.rewind_to:
            info.rewind_to = to
        self._events.append(Event("segment", segment=info))  # re-announce: the stitcher re-places it

    def _step(self, rec: dict, ln: int) -> None:
        launch = rec.get("launch")
        if self.current is None or (launch is not None and self.launches.get(launch) is not self.current):
            self._flush()
            info, new = self._open(launch, _unix_to_dt(rec.get("time")))
            if new:
                self._events.append(Event("segment", segment=info))
        step = rec["step"]
        if self.last_step is not None and step <= self.last_step:
            self._flush()  # the step went back without a launch record: a restart
            info, _ = self._open(None, _unix_to_dt(rec.get("time")))
            self._events.append(Event("segment", segment=info))
        self.last_step = step
        rec["_line"] = ln
        for key, value in list(rec.items()):
            if not _is_metric_key(key) or value is None:
                continue
            if not _is_number(value):
                self.skipped.append((ln, "non-numeric value", f"{key}: {value!r}"))
            elif isinstance(value, int) and not -_FLOAT_MAX <= value <= _FLOAT_MAX:
                self.skipped.append((ln, "value out of range", f"{key}: {str(value)[:40]}..."))
                del rec[key]  # no float holds it
        self._rows.append(rec)
        self.step_lines += 1

    def _batch(self, rows: list[dict]):
        n = len(rows)
        metrics, logged = metric_columns(rows, lambda key, value: _is_metric_key(key) and _is_number(value))
        phase = np.full(n, -1, np.int8)
        for r, rec in enumerate(rows):
            if rec.get("phase") in PHASES:
                phase[r] = PHASES.index(rec["phase"])
        steps = np.array([rec["step"] for rec in rows], np.int64)
        times = np.array([_unix_to_dt(rec.get("time")) for rec in rows], "datetime64[ns]")
        lines = np.array([rec["_line"] for rec in rows], np.int64)
        return batch_from_columns(steps, times, lines, metrics, logged,
                                  phase if (phase >= 0).any() else None)
