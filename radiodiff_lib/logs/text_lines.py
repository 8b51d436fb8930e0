"""Line-level helpers of the text log parser: timestamps, the config dict repr, skip reasons."""
from __future__ import annotations

import ast
import re
from datetime import datetime

import numpy as np

from .columns import NAT

TS_FMT = "%Y-%m-%d %H:%M:%S,%f"


class SlowPath(Exception):
    """The fast bulk conversion met something unexpected: redo the chunk validating line by line."""


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
        if not isinstance(tree.body, ast.Dict):
            return None
        value = _literal(tree.body, message.strip())
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # not Python, or nested too deeply
        return None
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
        return _timestamps_general(prefixes)
    codes = codes.copy()
    codes[:, 19] = 46  # "," -> "." so numpy reads the milliseconds
    codes[:, 23] = 0
    try:
        return codes.view("U25").reshape(n).astype("datetime64[ms]").astype("datetime64[ns]")
    except ValueError:
        return _timestamps_general(prefixes)


def _timestamps_general(prefixes: list[str]) -> np.ndarray:
    result = np.empty(len(prefixes), "datetime64[ns]")
    for k, p in enumerate(prefixes):
        t = parse_timestamp(p)
        if t is None:
            raise SlowPath
        result[k] = t
    return result
