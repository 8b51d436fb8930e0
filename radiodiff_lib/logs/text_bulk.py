"""Bulk pass of the text log parser: a block of regular step lines read with a few C-level string
and numpy operations per line *shape* (key sequence) instead of Python work per line.

A block qualifies when every line is ``<asctime> [Train Step] <step>/<total>: k1: v1, ..., kw: vw, ``
in ASCII, the lines of one ``": "`` count share one key sequence, each row is one line or two
mergeable lines with the same head (generator, then discriminator), steps strictly increase, and
the first line does not join the row left open by the previous input. It yields exactly what the
line pass of ``text.py`` would (same rows, values, times, line numbers, and the same state left
for the next lines); anything else raises ``SlowPath``, and the caller reads the block line by
line. The pass is a function of the lines, the grammar's ``KeyTable`` and the row left open: it
never touches the parser. Why each check makes the two agree:
- the 37 bytes at each line start are checked against the asctime + marker template, so the marker
  is the first one in the line and the prefix is one ``strptime`` accepts (ranges checked too);
- each line ends with ``", "`` and the separator right after its first token is ``": "``: the
  head is then exactly the text up to the first ``": "`` after the marker, as the line parser cuts it;
- joining the lines of one shape and splitting at both separators must give exactly
  ``[head, k1, v1, ..., kw, vw] * m``: every key slot holds its key, every value slot goes through
  ``float`` (as the line parser does), and only heads can start a line, so line r starts at slot r.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..vocabulary import STEP_MARK
from .columns import ColumnStore, batch_from_columns
from .text_grammar import (
    ASCTIME_LEN as _PREFIX, HEAD_AT as _HEAD, TEMPLATE, KeyTable, OpenRow, SlowPath, split_body, strict_asctime,
    total_of,
)

_AR37 = np.arange(_HEAD)
PIECE = 8192  # lines converted at once


def opens_block(line: str, open_head: str | None) -> bool:
    """Whether a line may start a bulk block: it looks regular and does not join the open row."""
    if not _regular(line):
        return False
    return open_head is None or line[_HEAD:line.find(": ", _HEAD)] != open_head


def _regular(line: str) -> bool:
    return line[_PREFIX:_HEAD] == STEP_MARK and line[-2:] == ", "


def irregular_lines(lines: list[str], lo: int, hi: int) -> np.ndarray:
    """Indices in lo:hi of lines that can never be part of a bulk block, then hi (an int64 array:
    a piece of junk holds millions of them)."""
    found = np.fromiter((k for k, line in enumerate(lines[lo:hi], lo) if not _regular(line)), np.int64)
    return np.append(found, hi)


def next_run(lines: list[str], pos: int, end: int, irregular: np.ndarray | None, min_len: int) -> tuple[int, int]:
    """(lo, hi): the next run of at least min_len regular lines at or after pos, else (end, end).
    Without the irregular lines, optimistically the rest from the first regular line on."""
    if irregular is None:
        while pos < end and not _regular(lines[pos]):
            pos += 1
        return (pos, end) if end - pos >= min_len else (end, end)
    k = int(np.searchsorted(irregular, pos))
    gaps = np.diff(irregular[k:], prepend=pos) - 1  # regular lines before each irregular one from pos on
    gaps[0] += 1  # (before the first: from pos itself)
    long = np.flatnonzero(gaps >= min_len)
    if not len(long):
        return end, end
    j = int(long[0])
    start = pos if j == 0 else int(irregular[k + j - 1]) + 1
    return start, int(irregular[k + j])


@dataclass
class Block:
    """What the bulk pass read from a block, and the state the line pass would have left after it."""

    rows: ColumnStore
    open_row: OpenRow  # the block's last row, which the next lines may still join
    last_line: tuple[str, str]  # (head, body) of its last step line: an exact repeat of it is a duplicate
    n_rows: int
    n_lines: int
    total_steps: int | None  # the last line's "/<total>"


@dataclass
class Shape:
    """Lines of one key sequence, converted: heads, value columns, times."""

    sid: int
    idx: np.ndarray  # line positions in the block
    heads: list[str]
    cols: list[np.ndarray]
    times: np.ndarray


def convert(lines: list[str], keys: tuple) -> tuple[list[str], list[np.ndarray], np.ndarray]:
    """(heads, value columns, times) of lines that all print ``keys``; SlowPath when one differs.
    Done in pieces of PIECE lines: the millions of small strings of a whole file would not stay in
    the CPU caches between the split and the conversion (measured 1.5x slower)."""
    if len(lines) <= PIECE:
        return _convert(lines, keys)
    parts = [_convert(lines[i:i + PIECE], keys) for i in range(0, len(lines), PIECE)]
    heads = [h for part in parts for h in part[0]]
    cols = [np.concatenate([part[1][k] for part in parts]) for k in range(len(keys))]
    return heads, cols, np.concatenate([part[2] for part in parts])


def _convert(lines: list[str], keys: tuple) -> tuple[list[str], list[np.ndarray], np.ndarray]:
    m, w = len(lines), len(keys)
    period = 2 * w + 1
    joined = "".join(lines)
    if not joined.isascii():
        raise SlowPath
    # bytes: their split is cheaper than str's, and for ASCII float() of bytes accepts and
    # returns exactly what float() of the same str does (one C parser)
    data = joined.encode("ascii")
    flat = data.replace(b": ", b", ").split(b", ")
    if len(flat) != m * period + 1 or flat[-1]:
        raise SlowPath
    first = flat[0:m * period:period]
    # slot 1 + 2k of each line holds key k, slot 2 + 2k its value (line r starts at slot r * period)
    for k, key in enumerate(keys):
        if not key.isascii() or flat[1 + 2 * k::period] != [key.encode("ascii")] * m:
            raise SlowPath
    try:
        cols = [_floats(flat[2 + 2 * k::period], m) for k in range(w)]
    except ValueError:
        raise SlowPath from None
    raw = np.frombuffer(data, np.uint8)
    lens = np.fromiter(map(len, lines), np.int64, m)
    ends = np.cumsum(lens)
    starts = ends - lens
    head_len = np.fromiter(map(len, first), np.int64, m)
    if (head_len <= _HEAD).any() or (head_len + 4 > lens).any():
        raise SlowPath
    sep = starts + head_len
    if not ((raw[ends - 2] == 44).all() and (raw[ends - 1] == 32).all()
            and (raw[sep] == 58).all() and (raw[sep + 1] == 32).all()):
        raise SlowPath
    pre = raw[starts[:, None] + _AR37]
    if not strict_asctime(pre - TEMPLATE):  # uint8: a byte below the template's wraps to a big one
        raise SlowPath
    stamp = np.ascontiguousarray(pre[:, :23])
    stamp[:, 19] = 46  # "," -> "." so numpy reads the milliseconds
    try:
        times = stamp.view("S23").ravel().astype("datetime64[ms]").astype("datetime64[ns]")
    except ValueError:
        raise SlowPath from None  # e.g. 2025-02-30: strptime refuses it as well
    return _heads(raw, starts + _HEAD, head_len - _HEAD), cols, times


def _heads(raw: np.ndarray, at: np.ndarray, size: np.ndarray) -> list[str]:
    """The texts raw[at:at + size] (no newline in them: the lines were cut at newlines), gathered
    with numpy, each followed by a newline, then decoded and split at once."""
    seg = size + 1
    out_end = np.cumsum(seg)
    idx = np.arange(int(out_end[-1])) + np.repeat(at - (out_end - seg), seg)
    buf = raw[idx]
    buf[out_end - 1] = 10
    heads = buf.tobytes().decode("ascii").split("\n")
    heads.pop()
    return heads


def _floats(tokens: list[bytes], m: int) -> np.ndarray:
    """float() of each token. A column that prints one value throughout (RadioDiff's lr, logvar,
    d_weight, disc_factor) is converted once: equal strings give equal floats, and comparing
    strings costs a fraction of converting them."""
    t = tokens[0]
    if t == tokens[-1] and t == tokens[m // 2] and tokens.count(t) == m:
        return np.full(m, float(t))
    return np.fromiter(map(float, tokens), np.float64, m)


def _period(block: list[str]) -> int:
    """Number of leading lines that share the first line's head (one row), at most 4."""
    heads = [line[_HEAD:line.find(": ", _HEAD)] for line in block[:5]]
    k = 1
    while k < len(heads) and heads[k] == heads[0]:
        k += 1
    if k > 4:
        raise SlowPath
    return k


