"""Parser of RadioDiff text logs (``train_vae.py``, ``train_cond_ldm.py``) and the workbench's ``train.log``.

What a step line is and how two lines make one row is ``text_grammar``; the launch config is
``text_config``. The parser adds, over a file read in chunks:
- every line not used is skipped and counted with a reason: a step line that does not end with
  ``", "`` is ``cut-off line`` at the end of the data and ``malformed step line`` elsewhere (its
  complete pairs are not used: a row missing some values would look like a row that did not log
  them); a prefix that is not an asctime is ``unrecognised prefix``; a step above int64 is ``step
  out of range``; a step line holding bytes that are not UTF-8 is ``non-utf8 bytes``; any other
  line is ``blank``, ``traceback``, ``warning``, ``foreign`` or ``non-utf8 bytes`` (its text kept,
  escaped, cut to ``events.SHOWN_CHARS``);
- an exact repeat of the previous step line (a logger with two handlers) is ``duplicate line``;
- a step not above the previous row's starts a new segment in the same file: a restart logged
  into it (later rows win, see stitching);
- a config line (a dict repr or the first line of a YAML dump) before the first step row is the
  launch's config; in a file that already has step rows it starts a new segment (``train.log``
  holds every launch).
Speed: a big text is parsed in pieces of about 2 MB (cache-friendly); in a piece, runs of regular
step lines go through the bulk pass (``text_bulk``: string operations per key shape, not per
line), the other lines (and any run the bulk pass refuses) through the line pass here: a
grouping pass that converts each key shape's values at once, and when that meets anything
unexpected, the validating pass, which checks every line and skips the bad ones. All three give
the same rows and leave the same state for the next lines (tests/logs/test_text.py compares them
on randomly broken logs).
"""
from __future__ import annotations

import numpy as np

from ..vocabulary import STEP_MARK
from .columns import NAT, ColumnStore, batch_from_columns, digits_step
from .events import Event, SegmentInfo, SkipLog, has_bad_bytes
from .text_bulk import Block, irregular_lines, next_run, opens_block, read_block
from .text_config import BAD_BYTES, TOO_LARGE, YamlDump, clean_line, open_yaml, parse_config_text, too_large_dict
from .text_grammar import (
    KeyTable, OpenRow, SlowPath, bulk_timestamps, classify_foreign, parse_timestamp, split_body,
    step_number, total_of,
)

_BAD = "\x00bad-bytes\x00"  # placeholder for a step line already counted as non-UTF-8
PIECE_CHARS = 1 << 21  # a text longer than this is parsed in pieces of about this size
BULK_MIN = 256  # lines: below this a chunk is read line by line (a live update of 100 lines: cheaper)


