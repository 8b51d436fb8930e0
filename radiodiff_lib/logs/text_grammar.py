"""The grammar of RadioDiff's text log, shared by the line pass (``text.py``) and the bulk pass
(``text_bulk.py``): what a step line holds, which keys are valid, how two lines make one row,
the timestamps, and the row one pass leaves open for the next.

A step line is ``[<asctime> ][Train Step] <step>/<total>: <key>: <value>, <key>: <value>, ``:
- the text before ``[Train Step] `` is empty or a ``logging`` asctime (``%Y-%m-%d %H:%M:%S,%f``);
  a ``\\r`` inside it (a progress bar printed on the same terminal line) is cut off first;
- ``<step>`` is ASCII digits that fit int64; keys match ``[A-Za-z_][A-Za-z0-9_./-]*`` and are
  unique within the line; every value is something Python's ``float`` reads (``-2292.09155``,
  ``nan``, ``inf``, ``1.2345678e+03``), so ``{:.5f}`` (RadioDiff) and ``{:.8g}`` (ours) both read
  back exactly;
- the line ends with ``", "`` (or ``","``).
Consecutive step lines with the same ``<step>/<total>`` whose keys do not clash are one row: the
generator line, then the discriminator line. Both print ``lr``; the second one's is kept as
``lr_disc`` (``SECOND_LINE_RENAMES``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from ..vocabulary import LR, LR_DISC, STEP_MARK
from .columns import NAT, digits_step

TS_FMT = "%Y-%m-%d %H:%M:%S,%f"
ASCTIME_LEN = 24  # len("2025-03-02 09:14:05,311 "): logging's asctime and the space after it
HEAD_AT = ASCTIME_LEN + len(STEP_MARK)  # where ``<step>/<total>`` starts in a line with an asctime
# a repeated key in a merged second line is kept under another name instead of being dropped
SECOND_LINE_RENAMES = {LR: LR_DISC}
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_./\-]*\Z")


class SlowPath(Exception):
    """A fast pass met something unexpected: redo the lines with the validating line pass."""


# ---- one line -------------------------------------------------------------------------------------

def split_body(body: str) -> list[str]:
    """``k1: v1, k2: v2`` -> ``[k1, v1, k2, v2]`` (an odd length or a key in a value slot: not a body)."""
    return body.replace(": ", ", ").split(", ")


def step_number(head: str) -> int:
    """The step of a ``<step>/<total>`` head; SlowPath unless ASCII digits that fit int64."""
    step = digits_step(head.partition("/")[0])
    if step is None:
        raise SlowPath
    return step


def total_of(head: str) -> int | None:
    """The ``<total>`` of a ``<step>/<total>`` head, when it is a number."""
    return digits_step(head.partition("/")[2])


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


# ---- timestamps -----------------------------------------------------------------------------------

def parse_timestamp(text: str) -> np.datetime64 | None:
    """A logging asctime (or empty) -> datetime64 / NaT; None when it is something else."""
    text = text.rsplit("\r", 1)[-1].strip()
    if not text:
        return NAT
    try:
        when = datetime.strptime(text, TS_FMT)
    except ValueError:
        return None
    # years datetime64[ns] holds (numpy wraps others around silently); the bulk pass takes the same
    return np.datetime64(when, "ns") if 1900 <= when.year <= 2200 else None


# the 37 characters that open a regular step line: asctime (digits at the "0"s) and the marker;
# LIMIT is how far above the template each may be (0: exactly it; 9: any digit; 1, 3, 2, 5: the
# year's first digit is 1 or 2, tens of month, day, hour, minute, second)
TEMPLATE = np.frombuffer(b"1000-00-00 00:00:00,000 [Train Step] ", np.uint8)
LIMIT = np.array([1, 9, 9, 9, 0, 1, 9, 0, 3, 9, 0, 2, 9, 0, 5, 9, 0, 5, 9, 0, 9, 9, 9] + [0] * 14, np.uint8)


def strict_asctime(over: np.ndarray) -> bool:
    """Whether rows of (prefix - TEMPLATE) are asctimes strptime reads, given numpy checks the day."""
    if not (over <= LIMIT[:over.shape[1]]).all():
        return False
    year = over[:, :4].astype(np.int64) @ np.array([1000, 100, 10, 1]) + 1000
    # strptime's ranges (numpy would take hour 24); years that fit datetime64[ns]
    return bool((year >= 1900).all() and (year <= 2200).all() and (over[:, 11] * 10 + over[:, 12] <= 23).all())


def bulk_timestamps(prefixes: list[str]) -> np.ndarray:
    """Convert asctime prefixes (``2025-03-02 09:15:41,120 `` or empty) at C speed; SlowPath if odd."""
    n = len(prefixes)
    if not n:
        return np.empty(0, "datetime64[ns]")
    arr = np.array(prefixes, dtype="U25")
    codes = arr.view(np.uint32).reshape(n, 25)
    # exactly logging's asctime and a space (numpy alone would also read "T" or hour 24)
    if not ((codes[:, 24] == 0).all() and strict_asctime(codes[:, :24] - TEMPLATE[:24].astype(np.uint32))):
        return _timestamps_one_by_one(prefixes)
    codes = codes.copy()
    codes[:, 19] = 46  # "," -> "." so numpy reads the milliseconds
    codes[:, 23] = 0
    try:
        return codes.view("U25").reshape(n).astype("datetime64[ms]").astype("datetime64[ns]")
    except ValueError:
        return _timestamps_one_by_one(prefixes)


def _timestamps_one_by_one(prefixes: list[str]) -> np.ndarray:
    result = np.empty(len(prefixes), "datetime64[ns]")
    for k, p in enumerate(prefixes):
        t = parse_timestamp(p)
        if t is None:
            raise SlowPath
        result[k] = t
    return result


# ---- keys and rows --------------------------------------------------------------------------------

class KeyTable:
    """Every key sequence seen in a file's step lines, by id, and the rule joining two lines into a row.

    A signature (``sig``) is the id of a key tuple as a line prints it; it is -1 for a tuple that is
    not a valid set of keys. A pair (``pair``) is (the signature a line prints, the signature its
    values are stored under): a discriminator line joining a row stores its ``lr`` as ``lr_disc``.
    Both passes ask the table, so they agree on every key and every merge.
    """

    def __init__(self) -> None:
        self.ids: dict[tuple, int] = {}
        self.keys: list[tuple | None] = []  # sig -> its keys (None: not a valid set of keys)
        self.self_pairs: list[int] = []  # sig -> pair id of (sig, sig), -1 for an invalid sig
        self.pairs: list[tuple[int, int]] = []  # pair id -> (printed sig, stored sig)
        self.pair_ids: dict[tuple[int, int], int] = {}
        self.merges: dict[tuple[int, int], tuple[int, int] | None] = {}  # (row sig, line sig) -> merge()

    def sig(self, keys: tuple) -> int:
        """The id of a key tuple (-1 when it is not a valid set of keys)."""
        sid = self.ids.get(keys)
        if sid is None:
            ok = len(set(keys)) == len(keys) and all(_KEY.match(k) for k in keys)
            sid = len(self.keys)
            self.ids[keys] = sid
            self.keys.append(keys if ok else None)
            self.self_pairs.append(self.pair(sid, sid) if ok else -1)
        return sid if self.keys[sid] is not None else -1

    def pair(self, printed: int, stored: int) -> int:
        """Id of (keys as printed, column names they are stored under)."""
        pid = self.pair_ids.get((printed, stored))
        if pid is None:
            pid = self.pair_ids[(printed, stored)] = len(self.pairs)
            self.pairs.append((printed, stored))
        return pid

    def printed_keys(self, pid: int) -> tuple:
        """The keys a line of pair ``pid`` prints."""
        return self.keys[self.pairs[pid][0]]

    def stored_keys(self, pid: int) -> tuple:
        """The columns the values of a line of pair ``pid`` go to."""
        return self.keys[self.pairs[pid][1]]

    def merge(self, row_sig: int, sid: int) -> tuple[int, int] | None:
        """(sig of the merged row, pair id of the line) when a line can join the row, else None."""
        got = self.merges.get((row_sig, sid), False)
        if got is not False:
            return got
        row_keys, keys = self.keys[row_sig], self.keys[sid]
        clash = set(row_keys) & set(keys)
        result = None
        if all(k in SECOND_LINE_RENAMES and SECOND_LINE_RENAMES[k] not in row_keys for k in clash):
            stored = tuple(SECOND_LINE_RENAMES[k] if k in clash else k for k in keys)
            union, stored_id = self.sig(row_keys + stored), self.sig(stored)
            if union >= 0 and stored_id >= 0:
                result = (union, self.pair(sid, stored_id))
        self.merges[(row_sig, sid)] = result
        return result


@dataclass
class OpenRow:
    """The last row a pass read, which the next lines (the next chunk's too) may still join."""

    head: str  # "<step>/<total>" as printed
    step: int
    sig: int  # key signature of the row so far
    prefix: str  # the text before the marker on its first line
    line: int  # its first line's number
    entries: list = field(default_factory=list)  # (pair id, float values) of its lines
