"""The one way text that a user did not write enters the report's Markdown.

Folder, file and metric names, config values, notebook parameters and the sentences that quote them
are data: every report text puts them through one of these helpers, so that none of them is ever
read as Markdown or HTML, in ``<name>.md`` or in the HTML nbconvert renders from it.

- ``text``: inline text. Every character Markdown could act on (``\\ ` * _ [ ] < > # | ~ & $``, the
  ``:`` of ``://``, a list marker or a rule at the start) is backslash-escaped, which CommonMark allows for any
  ASCII punctuation, so the renderer shows it as it is and HTML gets ``&lt;`` for ``<``.
- ``code``: a code span whose backtick fence is longer than any backtick run inside, so a name that
  holds backticks cannot close it (nothing inside a code span is markup).
- ``fenced``: a code block (e.g. the recovered config) with a fence no line of it can close.
- ``table``: a pipe table; a cell that is not ``Md`` (Markdown the report wrote itself) goes through
  ``text``, so a value put in a table raw is shown, never interpreted.
Controls (a newline would end a table row or a list item) and the bidirectional overrides that make
a name display in another order than it is written are shown as ``\\xNN`` / ``\\uNNNN`` instead
(``formatting.printable``, the same rule as the terminal's).
"""
from __future__ import annotations

import re
from typing import Any, Iterable

from ..formatting import printable


class Md(str):
    """Markdown the report wrote itself (its own markup around escaped data); ``table`` keeps it as is."""


_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]<>#|~&$"})
# what only acts at the start of a line: a list item marker ("- ", "+ ", "1. ", "1) "), a thematic
# break or a setext heading underline ("---", "===")
_BLOCK_START = re.compile(r"^(\s*)(?:([-+])(?=\s|$)|([-=])(?=[-=\s]*$)|(\d+)(?=[.)](?:\s|$)))")
_TICKS = re.compile("`+")
# a pipe after an even number of backslashes (none included) would end a table cell, even inside a code span
_CELL_PIPE = re.compile(r"(?<!\\)((?:\\\\)*)\|")


def visible(value: Any) -> str:
    """``str(value)`` with controls and direction overrides written as ``\\xNN`` / ``\\uNNNN`` (a tab as a space)."""
    return printable(value, lines=False).replace("\t", " ")


def text(value: Any) -> Md:
    """``value`` as literal inline Markdown text (shown exactly, never read as markup)."""
    # "\\://" keeps a bare URL from turning into a link (whose text would show the escapes)
    s = visible(value).translate(_SPECIAL).replace("://", "\\://")
    return Md(_BLOCK_START.sub(_escape_block_start, s, count=1))


def _escape_block_start(m: re.Match) -> str:
    lead, mark, rule, digits = m.groups()
    return f"{lead}{digits}\\" if digits else f"{lead}\\{mark or rule}"


def code(value: Any) -> Md:
    """``value`` as an inline code span that no backtick inside it can close."""
    s = visible(value) or " "  # an empty span is not a code span
    fence = "`" * (max((len(t) for t in _TICKS.findall(s)), default=0) + 1)
    # CommonMark strips one space at each end when both are spaces: pad so the content survives
    pad = " " if s[:1] in ("`", " ") or s[-1:] in ("`", " ") else ""
    return Md(f"{fence}{pad}{s}{pad}{fence}")


def bold(value: Any) -> Md:
    """``value`` as escaped bold text."""
    return Md(f"**{text(value)}**")


def fenced(value: Any, info: str = "") -> Md:
    """``value`` (several lines) as a fenced code block that none of its lines can close."""
    s = printable(value)
    fence = "`" * max(3, max((len(t) for t in _TICKS.findall(s)), default=0) + 1)
    return Md(f"{fence}{text(info) if info else ''}\n{s.rstrip(chr(10))}\n{fence}")


def table(headers: list[Any], rows: Iterable[Iterable[Any]]) -> Md:
    """A Markdown pipe table: ``Md`` cells kept (pipes escaped), any other value shown as ``text``."""
    def cell(v: Any) -> str:
        s = v if isinstance(v, Md) else text(v)
        return _CELL_PIPE.sub(r"\1\\|", s.replace("\n", " "))
    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return Md("\n".join(lines))