def read_block(lines: list[str], lo: int, hi: int, first_line: int, keys: KeyTable, open_row: OpenRow | None,
               last_head: str | None, seg_rows: int) -> Block:
    """The rows of lines lo:hi, given the row left open before them (``open_row``), the head of the
    step line before them (``last_head``) and the rows of the current segment so far; SlowPath
    when the block is not one the bulk pass reads exactly as the line pass would."""
    sample = range(lo, hi, max(1, (hi - lo) // 64))
    if not (_regular(lines[hi - 1]) and all(_regular(lines[i]) for i in sample)):
        raise SlowPath  # (cheaply, before the per-line work: an optimistic run may be mostly junk)
    if any(lines[i] == lines[i + 1] for i in sample if i + 1 < hi):
        raise SlowPath  # a line written twice (a logger with two handlers) is a duplicate: never bulk
    block = lines[lo:hi]
    shapes = _block_shapes(keys, block)
    head, sid_of, times = _by_line(shapes, len(block))
    new, pid_of, row_sig = _rows_of(keys, head, sid_of)
    firsts = np.flatnonzero(new)
    steps = _row_steps(head[firsts].tolist())
    if (len(steps) > 1 and not (np.diff(steps) > 0).all()) or (open_row is not None and steps[0] <= open_row.step) \
            or (open_row is None and seg_rows) or (last_head is not None and head[0] == last_head):
        raise SlowPath  # a restart inside the file, or a line joining the open row
    metrics, logged = _columns(keys, shapes, pid_of, np.cumsum(new) - 1, len(firsts))
    rows = batch_from_columns(steps, times[firsts], firsts + (first_line + lo), metrics, logged)
    last = int(firsts[-1])
    end = block[-1]
    return Block(rows=rows, open_row=_last_row(block, shapes, head, pid_of, row_sig, steps, last, first_line + lo),
                 last_line=(head[-1], end[end.find(": ", _HEAD) + 2:-2]), n_rows=len(steps), n_lines=len(block),
                 total_steps=total_of(head[-1]))


def _shape(keys: KeyTable, idx: np.ndarray, part: list[str], sample: str) -> Shape:
    """Convert the lines ``part`` (at positions idx of the block), which should all print the keys
    of ``sample``."""
    flat = split_body(sample[sample.find(": ", _HEAD) + 2:-2])
    sid = keys.sig(tuple(flat[0::2]))
    if sid < 0 or len(flat) % 2:
        raise SlowPath
    heads, cols, times = convert(part, keys.keys[sid])
    return Shape(sid, idx, heads, cols, times)


def _block_shapes(keys: KeyTable, block: list[str]) -> list[Shape]:
    """The block's lines grouped by key sequence and converted."""
    n = len(block)
    try:  # most logs repeat the first row's lines (generator, discriminator): group by position
        return [_shape(keys, np.arange(j, n, period), block[j::period], block[j])
                for period in [_period(block)] for j in range(period)]
    except SlowPath:  # e.g. generator lines alone before disc_start, then both: group by ": " count
        widths = [line.count(": ") for line in block]
        wid = np.asarray(widths, np.int64)
        shapes = []
        for width in sorted(set(widths), key=widths.index):
            idx = np.flatnonzero(wid == width)
            shapes.append(_shape(keys, idx, [block[i] for i in idx.tolist()], block[int(idx[0])]))
        return shapes


def _by_line(shapes: list[Shape], n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(head, key signature, time) of every line of the block, in line order."""
    head = np.empty(n, object)
    sid_of = np.empty(n, np.int64)
    times = np.empty(n, "datetime64[ns]")
    for s in shapes:
        head[s.idx] = s.heads
        sid_of[s.idx] = s.sid
        times[s.idx] = s.times
    return head, sid_of, times


def _rows_of(keys: KeyTable, head: np.ndarray, sid_of: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(line starts a row, pair id of each line, key signature of each row's merged keys): a line with
    the head of the line before joins that line's row (two lines at most)."""
    new = np.ones(len(head), bool)
    new[1:] = head[1:] != head[:-1]
    if (~new[1:] & ~new[:-1]).any():
        raise SlowPath  # three lines with one head
    pid_of = np.asarray(keys.self_pairs, np.int64)[sid_of]
    row_sig = sid_of.copy()
    joins = np.flatnonzero(~new)
    if len(joins):
        prev_sid, this_sid = sid_of[joins - 1], sid_of[joins]
        for a, b in set(zip(prev_sid.tolist(), this_sid.tolist())):
            got = keys.merge(a, b) if a != b else None
            if got is None:
                raise SlowPath  # a repeat or a clash: a duplicate line or a restart, line by line
            sel = joins[(prev_sid == a) & (this_sid == b)]
            pid_of[sel] = got[1]
            row_sig[sel - 1] = got[0]
    return new, pid_of, row_sig


def _row_steps(row_heads: list[str]) -> np.ndarray:
    """The step of each row's ``<step>/<total>`` head; SlowPath when one is not ASCII digits."""
    m = len(row_heads)
    parts = "/".join(row_heads).split("/")  # "<step>/<total>" each, as a rule: one split for all
    step_s = parts[0::2]
    if len(parts) != 2 * m or (np.fromiter(map(len, row_heads), np.int64, m) != 1 + np.fromiter(
            map(len, step_s), np.int64, m) + np.fromiter(map(len, parts[1::2]), np.int64, m)).any():
        step_s = [h.partition("/")[0] for h in row_heads]  # a head with no or several "/"
    digits = "".join(step_s)
    if "" in step_s or not (digits.isdigit() and digits.isascii()) or max(map(len, step_s)) > 18:
        raise SlowPath  # (19 digits or more may not fit int64: the line pass checks each)
    return np.fromiter(map(int, step_s), np.int64, m)


def _columns(keys: KeyTable, shapes: list[Shape], pid_of: np.ndarray, row_of: np.ndarray,
             m: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Metric columns and logged masks of the block's m rows, in the order the line pass would
    create them (first appearance of each pair)."""
    uniq, first_at = np.unique(pid_of, return_index=True)
    metrics: dict[str, np.ndarray] = {}
    logged: dict[str, np.ndarray] = {}
    for pid in uniq[np.argsort(first_at)].tolist():
        for s in shapes:  # (two ": " counts may print the same keys: "k: v: k2: v2, " is read too)
            mask = pid_of[s.idx] == pid
            if not mask.any():
                continue
            rows = row_of[s.idx[mask]]
            for k, key in enumerate(keys.stored_keys(pid)):
                if key not in metrics:
                    metrics[key], logged[key] = np.full(m, np.nan), np.zeros(m, bool)
                metrics[key][rows] = s.cols[k][mask]
                logged[key][rows] = True
    return metrics, logged


def _last_row(block: list[str], shapes: list[Shape], head: np.ndarray, pid_of: np.ndarray, row_sig: np.ndarray,
              steps: np.ndarray, last: int, first_line: int) -> OpenRow:
    """The block's last row (``last``: its first line), left open as the line pass leaves it."""
    entries = []
    for i in range(last, len(block)):
        s = next(s for s in shapes if i in s.idx)
        pos = int(np.searchsorted(s.idx, i))
        entries.append((int(pid_of[i]), [float(c[pos]) for c in s.cols]))
    return OpenRow(head[last], int(steps[-1]), int(row_sig[last]), block[last][:_PREFIX], first_line + last, entries)
