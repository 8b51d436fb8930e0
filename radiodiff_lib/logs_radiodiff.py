"""Parser for RadioDiff ``train_vae.py`` text logs and the workbench's ``train.log`` (same shape).

A step line is ``[<asctime> ][Train Step] <step>/<total>: <key>: <value>, <key>: <value>, ``.
Grammar accepted (anything else is skipped and counted with a reason):
- the text before ``[Train Step] `` is empty or a ``logging`` asctime (``%Y-%m-%d %H:%M:%S,%f``);
  a ``\\r`` inside it (a progress bar printed on the same terminal line) is cut off first;
- keys match ``[A-Za-z_][A-Za-z0-9_./-]*`` and are unique within the line; every value is
  something Python's ``float`` reads (``-2292.09155``, ``nan``, ``inf``, ``1.2e+03``);
- the line ends with ``", "`` (or ``","``); one that does not is cut off: at the end of the data it
  is skipped as ``cut-off line``, elsewhere as ``malformed step line``; its pairs are not used.
Lines of the same step that follow each other (ignoring foreign lines between them) and carry
different keys are one row: the generator line, then the discriminator line. Both carry ``lr``;
the second one's is kept as ``lr_disc``. An exact repeat of the previous step line (a logger with
two handlers) is skipped as ``duplicate line``. A step lower than (or equal to, with clashing
keys) the previous row's starts a new segment in the same file: the run was restarted there.
A line whose message is a dict repr is the launch's config (read with ``ast``, never ``eval``);
in a file that already has step rows it starts a new segment (``train.log`` holds every launch).
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from .logs_stitch import NAT, ColumnStore, SegmentInfo, batch_from_columns

MARK = "[Train Step] "
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_./\-]*\Z")
_TS_FMT = "%Y-%m-%d %H:%M:%S,%f"
_SURROGATE = re.compile("[\udc80-\udcff]")
_BAD = "\x00bad-bytes\x00"  # placeholder for a line already counted as non-UTF-8
# a repeated key in a merged second line is kept under another name instead of being dropped
SECOND_LINE_RENAMES = {"lr": "lr_disc"}


class _SlowPath(Exception):
    """The fast bulk conversion found a bad value: redo the chunk validating line by line."""


def parse_timestamp(text: str) -> np.datetime64 | None:
    """A logging asctime (or empty) -> datetime64 / NaT; None when it is something else."""
    text = text.rsplit("\r", 1)[-1].strip()
    if not text:
        return NAT
    try:
        return np.datetime64(datetime.strptime(text, _TS_FMT), "ns")
    except ValueError:
        return None


def _literal(node: ast.AST, source: str):
    """Safe conversion of a parsed dict repr: literals only; names/calls become floats or text."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Dict):
        return {_literal(k, source): _literal(v, source) for k, v in zip(node.keys, node.values)}
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        items = [_literal(e, source) for e in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _literal(node.operand, source)
        if isinstance(value, (int, float)):
            return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.Name) and node.id in ("inf", "nan"):
        return float(node.id)
    # e.g. PosixPath('...') or a custom object's repr: keep its text, never evaluate it
    return ast.get_source_segment(source, node)


def parse_config_text(message: str) -> dict | None:
    """The config dict from a line's message (a Python dict repr), or None when it is not one."""
    try:
        tree = ast.parse(message.strip(), mode="eval")
    except (SyntaxError, ValueError):
        return None
    if not isinstance(tree.body, ast.Dict):
        return None
    value = _literal(tree.body, message.strip())
    return value if isinstance(value, dict) else None


def classify_foreign(line: str) -> str:
    """The skip reason of a line that is neither a step line nor a config line."""
    s = line.strip()
    if not s:
        return "blank"
    if s.startswith("Traceback") or line.startswith(("  File ", "    ")) or re.match(
            r"[\w.]*(Error|Exception|Interrupt|Exit)\b", s):
        return "traceback"
    if "warn" in s.lower():
        return "warning"
    return "foreign"


@dataclass
class Event:
    """What a parser hands to the stitcher: a new segment, or rows of an existing one."""

    kind: str  # "segment" | "rows"
    segment: SegmentInfo | None = None
    key: tuple[str, int] | None = None
    rows: ColumnStore | None = None
    replace_last: bool = False


@dataclass
class _Carry:
    """The last row of the previous chunk, which the next chunk's lines may still merge into."""

    step_s: str
    step: int
    sig: int
    prefix: str
    line: int
    entries: list = field(default_factory=list)  # (effective sig id, values)


