"""Parser for RadioDiff ``train_vae.py`` text logs and the workbench's ``train.log`` (same shape).

A step line is ``[<asctime> ][Train Step] <step>/<total>: <key>: <value>, <key>: <value>, ``.
Grammar accepted (anything else is skipped and counted with a reason):
- the text before ``[Train Step] `` is empty or a ``logging`` asctime (``%Y-%m-%d %H:%M:%S,%f``);
  a ``\\r`` inside it (a progress bar printed on the same terminal line) is cut off first;
- ``<step>`` is ASCII digits (a step above int64 is skipped as ``step out of range``); keys match ``[A-Za-z_][A-Za-z0-9_./-]*`` and are unique within the
  line; every value is something Python's ``float`` reads (``-2292.09155``, ``nan``, ``inf``,
  ``1.2345678e+03``), so ``{:.5f}`` (RadioDiff) and ``{:.8g}`` (ours) both read back exactly;
- the line ends with ``", "`` (or ``","``). One that does not was cut off: at the end of the data
  it is skipped as ``cut-off line``, elsewhere as ``malformed step line``; its complete pairs are
  not used (a row missing some values would look like a row that did not log them).
- a line holding bytes that are not UTF-8 is skipped as ``non-utf8 bytes`` (text kept escaped).
Consecutive step lines with the same ``<step>/<total>`` (foreign lines between them ignored) whose
keys do not clash are one row: the generator line, then the discriminator line. Both print
``lr``; the second one's is kept as ``lr_disc``. An exact repeat of the previous step line (a
logger with two handlers) is skipped as ``duplicate line``. A step not above the previous row's
starts a new segment in the same file: a restart logged into it (later rows win, see stitching).
A line whose message is a dict repr is the launch's config (read with ``ast``, never ``eval``);
in a file that already has step rows it starts a new segment (``train.log`` holds every launch).
Speed: a big text is parsed in pieces of about 2 MB (cache-friendly); in a piece, runs of regular
step lines go through the bulk pass of ``logs_bulk`` (string operations per key shape, not per
line), the other lines (and any run the bulk pass refuses) through the line-by-line pass here: a
grouping pass that converts each key shape's values at once, and when that meets anything
unexpected, the validating pass, which checks every line and skips the bad ones. All three give
the same rows (tests/test_logs.py compares them on randomly broken logs).
"""
from __future__ import annotations

import re

from ..vocabulary import LR, LR_DISC, STEP_MARK
from .columns import NAT, digits_step
from .events import Event, SegmentInfo
from .text_bulk import feed_blocks
from .text_lines import SlowPath, classify_foreign, parse_config_text, parse_timestamp
from .text_rows import Carry, ChunkRows
from .yaml_config import YamlDump, open_yaml

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_./\-]*\Z")
_SURROGATE = re.compile("[\udc80-\udcff]")
_BAD = "\x00bad-bytes\x00"  # placeholder for a line already counted as non-UTF-8
# a repeated key in a merged second line is kept under another name instead of being dropped
SECOND_LINE_RENAMES = {LR: LR_DISC}
PIECE_CHARS = 1 << 21  # a text longer than this is parsed in pieces of about this size
BULK_MIN = 256  # lines: below this a chunk is read line by line (a live update of 100 lines: cheaper)


