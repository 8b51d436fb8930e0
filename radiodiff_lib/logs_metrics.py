"""Parser for the workbench trainer's ``metrics.jsonl`` (contracts section C).

Records: ``launch`` (starts a segment, carries the config and ``start_step``), ``rewind`` (the
launch replaces earlier rows from ``to_step`` on), ``step`` (one row; every key other than
kind/launch/time/step/phase is a metric under its RadioDiff name). A line that is not a JSON
object, or a record of an unknown kind, is skipped and counted; a step record with a value that
is not a number keeps its other values and the bad key is counted as ``non-numeric value``.
"""
from __future__ import annotations

import json
import re

import numpy as np

from .logs_radiodiff import Event
from .logs_stitch import NAT, PHASES, SegmentInfo, batch_from_columns, unix_to_local

_RESERVED = {"kind", "launch", "time", "step", "phase"}
_SURROGATE = re.compile("[\udc80-\udcff]")


def _unix_to_dt(value) -> np.datetime64:
    try:
        return unix_to_local(float(value))
    except (TypeError, ValueError, OverflowError, OSError):
        return NAT


def metric_columns(rows: list[dict], keep) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Records -> one float column per metric (NaN where a record lacks it) and its logged mask;
    ``keep(key, value)`` says which entries are metrics."""
    n = len(rows)
    metrics: dict[str, np.ndarray] = {}
    logged: dict[str, np.ndarray] = {}
    for r, rec in enumerate(rows):
        for key, value in rec.items():
            if not keep(key, value):
                continue
            if key not in metrics:
                metrics[key] = np.full(n, np.nan)
                logged[key] = np.zeros(n, bool)
            metrics[key][r] = value
            logged[key][r] = True
    return metrics, logged


class MetricsParser:
    """Incremental parser of one metrics.jsonl: ``feed`` complete lines, get events."""

    def __init__(self, path: str, kind: str = "workbench-metrics", sort_hint: float = 0.0) -> None:
        self.path, self.kind, self.sort_hint = path, kind, sort_hint
        self.launches: dict[int, SegmentInfo] = {}
        self.current: SegmentInfo | None = None
        self.last_step: int | None = None
        self.local = -1
        self.skipped: list[tuple[int, str, str]] = []
        self.n_lines = 0
        self.step_lines = 0
        self.total_steps: int | None = None

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
        events: list[Event] = []
        rows: list[dict] = []

        def flush() -> None:
            if rows:
                events.append(Event("rows", key=self.current.key, rows=self._batch(rows)))
                rows.clear()

        for k, line in enumerate(lines):
            ln = first_line + k
            if bad_bytes and _SURROGATE.search(line):
                shown = line.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                self.skipped.append((ln, "non-utf8 bytes", shown))
                continue
            if not line.strip():
                self.skipped.append((ln, "blank", line))
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                reason = "cut-off line" if (partial and at_eof and k == len(lines) - 1) else "not JSON"
                self.skipped.append((ln, reason, line))
                continue
            kind = rec.get("kind") if isinstance(rec, dict) else None
            if kind == "launch":
                flush()
                config = rec.get("config") if isinstance(rec.get("config"), dict) else None
                start = rec.get("start_step")
                info, _ = self._open(rec.get("launch"), _unix_to_dt(rec.get("time")), config,
                                     int(start) if isinstance(start, (int, float)) else None)
                events.append(Event("segment", segment=info))
                total = (config or {}).get("trainer", {}).get("train_num_steps") if config else None
                if isinstance(total, int):
                    self.total_steps = info.total_steps = total
            elif kind == "rewind":
                flush()
                to = rec.get("to_step")
                info = self.launches.get(rec.get("launch"), self.current)
                if info is None or not isinstance(to, (int, float)):
                    self.skipped.append((ln, "unusable rewind record", line))
                    continue
                if info.rewind_to is None or to < info.rewind_to:
                    info.rewind_to = int(to)
                events.append(Event("segment", segment=info))  # re-announce: the stitcher re-places it
            elif kind == "step" and isinstance(rec.get("step"), int):
                launch = rec.get("launch")
                if self.current is None or (launch is not None and self.launches.get(launch) is not self.current):
                    flush()
                    info, new = self._open(launch, _unix_to_dt(rec.get("time")))
                    if new:
                        events.append(Event("segment", segment=info))
                step = rec["step"]
                if self.last_step is not None and step <= self.last_step:
                    flush()  # the step went back without a launch record: a restart
                    info, _ = self._open(None, _unix_to_dt(rec.get("time")))
                    events.append(Event("segment", segment=info))
                self.last_step = step
                rec["_line"] = ln
                for key, value in rec.items():
                    if key not in _RESERVED and key != "_line" and not (
                            isinstance(value, (int, float)) and not isinstance(value, bool)) and value is not None:
                        self.skipped.append((ln, "non-numeric value", f"{key}: {value!r}"))
                rows.append(rec)
                self.step_lines += 1
            else:
                self.skipped.append((ln, "unknown record", line))
        flush()
        return events

    def _batch(self, rows: list[dict]):
        n = len(rows)
        metrics, logged = metric_columns(
            rows, lambda key, value: key not in _RESERVED and key != "_line"
            and isinstance(value, (int, float)) and not isinstance(value, bool))
        phase = np.full(n, -1, np.int8)
        for r, rec in enumerate(rows):
            if rec.get("phase") in PHASES:
                phase[r] = PHASES.index(rec["phase"])
        steps = np.array([rec["step"] for rec in rows], np.int64)
        times = np.array([_unix_to_dt(rec.get("time")) for rec in rows], "datetime64[ns]")
        lines = np.array([rec["_line"] for rec in rows], np.int64)
        return batch_from_columns(steps, times, lines, metrics, logged,
                                  phase if (phase >= 0).any() else None)
