"""Reader for TensorBoard event files (``events.out.tfevents.*``), incremental by byte offset.

Records are read straight from the TFRecord framing (length, crc, payload, crc) so that a live
file can be followed from where the last read stopped; payloads are parsed with TensorBoard's
``Event`` proto. Scalars of one step become one row, named as RadioDiff's text log names them
(``TENSORBOARD_NAMES``); other tags keep their own name. Each file is one launch (segment).
"""
from __future__ import annotations

import struct

import numpy as np

from ..vocabulary import TENSORBOARD_NAMES
from .columns import NAT, batch_from_columns, metric_columns, unix_to_local
from .events import Event, SegmentInfo


def _scalar(value) -> float | None:
    """The number in a summary value (simple_value or a 0-d tensor), or None."""
    which = value.WhichOneof("value")
    if which == "simple_value":
        return float(value.simple_value)
    if which == "tensor":
        from tensorboard.util import tensor_util

        arr = tensor_util.make_ndarray(value.tensor)
        if arr.size == 1 and np.issubdtype(arr.dtype, np.number):
            return float(arr.reshape(-1)[0])
    return None


class TensorBoardParser:
    """Incremental reader of one event file: ``feed_bytes`` gives (bytes consumed, events)."""

    def __init__(self, path: str, kind: str = "tensorboard", sort_hint: float = 0.0) -> None:
        self.path, self.kind, self.sort_hint = path, kind, sort_hint
        self.info: SegmentInfo | None = None
        self.skipped: list[tuple[int, str, str]] = []
        self.n_lines = 0  # records read
        self.step_lines = 0  # scalar values used
        self.total_steps: int | None = None
        self.pending: dict | None = None  # the last step's row, which later records may extend

    def feed_bytes(self, data: bytes, at_eof: bool) -> tuple[int, list[Event]]:
        """Parse the whole records in data; a partial last record is left for later (or counted)."""
        from tensorboard.compat.proto import event_pb2

        pos, events = 0, []
        rows: list[dict] = []  # one dict per step, in file order
        replace_first = False

        def flush() -> None:
            nonlocal rows, replace_first
            if rows:
                events.append(Event("rows", key=self.info.key, rows=self._batch(rows),
                                    replace_last=replace_first))
            rows, replace_first = [], False

        while pos + 12 <= len(data):
            (length,) = struct.unpack_from("<Q", data, pos)
            end = pos + 12 + length + 4
            if end > len(data):
                break
            payload = data[pos + 12: pos + 12 + length]
            pos = end
            self.n_lines += 1
            try:
                ev = event_pb2.Event.FromString(payload)
            except Exception:  # noqa: BLE001 - any decode failure of a foreign record is counted
                self.skipped.append((self.n_lines, "unreadable record", f"{length} bytes"))
                continue
            if self.info is None:
                self._open(ev.wall_time, events)
            if not ev.HasField("summary"):
                continue
            step, last = int(ev.step), self.pending
            if last is not None and step == last["_step"]:
                row = last  # more scalars of the same step
                if not rows:  # ... whose row was handed over by the previous read: redo it
                    rows.append(row)
                    replace_first = True
            else:
                if last is not None and step < last["_step"]:
                    flush()  # the step went back inside one file: a restart
                    self._open(ev.wall_time, events)
                row = {"_time": ev.wall_time, "_line": self.n_lines, "_step": step}
                rows.append(row)
                self.pending = row
            for value in ev.summary.value:
                x = _scalar(value)
                if x is None:
                    continue
                row[TENSORBOARD_NAMES.get(value.tag, value.tag)] = x
                self.step_lines += 1
        if at_eof and pos < len(data):
            self.skipped.append((self.n_lines + 1, "cut-off record", f"{len(data) - pos} bytes"))
            pos = len(data)
        flush()
        return pos, events

    def _open(self, wall_time: float, events: list[Event]) -> None:
        local = 0 if self.info is None else self.info.key[1] + 1
        self.info = SegmentInfo(key=(self.path, local), file=self.path, kind=self.kind,
                                start_time=_when(wall_time), sort_hint=self.sort_hint)
        self.pending = None
        events.append(Event("segment", segment=self.info))

    def _batch(self, rows: list[dict]):
        metrics, logged = metric_columns(rows, lambda key, _value: not key.startswith("_"))
        steps = np.array([row["_step"] for row in rows], np.int64)
        times = np.array([_when(row["_time"]) for row in rows], "datetime64[ns]")
        lines = np.array([row["_line"] for row in rows], np.int64)
        return batch_from_columns(steps, times, lines, metrics, logged)


def _when(wall_time: float) -> np.datetime64:
    return unix_to_local(wall_time) if wall_time else NAT