class TextLogParser:
    """Incremental parser of one text log file: ``feed`` complete lines, get events."""

    def __init__(self, path: str, kind: str, sort_hint: float = 0.0) -> None:
        self.path, self.kind, self.sort_hint = path, kind, sort_hint
        self.sigs: dict[tuple, int] = {}
        self.sig_keys: list[tuple | None] = []
        self.merge_table: dict[tuple[int, int], tuple[int, int] | None] = {}
        self.self_pair: list[int] = []  # sig -> pair id of (sig, sig)
        self.pairs: list[tuple[int, int]] = []  # pair id -> (printed sig, stored sig)
        self.pair_ids: dict[tuple[int, int], int] = {}
        self.local = -1
        self.info: SegmentInfo | None = None  # the current segment
        self.seg_rows = 0  # rows in the current segment
        self.carry: Carry | None = None
        self.prev: tuple[str, str] | None = None  # (head, body) of the last step line
        self.skipped: list[tuple[int, str, str]] = []  # (line, reason, text)
        self.n_lines = 0
        self.step_lines = 0
        self.total_steps: int | None = None
        self.yaml: YamlDump | None = None  # a second-stage YAML config dump being read

    # ---- signatures -----------------------------------------------------------------------
    def _sig(self, keys: tuple) -> int:
        """The id of a key tuple (-1 when it is not a valid set of keys)."""
        sid = self.sigs.get(keys)
        if sid is None:
            ok = len(set(keys)) == len(keys) and all(_KEY.match(k) for k in keys)
            sid = len(self.sig_keys)
            self.sigs[keys] = sid
            self.sig_keys.append(keys if ok else None)
            self.self_pair.append(self._pair(sid, sid) if ok else -1)
        return sid if self.sig_keys[sid] is not None else -1

    def _pair(self, raw: int, eff: int) -> int:
        """Id of (keys as printed, column names they are stored under)."""
        pid = self.pair_ids.get((raw, eff))
        if pid is None:
            pid = self.pair_ids[(raw, eff)] = len(self.pairs)
            self.pairs.append((raw, eff))
        return pid

    def _merge(self, row_sig: int, sid: int) -> tuple[int, int] | None:
        """(sig of the merged row, pair id of the line) when a line can join the row, else None."""
        got = self.merge_table.get((row_sig, sid), False)
        if got is not False:
            return got
        row_keys, keys = self.sig_keys[row_sig], self.sig_keys[sid]
        clash = set(row_keys) & set(keys)
        result = None
        if all(k in SECOND_LINE_RENAMES and SECOND_LINE_RENAMES[k] not in row_keys for k in clash):
            eff = tuple(SECOND_LINE_RENAMES[k] if k in clash else k for k in keys)
            union, eff_id = self._sig(row_keys + eff), self._sig(eff)
            if union >= 0 and eff_id >= 0:
                result = (union, self._pair(sid, eff_id))
        self.merge_table[(row_sig, sid)] = result
        return result

    def _new_segment(self, start_time=NAT, config=None) -> SegmentInfo:
        self.local += 1
        self.seg_rows = 0
        self.carry = None
        self.info = SegmentInfo(key=(self.path, self.local), file=self.path, kind=self.kind,
                                start_time=start_time, config=config, sort_hint=self.sort_hint)
        return self.info

    # ---- main entry -----------------------------------------------------------------------
    def feed(self, text: str, first_line: int, at_eof: bool, bad_bytes: bool = False) -> list[Event]:
        """Parse complete lines (the last one may lack its newline only when at_eof)."""
        if "\r" in text and "\r\n" in text:  # (a 1-character search is much faster)
            text = text.replace("\r\n", "\n")
        if len(text) <= PIECE_CHARS:
            events = self._feed(text, first_line, at_eof, bad_bytes)[0]
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
            bad = bad_bytes and _SURROGATE.search(piece) is not None
            got, n = self._feed(piece, first_line, at_eof and cut == len(text), bad)
            events += got
            first_line += n
            start = cut
        self._settle_yaml(at_eof)
        return events

    def _settle_yaml(self, at_eof: bool) -> None:
        """Read a YAML config dump once it has ended (or the file has)."""
        block = self.yaml
        if block is not None and (at_eof or block.closed_at is not None or self.seg_rows):
            block.settle(self.skipped)
            self.yaml = None

    def _feed(self, text: str, first_line: int, at_eof: bool, bad_bytes: bool) -> tuple[list[Event], int]:
        """feed() of one piece; also returns its number of lines."""
        lines = text.split("\n")
        partial = bool(lines) and lines[-1] != ""
        if not partial and lines:
            lines.pop()
        if bad_bytes:
            for k, line in enumerate(lines):
                if _SURROGATE.search(line):
                    shown = line.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                    self.skipped.append((first_line + k, "non-utf8 bytes", shown))
                    lines[k] = _BAD
        self.n_lines += len(lines)
        if bad_bytes or len(lines) < BULK_MIN:
            return self._lines(lines, first_line, partial and at_eof), len(lines)
        return feed_blocks(self, lines, first_line, partial, at_eof, BULK_MIN), len(lines)

    def _lines(self, lines: list[str], first_line: int, last_is_cut: bool) -> list[Event]:
        """Line by line: the grouping pass, or the validating pass when it meets anything odd."""
        saved = (self.local, self.info, self.seg_rows, self.carry, self.prev, len(self.skipped))
        try:
            return self._parse(lines, first_line, last_is_cut, validate=False)
        except SlowPath:
            self.local, self.info, self.seg_rows, self.carry, self.prev, n_skipped = saved
            del self.skipped[n_skipped:]
            return self._parse(lines, first_line, last_is_cut, validate=True)

    def _parse(self, lines: list[str], first_line: int, last_is_cut: bool, validate: bool) -> list[Event]:
        """One pass over the lines. Fast mode groups step lines by their first key and converts
        their values in bulk afterwards (SlowPath when anything is off); validate mode checks
        every line and skips the bad ones."""
        rows = self._open_rows()
        cur_head, cur_step, cur_sig = rows.open_row()
        prev_head, prev_body = self.prev if self.prev else (None, None)
        seg_rows = self.seg_rows
        merge, self_pair, merge_table, skipped = self._merge, self.self_pair, self.merge_table, self.skipped
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
            got = (merge_table.get((cur_sig, sid), 0) if head == cur_head else None)
            if got == 0:
                got = merge(cur_sig, sid)
            if got is not None:
                cur_sig, pid = got
                row = rows.join(line[:i])
            else:
                step_i = _step_number(head)
                if step_i <= cur_step and seg_rows:  # the step went back: a restart logged into this file
                    rows.new_segment(self._new_segment())
                    seg_rows = 0
                cur_head, cur_step, cur_sig, pid = head, step_i, sid, self_pair[sid]
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
            self.skipped.append((ln, classify_foreign(line), line))
            return False
        when = parse_timestamp(line[:j])
        config = parse_config_text(line[j:]) if when is not None else None
        if config is None:
            self.skipped.append((ln, "unreadable config line", line))
            return False
        if not seg_rows:  # a config line before any step row: the launch's config
            self.info.config, self.info.start_time = config, when
            return False
        rows.new_segment(self._new_segment(when, config))  # a new launch logged into the same file
        return True

    def _yaml_line(self, line: str, ln: int) -> bool:
        """Whether a line before the segment's first step row belongs to a YAML config dump (see
        ``yaml_config``); the first line of one opens it (one dump at a time)."""
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
        flat = body.replace(": ", ", ").split(", ")
        sid = self._sig(tuple(flat[0::2]))
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
        flat = body.replace(": ", ", ").split(", ")
        sid = self._sig(tuple(flat[0::2]))
        if sid < 0 or len(flat) % 2:
            raise SlowPath
        return sid

    def _open_rows(self) -> ChunkRows:
        """The rows of a new chunk: the segment it continues (opened now for a new file) and the row
        the previous chunk left open."""
        if self.local < 0:
            info = self._new_segment()
            return ChunkRows(info.key[1], info, self.carry)
        return ChunkRows(self.local, None, self.carry)

    def _close_rows(self, rows: ChunkRows, cur: tuple, prev_head: str | None, prev_body: str | None,
                    seg_rows: int) -> list[Event]:
        """Convert the chunk's rows, leave the parser's state for the next chunk and return the events."""
        batch = rows.assemble(self)
        carry = rows.carry_out(self, *cur)
        # state for the next chunk (only now: the bulk steps may still send us to the slow path)
        self.step_lines += rows.lines_used()
        total = digits_step(prev_head.partition("/")[2]) if prev_head else None
        if total is not None:
            self.total_steps = total
        self.seg_rows = seg_rows
        self.prev = (prev_head, prev_body) if prev_head is not None else None
        self.carry = carry
        return rows.events(self.path, batch)


def _step_number(head: str) -> int:
    """The step of a ``<step>/<total>`` head (fast mode: SlowPath unless ASCII digits that fit int64)."""
    step = digits_step(head.partition("/")[0])
    if step is None:
        raise SlowPath
    return step
