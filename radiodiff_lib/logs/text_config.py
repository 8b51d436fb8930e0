"""The launch config a text log carries, read in bounded time and memory.

Two forms:
- the first stage (``train_vae.py``, our ``train.log``) logs its config as one line whose message
  is a Python dict repr; it is read with ``ast`` (literals only, never evaluated: a name or a
  call such as ``PosixPath('...')`` is kept as its text);
- the second stage (``train_cond_ldm.py``) dumps it as multi-line YAML. Its first line carries the
  logging asctime and the first YAML line (``2025-10-15 13:07:01,537 data:``); the lines after it
  have no prefix: indented lines, ``- item`` lines and top-level ``key:`` lines. The block ends at
  the first line that is none of these (a step line, another asctime line, a blank line, a
  traceback) and is read with the bounded YAML loader (``safe_yaml``) that keeps any tag's plain
  value (``!!python/tuple`` becomes a list). A block that does not read as a nested mapping (a
  warning line that happens to look like ``key: value``) was not a config: its lines are counted
  as skipped with their usual reasons.

Bounds (a config is a few KB; a log is another program's output, so nothing here is an error):
a config over ``MAX_CONFIG_CHARS`` characters or ``safe_yaml.MAX_NODES`` values (YAML: with every
alias expanded; also a cyclic alias or nesting past ``safe_yaml.MAX_DEPTH``) is not read, and its
lines are skipped as ``config too large``; a text value longer than ``MAX_VALUE_CHARS`` is
shortened, saying how many characters were cut. A byte that is not UTF-8, a NUL or another
control character in a config line costs only that character: the line is read with U+FFFD in
its place and listed as skipped with reason ``bad bytes in config``, so the damage is seen.

The parser may read a chunk twice (its fast pass can fall back to the validating pass), so a YAML
block is keyed by line number and filling it is idempotent.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import yaml

from ..safe_yaml import MAX_CHARS, MAX_NODES, BoundedSafeLoader, YamlLimitError, load_yaml
from .events import SegmentInfo, SkipLog, has_bad_bytes
from .text_grammar import ASCTIME_LEN, classify_foreign, parse_timestamp

MAX_CONFIG_CHARS = MAX_CHARS  # a config line or YAML block longer than this is not read
MAX_VALUE_CHARS = 2000  # a text value longer than this is shortened (a path is a few hundred at most)
TOO_LARGE = "config too large"
BAD_BYTES = "bad bytes in config"
# a top-level key; U+FFFD: a bad character replaced (``clean_line``), which costs only itself
_TOP_KEY = re.compile("[A-Za-z_\ufffd][\\w.\\-\ufffd]*:(?: |$)")
# what neither YAML nor Python source may hold: control characters (tab and CR are fine), the
# surrogates that stand for bytes that were not UTF-8, and U+FFFE/U+FFFF
_UNREADABLE = re.compile("[^\t\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean_line(line: str) -> tuple[str, bool]:
    """(the line with U+FFFD for every character a config cannot hold, whether there was one)."""
    if _UNREADABLE.search(line) is None:
        return line, False
    return _UNREADABLE.sub("\ufffd", line), True


def shorten(value: Any) -> Any:
    """The config with every text longer than MAX_VALUE_CHARS cut, saying how much (a tree: aliases copied)."""
    if isinstance(value, str):
        cut = len(value) - MAX_VALUE_CHARS
        return value if cut <= 0 else f"{value[:MAX_VALUE_CHARS]}... [{cut:,} more characters not shown]"
    if isinstance(value, dict):
        return {shorten(k): shorten(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(shorten(v) for v in value)
    return value


# ---- the first stage: one dict repr line ----------------------------------------------------------

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


def too_large_dict(message: str) -> bool:
    """Whether a dict repr is over the bounds (counted before parsing: ``ast`` takes ~1 KB per value)."""
    # a dict repr holds at most one value per separator or opening bracket
    return len(message) > MAX_CONFIG_CHARS or sum(map(message.count, ",:[({")) > MAX_NODES


def parse_config_text(message: str) -> dict | None:
    """The config dict from a line's message (a Python dict repr), or None when it is not one."""
    if too_large_dict(message):
        return None
    try:
        tree = ast.parse(message.strip(), mode="eval")
        if not isinstance(tree.body, ast.Dict):
            return None
        value = _literal(tree.body, message.strip())
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # not Python, or nested too deeply
        return None
    return shorten(value) if isinstance(value, dict) else None


# ---- the second stage: a YAML dump ----------------------------------------------------------------