class TextLogParser:
    """Incremental parser of one text log file: ``feed`` complete lines, get events."""

    def __init__(self, path: str, kind: str, sort_hint: float = 0.0) -> None:
        self.path, self.kind, self.sort_hint = path, kind, sort_hint
        self.keys = KeyTable()
        self.local = -1
        self.info: SegmentInfo | None = None  # the current segment
        self.seg_rows = 0  # rows in the current segment
        self.open_row: OpenRow | None = None  # the last row, which the next lines may still join
        self.last_line: tuple[str, str] | None = None  # (head, body) of the last step line
        self.skipped = SkipLog()  # (line, reason, text) of the lines not used
        self.n_lines = 0
        self.step_lines = 0
        self.total_steps: int | None = None
        self.yaml: YamlDump | None = None  # a second-stage YAML config dump being read
        self.bad_lines: set[int] = set()  # numbers of the piece's lines holding bytes that are not UTF-8

    def new_segment(self, start_time=NAT, config=None) -> SegmentInfo:
        """A new launch begins in this file: the rows from here on belong to it."""
        self.local += 1
        self.seg_rows = 0
        self.open_row = None
        self.info = SegmentInfo(key=(self.path, self.local), file=self.path, kind=self.kind,
                                start_time=start_time, config=config, sort_hint=self.sort_hint)
        return self.info

    # ---- feeding text -----------------------------------------------------------------------------
    def feed(self, text: str, first_line: int, at_eof: bool, bad_bytes: bool = False) -> list[Event]:
        """Parse complete lines (the last one may lack its newline only when at_eof)."""
        if "\r" in text and "\r\n" in text:  # (a 1-character search is much faster)
            text = text.replace("\r\n", "\n")
        if len(text) <= PIECE_CHARS:
            events = self._feed_piece(text, first_line, at_eof, bad_bytes)[0]
            self._settle_yaml(at_eof)
            return events
        # a big text in pieces cut at newlines: the strings made of one piece stay in the CPU
        # caches while they are converted (a whole file's would not; measured 1.5x slower)
        events: list[Event] = []
        start = 0
        while start < len(text):
            cut = text.find("\n", start + PIECE_CHARS) + 1 or len(text)
            if len(text) - cut < PIECE_CHARS // 2:
                cut = len(text)  # no small last piece (it would be read line by line)
            piece = text[start:cut]
            bad = bad_bytes and has_bad_bytes(piece)
            got, n = self._feed_piece(piece, first_line, at_eof and cut == len(text), bad)
            events += got
            first_line += n
            start = cut
        self._settle_yaml(at_eof)
        return events

    def long_line(self, ln: int, start: str) -> None:
        """Line ``ln`` was too long to hold (the reader read past it): counted, its start kept."""
        self.n_lines += 1
        if self.yaml is None or not self.yaml.take_too_long(start, ln):
            self.skipped.append((ln, "line too long", start))

    def finish(self) -> None:
        """The file has ended: read a YAML config dump still open."""
        self._settle_yaml(True)

    def _settle_yaml(self, at_eof: bool) -> None:
        """Read a YAML config dump once it has ended (or the file has)."""
        block = self.yaml
        if block is not None and (at_eof or block.closed_at is not None or self.seg_rows):
            block.settle(self.skipped)
            self.yaml = None

    def _feed_piece(self, text: str, first_line: int, at_eof: bool, bad_bytes: bool) -> tuple[list[Event], int]:
        """feed() of one piece; also returns its number of lines."""
        lines = text.split("\n")
        partial = bool(lines) and lines[-1] != ""
        if not partial and lines:
            lines.pop()
        self.bad_lines = set()
        if bad_bytes:
            for k, line in enumerate(lines):
                if has_bad_bytes(line):
                    if STEP_MARK in line:
                        self.skipped.append((first_line + k, "non-utf8 bytes", line))
                        lines[k] = _BAD
                    else:  # a config line keeps its other characters; a foreign line is counted as such
                        self.bad_lines.add(first_line + k)
        self.n_lines += len(lines)
        if bad_bytes or len(lines) < BULK_MIN:
            return self.read_lines(lines, first_line, partial and at_eof), len(lines)
        return self._read_runs(lines, first_line, partial, at_eof), len(lines)

    def _read_runs(self, lines: list[str], first_line: int, partial: bool, at_eof: bool) -> list[Event]:
        """Runs of at least BULK_MIN regular lines with the bulk pass, the lines between them (and a
        run the bulk pass refuses, and an unfinished last line) with the line pass."""
        events: list[Event] = []
        end = len(lines) - partial
        pos, irregular = 0, None
        while pos < end:
            lo, hi = next_run(lines, pos, end, irregular, BULK_MIN)
            if lo > pos:
                events += self.read_lines(lines[pos:lo], first_line + pos, False)
                pos = lo
                continue
            last_head = self.last_line[0] if self.last_line else None
            if not opens_block(lines[pos], last_head):
                events += self.read_lines(lines[pos:pos + 1], first_line + pos, False)  # joins the open row
                pos += 1
                continue
            try:
                block = read_block(lines, pos, hi, first_line, self.keys, self.open_row, last_head, self.seg_rows)
            except SlowPath:
                if irregular is None:  # find the irregular lines and try the runs between them
                    irregular = irregular_lines(lines, pos, end)
                    # the same run again would fail again (e.g. every line duplicated): line by line now
                    if next_run(lines, pos, end, irregular, BULK_MIN) != (pos, hi):
                        continue
                events += self.read_lines(lines[pos:hi], first_line + pos, False)
            else:
                events += self._take_block(block)
            pos = hi
        if partial:
            events += self.read_lines(lines[end:], first_line + end, at_eof)
        return events

    def _take_block(self, block: Block) -> list[Event]:
        """The events of a block the bulk pass read, and the state it leaves."""
        events = [Event("segment", segment=self.new_segment())] if self.local < 0 else []
        self.open_row, self.last_line = block.open_row, block.last_line
        if block.total_steps is not None:
            self.total_steps = block.total_steps
        self.seg_rows += block.n_rows
        self.step_lines += block.n_lines
        events.append(Event("rows", key=(self.path, self.local), rows=block.rows))
        return events

    # ---- the line pass ----------------------------------------------------------------------------
    def read_lines(self, lines: list[str], first_line: int, last_is_cut: bool) -> list[Event]:
        """Line by line: the grouping pass, or the validating pass when it meets anything odd."""
        saved = (self.local, self.info, self.seg_rows, self.open_row, self.last_line, self.skipped.mark())
        try:
            return self._parse(lines, first_line, last_is_cut, validate=False)
        except SlowPath:
            self.local, self.info, self.seg_rows, self.open_row, self.last_line, skipped = saved
            self.skipped.restore(skipped)
            return self._parse(lines, first_line, last_is_cut, validate=True)

    def _parse(self, lines: list[str], first_line: int, last_is_cut: bool, validate: bool) -> list[Event]:
        """One pass over the lines. Fast mode groups step lines by their first key and converts
        their values in bulk afterwards (SlowPath when anything is off); validate mode checks
        every line and skips the bad ones."""
        rows = self._open_rows()
        cur_head, cur_step, cur_sig = rows.open_row()
        prev_head, prev_body = self.last_line if self.last_line else (None, None)
        seg_rows = self.seg_rows
        keys, skipped = self.keys, self.skipped
        merge, self_pairs, merges = keys.merge, keys.self_pairs, keys.merges
        shapes: dict[str, int] = {}  # first key -> sig (fast mode; checked in bulk later)
        mark_len, last_index = len(STEP_MARK), len(lines) - 1
        for k, line in enumerate(lines):
            i = line.find(STEP_MARK)
            if i < 0:
                if self._other_line(rows, line, first_line + k, seg_rows):  # a new launch in this file
                    seg_rows, (cur_head, cur_step, cur_sig), prev_head, prev_body = 0, (None, -1, -1), None, None
                continue
            c = line.find(": ", i + mark_len)
            end = 2 if line.endswith(", ") else 1 if line[-1:] == "," else 0
            if c < 0 or not end:
                skipped.append((first_line + k, "cut-off line" if (k == last_index and last_is_cut)
                                else "malformed step line", line))
                continue
            head, body = line[i + mark_len:c], line[c + 2:-end]
            if body == prev_body and head == prev_head:
                skipped.append((first_line + k, "duplicate line", line))
                continue
            if validate:
                checked = self._checked_line(line, i, head, body, first_line + k)
                if checked is None:
                    continue
                sid, payload = checked
            else:
                sid, payload = shapes.get(body[:body.find(": ")]), body
                if sid is None:
                    sid = shapes[body[:body.find(": ")]] = self._shape_of(body)
            prev_head, prev_body = head, body
            # lines with the same "<step>/<total>" join the row when their keys allow it
            got = (merges.get((cur_sig, sid), 0) if head == cur_head else None)
            if got == 0:
                got = merge(cur_sig, sid)
            if got is not None:
                cur_sig, pid = got
                row = rows.join(line[:i])
            else:
                step_i = step_number(head)
                if step_i <= cur_step and seg_rows:  # the step went back: a restart logged into this file
                    rows.new_segment(self.new_segment())
                    seg_rows = 0
                cur_head, cur_step, cur_sig, pid = head, step_i, sid, self_pairs[sid]
                row = rows.new_row(step_i, line[:i], first_line + k)
                seg_rows += 1
            rows.add(pid, row, payload)
        return self._close_rows(rows, (cur_head, cur_step, cur_sig), prev_head, prev_body, seg_rows)

    def _other_line(self, rows: ChunkRows, line: str, ln: int, seg_rows: int) -> bool:
        """A line without the step marker: a config line (True when it opens a new launch in this
        file), a line already counted, or a foreign line (counted with its reason)."""
        if line is _BAD or (not seg_rows and self._yaml_line(line, ln)):
            return False
        j = line.find("{")
        if j < 0 or not line.rstrip().endswith("}"):
            self._foreign(line, ln)
            return False
        when = parse_timestamp(line[:j])
        message, damaged = clean_line(line[j:])
        if when is not None and too_large_dict(message):
            self.skipped.append((ln, TOO_LARGE, line))
            return False
        config = parse_config_text(message) if when is not None else None
        if config is None:
            self.skipped.append((ln, "non-utf8 bytes" if ln in self.bad_lines else "unreadable config line",
                                 line))
            return False
        if damaged:  # read with U+FFFD for its bad characters: listed, so the damage is seen
            self.skipped.append((ln, BAD_BYTES, line))
        if not seg_rows:  # a config line before any step row: the launch's config
            self.info.config, self.info.start_time = config, when
            return False
        rows.new_segment(self.new_segment(when, config))  # a new launch logged into the same file
        return True

    def _foreign(self, line: str, ln: int) -> None:
        """Count a line that is neither a step line nor a config line."""
        reason = "non-utf8 bytes" if ln in self.bad_lines else classify_foreign(line)
        self.skipped.append((ln, reason, line))

    def _yaml_line(self, line: str, ln: int) -> bool:
        """Whether a line before the segment's first step row belongs to a YAML config dump (see
        ``text_config``); the first line of one opens it (one dump at a time)."""
        block = self.yaml
        if block is not None:
            if block.take(line, ln):
                block.info = self.info  # (a chunk read again re-creates its segments)
                return True
            return False
        self.yaml = open_yaml(line, ln, self.info)
        return self.yaml is not None

    def _checked_line(self, line: str, i: int, head: str, body: str, ln: int) -> tuple[int, list[float]] | None:
        """(key signature, values) of a step line in validate mode, or None (the line is counted)."""
        step_s = head.partition("/")[0]
        flat = split_body(body)
        sid = self.keys.sig(tuple(flat[0::2]))
        try:
            if sid < 0 or len(flat) % 2 or not (step_s.isdigit() and step_s.isascii()):
                raise ValueError
            payload = [float(v) for v in flat[1::2]]
        except ValueError:
            self.skipped.append((ln, "malformed step line", line))
            return None
        if parse_timestamp(line[:i]) is None:
            self.skipped.append((ln, "unrecognised prefix", line))
            return None
        if digits_step(step_s) is None:  # digits, but more than int64 holds
            self.skipped.append((ln, "step out of range", line))
            return None
        return sid, payload

    def _shape_of(self, body: str) -> int:
        """The key signature of a step line's body (fast mode: SlowPath when it is not a valid one)."""
        flat = split_body(body)
        sid = self.keys.sig(tuple(flat[0::2]))
        if sid < 0 or len(flat) % 2:
            raise SlowPath
        return sid

    def _open_rows(self) -> ChunkRows:
        """The rows of a new chunk: the segment it continues (opened now for a new file) and the row
        the previous chunk left open."""
        if self.local < 0:
            info = self.new_segment()
            return ChunkRows(info.key[1], info, self.open_row)
        return ChunkRows(self.local, None, self.open_row)

    def _close_rows(self, rows: ChunkRows, cur: tuple, prev_head: str | None, prev_body: str | None,
                    seg_rows: int) -> list[Event]:
        """Convert the chunk's rows, leave the parser's state for the next chunk and return the events."""
        batch = rows.assemble(self.keys)
        open_row = rows.open_row_out(self.keys, *cur)
        # state for the next chunk (only now: the bulk steps may still send us to the slow path)
        self.step_lines += rows.lines_used()
        total = total_of(prev_head) if prev_head else None
        if total is not None:
            self.total_steps = total
        self.seg_rows = seg_rows
        self.last_line = (prev_head, prev_body) if prev_head is not None else None
        self.open_row = open_row
        return rows.events(self.path, batch)


