"""The multi-line YAML config dump that opens a second-stage (``train_cond_ldm.py``) text log.

Its first line carries the logging asctime and the first YAML line (``2025-10-15 13:07:01,537 data:``);
the lines after it have no prefix: indented lines, ``- item`` lines and top-level ``key:`` lines. The
block ends at the first line that is none of these (a step line, another asctime line, a blank line,
a traceback) and is read with a safe YAML loader that keeps any tag's plain value (``!!python/tuple``
becomes a list): it is another project's config, so nothing in it is ever an error. A block that
does not read as a nested mapping (a warning line that happens to look like ``key: value``) was not a
config: its lines are counted as skipped with their usual reasons.

The parser may read a chunk twice (its fast pass can fall back to the validating pass), so the
block is keyed by line number and filling it is idempotent.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import yaml

from .events import SegmentInfo
from .text_lines import classify_foreign, parse_timestamp

_TOP_KEY = re.compile(r"[A-Za-z_][\w.\-]*:(?: |$)")
_ASCTIME = 24  # len("2025-10-15 13:07:01,537 ")


class _Loader(yaml.SafeLoader):
    """SafeLoader that turns any tag into the plain value of its node (never builds an object)."""


def _plain(loader: _Loader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


_Loader.add_multi_constructor("!", _plain)
_Loader.add_multi_constructor("tag:yaml.org,2002:python/", _plain)


def parse_yaml_config(text: str) -> dict | None:
    """A config mapping from YAML text, or None when it is not one (no nested mapping in it)."""
    try:
        value = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except (yaml.YAMLError, ValueError, RecursionError):
        return None
    if not isinstance(value, dict) or not any(isinstance(v, dict) for v in value.values()):
        return None
    return {str(k): v for k, v in value.items()}


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

    def take(self, line: str, ln: int) -> bool:
        """Whether line ``ln`` belongs to the block (a line read again gives the same answer)."""
        if ln in self.lines:
            return True
        if self.closed_at is not None and ln >= self.closed_at:
            return False
        if line[:4].isdigit() or not continues_yaml(line):  # a new logging record, or not YAML
            self.closed_at = ln
            return False
        self.lines[ln] = line
        return True

    def text(self) -> str:
        """The YAML text: the first line's message, then the other lines in order."""
        return "\n".join(self.lines[k] for k in sorted(self.lines))

    def settle(self, skipped: list) -> bool:
        """Read the block into its segment's config (True), or count its lines as skipped (False)."""
        config = parse_yaml_config(self.text())
        if config is not None:
            self.info.config = config
            if np.isnat(self.info.start_time):
                self.info.start_time = self.when
            return True
        for k in sorted(self.lines):
            line = self.head if k == self.first_line else self.lines[k]
            skipped.append((k, classify_foreign(line), line))
        return False


def open_yaml(line: str, ln: int, info: SegmentInfo) -> YamlDump | None:
    """A YAML block when line ``ln`` is an asctime-prefixed first line of one, else None."""
    if len(line) <= _ASCTIME or line[_ASCTIME - 1] != " " or not opens_yaml(line[_ASCTIME:]):
        return None
    when = parse_timestamp(line[:_ASCTIME - 1])
    if when is None or np.isnat(when):
        return None
    return YamlDump(info, ln, line, when, {ln: line[_ASCTIME:]})
