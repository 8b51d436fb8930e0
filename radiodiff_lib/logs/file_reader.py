"""Reading one log file incrementally, in bounded memory, and noticing when it is not the same file.

- Only regular files are read: the file is opened without blocking (a named pipe must not wait
  for a writer) and refused when it is not one.
- A text log (RadioDiff's ``*.log``, ``train.log``, ``metrics.jsonl``) is read and parsed
  ``READ_CHUNK`` bytes at a time, so memory does not grow with the file; a line longer than a
  chunk is never held whole: it is counted (``line too long``, its start kept) and read past.
- A file followed by ``RunReader.update()`` that was replaced (another file under its name:
  device and inode changed), got shorter, or whose first ``HEAD_BYTES`` changed (rewritten in
  place) raises :class:`Replaced`, and the reader reads it again from its start.
"""
from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path

from ..errors import LogFormatError
from ..outputs import not_regular
from ..vocabulary import KIND_EVENTS, KIND_METRICS
from .events import SHOWN_CHARS, Event
from .metrics_file import MetricsParser
from .sources import kind_of
from .text import TextLogParser
from .tfevents import TensorBoardParser

READ_CHUNK = 1 << 23  # bytes of a text log read and parsed at a time; a longer line is not held
HEAD_BYTES = 4096  # a file whose first bytes (up to this many) change was rewritten
_NAME_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)-(\d\d)-(\d\d)")


class Replaced(Exception):
    """The file under a name is not the one read so far: read it again from the start (args[0]: why)."""


def sort_hint(path: Path) -> float:
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


class LogFile:
    """Read state of one file: its parser and how far it has been read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = str(path)
        self.kind = kind_of(path)
        hint = sort_hint(path)
        if self.kind == KIND_EVENTS:
            self.parser = TensorBoardParser(self.name, sort_hint=hint)
        elif self.kind == KIND_METRICS:
            self.parser = MetricsParser(self.name, sort_hint=hint)
        else:
            self.parser = TextLogParser(self.name, self.kind, sort_hint=hint)
        self.offset = 0  # bytes consumed
        self.lines = 0  # lines consumed
        self.bytes_read = 0
        self.n_skipped_taken = 0
        self.identity: tuple[int, int] | None = None  # (device, inode) of the file read so far
        self.head = b""  # its first bytes, up to HEAD_BYTES
        self.in_long_line = False  # the last bytes consumed are part of a line too long to hold

    def read(self, final: bool) -> list[Event]:
        """Parse what was appended since the last call; returns the parser's events."""
        try:  # O_NONBLOCK: opening a named pipe must not wait for a writer (it is refused below)
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            raise LogFormatError(f"cannot read log file {self.path}: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as fh:
            size = self._check_same_file(fh)
            if self.kind == KIND_EVENTS:
                return self._read_events(fh, size, final)
            events: list[Event] = []
            while self.offset < size:
                got = self._read_chunk(fh, size, final)
                if got is None:
                    break
                events += got
        if final:
            self.parser.finish()
        return events

    def _check_same_file(self, fh) -> int:
        """The file's size; Replaced when it is not the file read so far."""
        st = os.fstat(fh.fileno())
        what = not_regular(st.st_mode)
        if what is not None:
            raise LogFormatError(f"{self.path} is {what}, not a regular file: only regular log files are read")
        identity = (st.st_dev, st.st_ino)
        if self.identity is not None and identity != self.identity:
            raise Replaced("another file now has its name (replaced)")
        if st.st_size < self.offset:
            raise Replaced("the file got shorter (rewritten)")
        if self.head and fh.read(len(self.head)) != self.head:
            raise Replaced("its first bytes changed (rewritten in place)")
        self.identity = identity
        return st.st_size

    def _read_events(self, fh, size: int, final: bool) -> list[Event]:
        """A TensorBoard file: its records are framed, read what was appended at once."""
        if size == self.offset:
            return []
        fh.seek(self.offset)
        data = fh.read(size - self.offset)
        self.bytes_read += len(data)
        used, events = self.parser.feed_bytes(data, at_eof=final)
        self._consumed(data, used)
        return events

    def _read_chunk(self, fh, size: int, final: bool) -> list[Event] | None:
        """Parse the complete lines of the next chunk (None: the rest waits for its newline)."""
        fh.seek(self.offset)
        data = fh.read(min(READ_CHUNK, size - self.offset))
        self.bytes_read += len(data)
        if self.in_long_line:  # read on to the end of a line too long to hold
            nl = data.find(b"\n")
            self.in_long_line = nl < 0
            self._consumed(data, len(data) if nl < 0 else nl + 1)
            return []
        end = data.rfind(b"\n") + 1
        at_end = self.offset + len(data) == size
        if end == 0 and len(data) == READ_CHUNK:  # a line longer than a chunk: count it, never hold it
            self.lines += 1
            self.parser.long_line(self.lines, data[:SHOWN_CHARS].decode("utf-8", "backslashreplace"))
            self.in_long_line = True
            self._consumed(data, len(data))
            return []
        if final and at_end:
            end = len(data)  # the last line, without its newline
        if end == 0:
            return None
        chunk = data[:end]
        try:
            text, bad = chunk.decode("utf-8"), False
        except UnicodeDecodeError:
            text, bad = chunk.decode("utf-8", "surrogateescape"), True
        before = self.parser.n_lines  # the parser counts the lines it split (no second pass here)
        events = self.parser.feed(text, self.lines + 1, at_eof=final and at_end, bad_bytes=bad)
        self._consumed(data, end)
        self.lines += self.parser.n_lines - before
        return events

    def _consumed(self, data: bytes, used: int) -> None:
        """The first ``used`` bytes of ``data`` were parsed: move on, keeping the file's first bytes."""
        if len(self.head) < HEAD_BYTES:
            self.head += data[:min(used, HEAD_BYTES - len(self.head))]
        self.offset += used
