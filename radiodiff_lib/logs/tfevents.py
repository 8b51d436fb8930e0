"""Reader for TensorBoard event files (``events.out.tfevents.*``), incremental by byte offset.

Records are read straight from the TFRecord framing (uint64 length, masked crc32c of the length,
payload, masked crc32c of the payload) so that a live file can be followed from where the last
read stopped; payloads are parsed with TensorBoard's ``Event`` proto. Scalars of one step become
one row, named as RadioDiff's text log names them (``TENSORBOARD_NAMES``); other tags keep their
own name. Each file is one launch (segment).

Both checksums are verified (crc32c from ``google-crc32c``). A record whose payload checksum is
wrong is skipped (``bad record checksum``): one flipped bit would otherwise turn a loss of 1.142
into 2.66e-10. A record whose length checksum is wrong has a length that cannot be trusted, so
nothing is read at that length: the reader looks for the next position where a length and its
checksum agree (and the payload's checksum too) and goes on from there, counting the bytes in
between once (``bad record length``). A record with a negative step, or a non-scalar value, is
skipped and counted; a tensor is only expanded when its shape holds one element.
"""
from __future__ import annotations

import struct

import google_crc32c
import numpy as np

from ..vocabulary import KIND_EVENTS, TENSORBOARD_NAMES
from .columns import NAT, batch_from_columns, metric_columns, unix_to_local
from .events import Event, SegmentInfo, SkipLog

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_HEADER = struct.Struct("<QI")  # length, masked crc32c of its 8 bytes
_MASK_DELTA = 0xA282EAD8
HEADER = 12  # uint64 length + its masked crc32c


def masked_crc32c(data: bytes) -> int:
    """TFRecord's checksum: crc32c rotated right by 15 bits plus a constant (mod 2**32)."""
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def header_ok(data: bytes, pos: int) -> bool:
    """Whether the 8 length bytes at pos match the length checksum after them."""
    return masked_crc32c(data[pos:pos + 8]) == _U32.unpack_from(data, pos + 8)[0]


def next_record(data: bytes, start: int) -> int | None:
    """The first position from start where a record's length checksum holds and its payload's does
    too (or the payload runs past the data: a record still being written), else None."""
    n = len(data) - HEADER - start + 1
    if n <= 0:
        return None
    # a record's length is below 4 GiB: its upper four bytes are zero (a cheap filter in numpy)
    upper = np.ndarray((n,), "<u4", buffer=data, offset=start + 4, strides=(1,))
    for pos in (np.flatnonzero(upper == 0) + start).tolist():
        if not header_ok(data, pos):
            continue
        end = pos + HEADER + _U64.unpack_from(data, pos)[0] + 4
        if end > len(data) or masked_crc32c(data[pos + HEADER:end - 4]) == _U32.unpack_from(data, end - 4)[0]:
            return pos
    return None


def _scalar(value) -> float | None:
    """The number in a summary value (simple_value or a one-element tensor), or None."""
    which = value.WhichOneof("value")
    if which == "simple_value":
        return float(value.simple_value)
    # a tensor is expanded to its declared shape: one that claims billions of elements would fill the memory
    if which == "tensor" and all(d.size == 1 for d in value.tensor.tensor_shape.dim):
        from tensorboard.util import tensor_util

        try:
            arr = tensor_util.make_ndarray(value.tensor)
        except (ValueError, TypeError):  # content that does not match its dtype or shape
            return None
        if arr.size == 1 and np.issubdtype(arr.dtype, np.number):
            return float(arr.reshape(-1)[0])
    return None