# ---- the rows one line pass gathers ---------------------------------------------------------------

class ChunkRows:
    """Rows of one chunk read by the line pass: per row its step, prefix and line number; per pair
    (keys as printed, names stored) the rows and payloads; the segments the chunk opens; the row
    carried over from the chunk before. A step line's values are kept as its text (``payload``)
    and converted per pair at the end, all lines of a pair in one numpy call; the validating pass
    hands over floats instead."""

    def __init__(self, local: int, info: SegmentInfo | None, carry: OpenRow | None) -> None:
        self.step: list[int] = []
        self.prefix: list[str] = []
        self.line: list[int] = []
        self.merged_prefix: list[str] = []  # prefixes of lines merged into a row: checked, not used
        self.buckets: dict[int, tuple[list[int], list]] = {}  # pair id -> (row indices, payloads)
        # (first row index, local segment id, segment info to announce or None)
        self.bounds: list[tuple[int, int, SegmentInfo | None]] = [(0, local, info)]
        self.carry, self.carry_touched = carry, False
        if carry is not None:
            self.new_row(carry.step, carry.prefix, carry.line)
            for pid, vals in carry.entries:
                self.add(pid, 0, vals)

    def open_row(self) -> tuple[str | None, int, int]:
        """(head, step, key signature) of the row the previous chunk left open, or (None, -1, -1)."""
        c = self.carry
        return (c.head, c.step, c.sig) if c is not None else (None, -1, -1)

    def new_segment(self, info: SegmentInfo) -> None:
        """The next rows belong to a new launch logged into the same file."""
        self.bounds.append((len(self.step), info.key[1], info))

    def new_row(self, step: int, prefix: str, line: int) -> int:
        """Start a row; returns its index."""
        self.step.append(step)
        self.prefix.append(prefix)
        self.line.append(line)
        return len(self.step) - 1

    def join(self, prefix: str) -> int:
        """A line merged into the last row (its prefix is checked later); returns the row index."""
        self.merged_prefix.append(prefix)
        row = len(self.step) - 1
        if row == 0 and self.carry is not None:
            self.carry_touched = True
        return row

    def add(self, pid: int, row: int, payload) -> None:
        """A line's payload (its body text, or its floats) for row ``row`` under pair ``pid``."""
        bucket = self.buckets.get(pid)
        if bucket is None:
            bucket = self.buckets[pid] = ([], [])
        bucket[0].append(row)
        bucket[1].append(payload)

    def lines_used(self) -> int:
        """Step lines this chunk used (the carried row's lines were counted by the chunk before)."""
        carried = len(self.carry.entries) if self.carry is not None else 0
        return sum(len(rows) for rows, _ in self.buckets.values()) - carried

    def assemble(self, keys: KeyTable) -> ColumnStore:
        """Rows -> columns: each bucket's values converted in one numpy call; SlowPath when a value or
        a timestamp does not read."""
        n = len(self.step)
        metrics: dict[str, np.ndarray] = {}
        logged: dict[str, np.ndarray] = {}
        for pid, (rows, payloads) in self.buckets.items():
            arr = _values(payloads, keys.printed_keys(pid))
            idx = np.asarray(rows, dtype=np.int64)
            for j, key in enumerate(keys.stored_keys(pid)):
                if key not in metrics:
                    metrics[key] = np.full(n, np.nan)
                    logged[key] = np.zeros(n, bool)
                metrics[key][idx] = arr[:, j]
                logged[key][idx] = True
        times = bulk_timestamps(self.prefix)
        if self.merged_prefix:
            bulk_timestamps(self.merged_prefix)  # SlowPath when one is not a timestamp
        return batch_from_columns(np.asarray(self.step, np.int64), times, np.asarray(self.line, np.int64),
                                  metrics, logged)

    def open_row_out(self, keys: KeyTable, head: str | None, step: int, sig: int) -> OpenRow | None:
        """The last row, which the next chunk's lines may still join (None when no row is open)."""
        if not self.step or self.bounds[-1][0] >= len(self.step):
            return None
        r = len(self.step) - 1
        entries = [(pid, _as_floats(payloads[-1], keys.printed_keys(pid)))
                   for pid, (rows, payloads) in self.buckets.items() if rows[-1] == r]
        return OpenRow(head, step, sig, self.prefix[r], self.line[r], entries)

    def events(self, path: str, batch: ColumnStore) -> list[Event]:
        """The segments opened and the rows of each, as events for the stitcher."""
        events: list[Event] = []
        for idx, (lo, local, info) in enumerate(self.bounds):
            hi = self.bounds[idx + 1][0] if idx + 1 < len(self.bounds) else len(self.step)
            if info is not None:
                events.append(Event("segment", segment=info))
            replace = idx == 0 and self.carry is not None and self.carry_touched
            if idx == 0 and self.carry is not None and not self.carry_touched:
                lo = 1  # the carried row was handed over already and did not change
            if hi > lo:
                events.append(Event("rows", key=(path, local), rows=_slice(batch, lo, hi), replace_last=replace))
        return events