class _Loader(BoundedSafeLoader):
    """The bounded SafeLoader, turning any tag into the plain value of its node (never an object)."""


def _plain(loader: _Loader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


_Loader.add_multi_constructor("!", _plain)
_Loader.add_multi_constructor("tag:yaml.org,2002:python/", _plain)


def parse_yaml_config(text: str) -> dict | None:
    """A config mapping from YAML text, or None when it is not one (no nested mapping in it);
    YamlLimitError when it is over the bounds."""
    try:
        value = load_yaml(text, _Loader)
    except YamlLimitError:  # (a YAMLError too): over the bounds is not the same as not a config
        raise
    except (yaml.YAMLError, ValueError, TypeError, RecursionError):
        return None
    if not isinstance(value, dict) or not any(isinstance(v, dict) for v in value.values()):
        return None
    return {str(k): v for k, v in shorten(value).items()}


def opens_yaml(message: str) -> bool:
    """Whether a logged message may be the first line of a YAML mapping (``key:`` or ``key: value``)."""
    return bool(_TOP_KEY.match(message))


def continues_yaml(line: str) -> bool:
    """Whether a line without a prefix continues a YAML dump: indented, a list item or a top-level key."""
    if not line.strip():
        return False
    return line[0] in " \t-" or bool(_TOP_KEY.match(line))


@dataclass
class YamlDump:
    """A YAML block being read: the segment it configures, its first line, its lines by number."""

    info: SegmentInfo
    first_line: int
    head: str  # the whole first line, as the file has it
    when: np.datetime64
    lines: dict[int, str] = field(default_factory=dict)  # line number -> YAML text (the first: its message)
    closed_at: int | None = None  # the line that ended the block
    chars: int = 0  # characters of YAML text so far
    damaged: dict[int, str] = field(default_factory=dict)  # line number -> the line as read, bad bytes and all

    def take(self, line: str, ln: int) -> bool:
        """Whether line ``ln`` belongs to the block (a line read again gives the same answer)."""
        if ln in self.lines:
            return True
        if self.closed_at is not None and ln >= self.closed_at:
            return False
        clean, bad = clean_line(line)
        if clean[:4].isdigit() or not continues_yaml(clean):  # a new logging record, or not YAML
            self.closed_at = ln
            return False
        self.keep(ln, line, clean, bad)
        return True

    def take_too_long(self, start: str, ln: int) -> bool:
        """Whether a line too long to hold (``start``: its beginning) belongs to the block, which
        is then too large."""
        if not self.take(start, ln):
            return False
        self.chars += MAX_CONFIG_CHARS
        return True

    def keep(self, ln: int, line: str, clean: str, bad: bool) -> None:
        """Keep a line's YAML text (bad characters replaced); past MAX_CONFIG_CHARS only its number."""
        if bad:
            self.damaged[ln] = line
        self.chars += len(clean) + 1
        self.lines[ln] = clean if self.chars <= MAX_CONFIG_CHARS else ""

    def text(self) -> str:
        """The YAML text: the first line's message, then the other lines in order."""
        return "\n".join(self.lines[k] for k in sorted(self.lines))

    def settle(self, skipped: SkipLog) -> bool:
        """Read the block into its segment's config (True), or count its lines as skipped (False)."""
        config, reason = None, TOO_LARGE if self.chars > MAX_CONFIG_CHARS else None
        if reason is None:
            try:
                config = parse_yaml_config(self.text())
            except YamlLimitError:
                reason = TOO_LARGE
        if config is not None:
            self.info.config = config
            if np.isnat(self.info.start_time):
                self.info.start_time = self.when
            skipped.extend((k, BAD_BYTES, self.damaged[k]) for k in sorted(self.damaged))
            return True
        for k in sorted(self.lines):
            line = self.head if k == self.first_line else self.damaged.get(k, self.lines[k])
            why = reason or ("non-utf8 bytes" if has_bad_bytes(line) else classify_foreign(line))
            skipped.append((k, why, line))
        return False


def open_yaml(line: str, ln: int, info: SegmentInfo) -> YamlDump | None:
    """A YAML block when line ``ln`` is an asctime-prefixed first line of one, else None."""
    if len(line) <= ASCTIME_LEN or line[ASCTIME_LEN - 1] != " ":
        return None
    message, bad = clean_line(line[ASCTIME_LEN:])
    if not opens_yaml(message):
        return None
    when = parse_timestamp(line[:ASCTIME_LEN - 1])
    if when is None or np.isnat(when):
        return None
    dump = YamlDump(info, ln, line, when)
    dump.keep(ln, line, message, bad)
    return dump