class TensorBoardParser:
    """Incremental reader of one event file: ``feed_bytes`` gives (bytes consumed, events)."""

    def __init__(self, path: str, kind: str = KIND_EVENTS, sort_hint: float = 0.0) -> None:
        self.path, self.kind, self.sort_hint = path, kind, sort_hint
        self.info: SegmentInfo | None = None
        self.skipped = SkipLog()  # (line, reason, text) of the lines not used
        self.n_lines = 0  # records read
        self.step_lines = 0  # scalar values used
        self.total_steps: int | None = None
        self.pending: dict | None = None  # the last step's row, which later records may extend

    def feed_bytes(self, data: bytes, at_eof: bool) -> tuple[int, list[Event]]:
        """Parse the whole records in data; a partial last record is left for later (or counted)."""
        out = _Rows()
        pos = 0
        while pos + HEADER <= len(data):
            payload, end = self._frame(data, pos, at_eof)
            if end == pos:
                break  # the record is not complete yet
            pos = end
            if payload is not None:
                self._record(payload, out)
        if at_eof and pos < len(data):
            self.skipped.append((self.n_lines + 1, "cut-off record", f"{len(data) - pos} bytes"))
            pos = len(data)
        out.flush(self)
        return pos, out.events

    def _frame(self, data: bytes, pos: int, at_eof: bool) -> tuple[bytes | None, int]:
        """(payload, end) of the record at pos, checksums verified; (None, end) after a bad record
        (counted) or bad bytes up to the next good record; (None, pos) while it is incomplete."""
        length, length_crc = _HEADER.unpack_from(data, pos)
        if masked_crc32c(data[pos:pos + 8]) != length_crc:
            nxt = next_record(data, pos + 1)
            if nxt is None and not at_eof:
                return None, pos  # the next record may still be being written: look again later
            end = len(data) if nxt is None else nxt
            self.n_lines += 1
            self.skipped.append((self.n_lines, "bad record length", f"{end - pos} bytes skipped"))
            return None, end
        end = pos + HEADER + length + 4
        if end > len(data):
            return None, pos
        self.n_lines += 1
        payload = data[pos + HEADER:end - 4]
        if masked_crc32c(payload) != _U32.unpack_from(data, end - 4)[0]:
            self.skipped.append((self.n_lines, "bad record checksum", f"{length} bytes"))
            return None, end
        return payload, end

    def _record(self, payload: bytes, out: "_Rows") -> None:
        """One event: its scalars join the row of their step (a new row, or the pending one)."""
        from tensorboard.compat.proto import event_pb2

        try:
            ev = event_pb2.Event.FromString(payload)
        except Exception:  # noqa: BLE001 - any decode failure of a foreign record is counted
            self.skipped.append((self.n_lines, "unreadable record", f"{len(payload)} bytes"))
            return
        if self.info is None:
            self._open(ev.wall_time, out.events)
        if not ev.HasField("summary"):
            return
        step, last = int(ev.step), self.pending
        if step < 0:  # it would look like a restart and set the file's rows aside
            self.skipped.append((self.n_lines, "step out of range", f"step {step}"))
            return
        if last is not None and step == last["_step"]:
            row = last  # more scalars of the same step
            if not out.rows:  # ... whose row was handed over by the previous read: redo it
                out.rows.append(row)
                out.replace_first = True
        else:
            if last is not None and step < last["_step"]:
                out.flush(self)  # the step went back inside one file: a restart
                self._open(ev.wall_time, out.events)
            row = {"_time": ev.wall_time, "_line": self.n_lines, "_step": step}
            out.rows.append(row)
            self.pending = row
        for value in ev.summary.value:
            x = _scalar(value)
            if x is None:
                continue
            row[TENSORBOARD_NAMES.get(value.tag, value.tag)] = x
            self.step_lines += 1

    def _open(self, wall_time: float, events: list[Event]) -> None:
        local = 0 if self.info is None else self.info.key[1] + 1
        self.info = SegmentInfo(key=(self.path, local), file=self.path, kind=self.kind,
                                start_time=_when(wall_time), sort_hint=self.sort_hint)
        self.pending = None
        events.append(Event("segment", segment=self.info))

class _Rows:
    """What one feed_bytes call hands over: events, and the rows of the current segment not yet sent."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.rows: list[dict] = []  # one dict per step, in file order
        self.replace_first = False  # the first row redoes the last one handed over before

    def flush(self, parser: TensorBoardParser) -> None:
        """Send the rows gathered so far as one batch of the parser's current segment."""
        if self.rows:
            self.events.append(Event("rows", key=parser.info.key, rows=_batch(self.rows),
                                     replace_last=self.replace_first))
        self.rows, self.replace_first = [], False


def _batch(rows: list[dict]):
    """Rows gathered as dicts (``_step``, ``_time``, ``_line`` and the scalars) -> columns."""
    metrics, logged = metric_columns(rows, lambda key, _value: not key.startswith("_"))
    steps = np.array([row["_step"] for row in rows], np.int64)
    times = np.array([_when(row["_time"]) for row in rows], "datetime64[ns]")
    lines = np.array([row["_line"] for row in rows], np.int64)
    return batch_from_columns(steps, times, lines, metrics, logged)


def _when(wall_time: float) -> np.datetime64:
    return unix_to_local(wall_time) if wall_time else NAT
