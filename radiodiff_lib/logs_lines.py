"""Line-level helpers of the text log parser: timestamps, the config dict repr, skip reasons."""
from __future__ import annotations

import ast
import re
from datetime import datetime

import numpy as np

from .logs_stitch import NAT

TS_FMT = "%Y-%m-%d %H:%M:%S,%f"


class SlowPath(Exception):
    """The fast bulk conversion met something unexpected: redo the chunk validating line by line."""


def parse_timestamp(text: str) -> np.datetime64 | None:
    """A logging asctime (or empty) -> datetime64 / NaT; None when it is something else."""
    text = text.rsplit("\r", 1)[-1].strip()
    if not text:
        return NAT
    try:
        return np.datetime64(datetime.strptime(text, TS_FMT), "ns")
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



def bulk_timestamps(prefixes: list[str]) -> np.ndarray:
    """Convert asctime prefixes (``2025-03-02 09:15:41,120 `` or empty) at C speed; SlowPath if odd."""
    n = len(prefixes)
    if not n:
        return np.empty(0, "datetime64[ns]")
    arr = np.array(prefixes, dtype="U25")
    codes = arr.view(np.uint32).reshape(n, 25)
    # exactly 24 characters ending in a space, with the comma of the milliseconds at 19
    if not ((codes[:, 23] == 32).all() and (codes[:, 24] == 0).all() and (codes[:, 19] == 44).all()):
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