class TextLogParser:
    """Incremental parser of one text log file: ``feed`` complete lines, get events."""

    def __init__(self, path: str, kind: str, sort_hint: float = 0.0) -> None:
        self.path, self.kind, self.sort_hint = path, kind, sort_hint
        self.sigs: dict[tuple, int] = {}
        self.sig_keys: list[tuple | None] = []
        self.merge_table: dict[tuple[int, int], tuple[int, int] | None] = {}
        self.local = -1
        self.info: SegmentInfo | None = None  # the current segment
        self.seg_rows = 0  # rows in the current segment
        self.carry: _Carry | None = None
        self.prev: tuple[str, str] | None = None  # (head, body) of the last step line
        self.skipped: list[tuple[int, str, str]] = []  # (line, reason, text)
        self.n_lines = 0
        self.step_lines = 0
        self.total_steps: int | None = None

    # ---- signatures -----------------------------------------------------------------------
    def _sig(self, keys: tuple) -> int:
        sid = self.sigs.get(keys)
        if sid is None:
            ok = len(set(keys)) == len(keys) and all(_KEY.match(k) for k in keys)
            sid = len(self.sig_keys)
            self.sigs[keys] = sid
            self.sig_keys.append(keys if ok else None)
        return sid if self.sig_keys[sid] is not None else -1

    def _merge(self, row_sig: int, sid: int) -> tuple[int, int] | None:
        """(union sig, effective sig of the line) when a line can join the row, else None."""
        got = self.merge_table.get((row_sig, sid), False)
        if got is not False:
            return got
        row_keys, keys = self.sig_keys[row_sig], self.sig_keys[sid]
        clash = set(row_keys) & set(keys)
        result = None
        if all(k in SECOND_LINE_RENAMES and SECOND_LINE_RENAMES[k] not in row_keys for k in clash):
            eff = tuple(SECOND_LINE_RENAMES[k] if k in clash else k for k in keys)
            result = (self._sig(row_keys + eff), self._sig(eff))
            if result[0] < 0 or result[1] < 0:
                result = None
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
        if "\r\n" in text:
            text = text.replace("\r\n", "\n")
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
        saved = (self.local, self.info, self.seg_rows, self.carry, self.prev, len(self.skipped))
        try:
            return self._parse(lines, first_line, partial and at_eof, validate=False)
        except _SlowPath:
            self.local, self.info, self.seg_rows, self.carry, self.prev, n_skipped = saved
            del self.skipped[n_skipped:]
            return self._parse(lines, first_line, partial and at_eof, validate=True)

    def _parse(self, lines: list[str], first_line: int, last_is_cut: bool, validate: bool) -> list[Event]:
        skipped = self.skipped
        row_step: list[int] = []
        row_prefix: list[str] = []
        row_line: list[int] = []
        buckets: dict[int, tuple[list[int], list[list[str]]]] = {}
        # segment bounds of this chunk: (first row index, local id, info to announce or None)
        if self.local < 0:
            info = self._new_segment()
            bounds: list[tuple[int, int, SegmentInfo | None]] = [(0, info.key[1], info)]
        else:
            bounds = [(0, self.local, None)]
        carry = self.carry
        carry_touched = False
        last_entries: list = []
        if carry is not None:
            row_step.append(carry.step)
            row_prefix.append(carry.prefix)
            row_line.append(carry.line)
            for eff, vals in carry.entries:
                buckets.setdefault(eff, ([], []))
                buckets[eff][0].append(0)
                buckets[eff][1].append(vals)
            last_entries = list(carry.entries)
            cur_step_s, cur_step, cur_sig = carry.step_s, carry.step, carry.sig
        else:
            cur_step_s, cur_step, cur_sig = None, -1, -1
        prev_head, prev_body = self.prev if self.prev else (None, None)
        seg_rows = self.seg_rows
        n_step_lines = 0
        total_s = ""
        mark_len = len(MARK)
        last_index = len(lines) - 1
        for k, line in enumerate(lines):
            i = line.find(MARK)
            if i < 0:
                if line is _BAD:
                    continue
                j = line.find("{")
                if j >= 0 and line.rstrip().endswith("}"):
                    when = parse_timestamp(line[:j])
                    config = parse_config_text(line[j:]) if when is not None else None
                    if config is not None:
                        if seg_rows:
                            self.seg_rows = seg_rows  # (reset by _new_segment)
                            info = self._new_segment(when, config)
                            bounds.append((len(row_step), info.key[1], info))
                            seg_rows = 0
                            cur_step_s, cur_step, cur_sig = None, -1, -1
                            prev_head = prev_body = None
                        else:  # a config line before any step row: the launch's config
                            self.info.config, self.info.start_time = config, when
                        continue
                    skipped.append((first_line + k, "unreadable config line", line))
                    continue
                skipped.append((first_line + k, classify_foreign(line), line))
                continue
            c = line.find(": ", i + mark_len)
            body = line[c + 2:]
            if body[-2:] == ", ":
                body = body[:-2]
            elif body[-1:] == ",":
                body = body[:-1]
            else:
                c = -1
            if c < 0:
                skipped.append((first_line + k, "cut-off line" if (k == last_index and last_is_cut)
                                else "malformed step line", line))
                continue
            head = line[i + mark_len:c]
            if body == prev_body and head == prev_head:
                skipped.append((first_line + k, "duplicate line", line))
                continue
            flat = body.replace(": ", ", ").split(", ")
            vals = flat[1::2]
            keys = tuple(flat[0::2])
            sid = self.sigs.get(keys)
            if sid is None or self.sig_keys[sid] is None:
                sid = self._sig(keys)
            if sid < 0 or len(vals) != len(keys):
                skipped.append((first_line + k, "malformed step line", line))
                continue
            step_s, slash, tot = head.partition("/")
            prefix = line[:i]
            if validate:
                try:
                    [float(v) for v in vals]
                    if not (step_s.isascii() and step_s.isdigit()) or (
                            slash and not (tot.isascii() and tot.isdigit())):
                        raise ValueError
                except ValueError:
                    skipped.append((first_line + k, "malformed step line", line))
                    continue
                if parse_timestamp(prefix) is None:
                    skipped.append((first_line + k, "unrecognised prefix", line))
                    continue
            n_step_lines += 1
            prev_head, prev_body = head, body
            merged = self._merge(cur_sig, sid) if step_s == cur_step_s else None
            if merged is not None:
                cur_sig, eff = merged
                row = len(row_step) - 1
                if row == 0 and carry is not None:
                    carry_touched = True
            else:
                try:
                    step_i = int(step_s)
                except ValueError:
                    raise _SlowPath from None
                if step_i <= cur_step and seg_rows:
                    # the step went back inside one file: a restart logged into the same file
                    info = self._new_segment()
                    bounds.append((len(row_step), info.key[1], info))
                    seg_rows = 0
                cur_step_s, cur_step, cur_sig, eff = step_s, step_i, sid, sid
                row = len(row_step)
                row_step.append(step_i)
                row_prefix.append(prefix)
                row_line.append(first_line + k)
                last_entries = []
                seg_rows += 1
            bucket = buckets.get(eff)
            if bucket is None:
                bucket = buckets[eff] = ([], [])
            bucket[0].append(row)
            bucket[1].append(vals)
            last_entries.append((eff, vals))
            total_s = tot
        batch = self._assemble(row_step, row_prefix, row_line, buckets)
        # state for the next chunk (only now: _assemble may still send us to the slow path)
        self.step_lines += n_step_lines
        if total_s.isdigit():
            self.total_steps = int(total_s)
        self.seg_rows = seg_rows
        self.prev = (prev_head, prev_body) if prev_head is not None else None
        if row_step and bounds[-1][0] < len(row_step):
            r = len(row_step) - 1
            self.carry = _Carry(cur_step_s, cur_step, cur_sig, row_prefix[r], row_line[r], last_entries)
        else:
            self.carry = None
        events: list[Event] = []
        for idx, (lo, local, info) in enumerate(bounds):
            hi = bounds[idx + 1][0] if idx + 1 < len(bounds) else len(row_step)
            if info is not None:
                events.append(Event("segment", segment=info))
            replace = idx == 0 and carry is not None and carry_touched
            if idx == 0 and carry is not None and not carry_touched:
                lo = 1  # the carried row was handed over already and did not change
            if hi > lo:
                events.append(Event("rows", key=(self.path, local), rows=_slice(batch, lo, hi),
                                    replace_last=replace))
        return events

    def _assemble(self, row_step, row_prefix, row_line, buckets) -> ColumnStore:
        n = len(row_step)
        metrics: dict[str, np.ndarray] = {}
        logged: dict[str, np.ndarray] = {}
        for sid, (rows, vals) in buckets.items():
            try:
                arr = np.array(vals, dtype=np.float64)
            except ValueError:
                raise _SlowPath from None
            idx = np.asarray(rows, dtype=np.int64)
            for j, key in enumerate(self.sig_keys[sid]):
                if key not in metrics:
                    metrics[key] = np.full(n, np.nan)
                    logged[key] = np.zeros(n, bool)
                metrics[key][idx] = arr[:, j]
                logged[key][idx] = True
        times = _timestamps(row_prefix)
        return batch_from_columns(np.asarray(row_step, np.int64), times, np.asarray(row_line, np.int64),
                                  metrics, logged)


def _timestamps(prefixes: list[str]) -> np.ndarray:
    """Bulk-convert asctime prefixes; any that is not one sends the chunk to the slow path."""
    if not prefixes:
        return np.empty(0, "datetime64[ns]")
    try:
        out = pd.to_datetime(prefixes, format=_TS_FMT + " ", errors="raise")
        return np.asarray(out, dtype="datetime64[ns]")
    except (ValueError, TypeError):
        pass
    result = np.empty(len(prefixes), "datetime64[ns]")
    for k, p in enumerate(prefixes):
        t = parse_timestamp(p)
        if t is None:
            raise _SlowPath
        result[k] = t
    return result


def _slice(batch: ColumnStore, lo: int, hi: int) -> ColumnStore:
    if lo == 0 and hi == batch.n:
        return batch
    out = ColumnStore(hi - lo)
    out.append_from(batch, lo, hi)
    for name in list(out.metrics):
        if not out.logged[name][: out.n].any():
            del out.metrics[name], out.logged[name]
    return out