def _values(payloads: list, keys: tuple) -> np.ndarray:
    """Bodies of one shape -> (m, k) floats, all lines split at once; SlowPath when a line differs.
    A payload that is a list already holds floats (the row carried over from the previous chunk)."""
    m, width = len(payloads), len(keys)
    out = np.empty((m, width), np.float64)
    done = [r for r, p in enumerate(payloads) if not isinstance(p, str)] if not isinstance(payloads[0], str) \
        or not isinstance(payloads[-1], str) else []
    for r in done:
        out[r] = payloads[r]
    strings = [p for p in payloads if isinstance(p, str)] if done else payloads
    if not strings:
        return out
    flat = split_body(", ".join(strings))
    ms = len(strings)
    if len(flat) != 2 * ms * width or flat[0::2] != list(keys) * ms:
        raise SlowPath
    try:
        vals = np.array(flat[1::2], dtype=np.float64).reshape(ms, width)
    except ValueError:
        raise SlowPath from None
    if not done:
        return vals
    mask = np.ones(m, bool)
    mask[done] = False
    out[mask] = vals
    return out


def _as_floats(payload, keys: tuple) -> list[float]:
    """One line's values as floats (a body string, or values already converted)."""
    if not isinstance(payload, str):
        return list(payload)
    flat = split_body(payload)
    if len(flat) != 2 * len(keys) or tuple(flat[0::2]) != keys:
        raise SlowPath
    try:
        return [float(v) for v in flat[1::2]]
    except ValueError:
        raise SlowPath from None


def _slice(batch: ColumnStore, lo: int, hi: int) -> ColumnStore:
    if lo == 0 and hi == batch.n:
        return batch
    out = ColumnStore(hi - lo)
    out.append_from(batch, lo, hi)
    for name in list(out.metrics):
        if not out.logged[name][: out.n].any():
            del out.metrics[name], out.logged[name]
    return out
