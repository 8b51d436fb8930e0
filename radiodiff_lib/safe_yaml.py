"""The one bounded YAML loader: plain data only, and never more of it than a config can hold.

Every YAML text the workbench reads from a user (a config file, a config dumped into a log) is
loaded with :func:`load_yaml` and a :class:`BoundedSafeLoader` (PyYAML's SafeLoader: no Python
object is ever built), which refuses with a :class:`YamlLimitError` naming the line:
- a text over ``MAX_CHARS`` characters;
- nesting deeper than ``MAX_DEPTH``;
- a document whose tree, with every alias expanded, has more than ``MAX_NODES`` nodes. Ten lines
  of aliases expand to 9**9 nodes: loaded, the aliases share one object, but every walk of the
  result (a dump, a flatten, a config diff) pays for the whole expansion;
- an alias inside the node it names (a cycle: no walk of it ends).
The limits are checked while the document is composed, node by node, so refusing a hostile text
costs at most ``MAX_NODES`` nodes of work.
"""
from __future__ import annotations

from typing import Any

import yaml

MAX_CHARS = 1 << 20  # RadioDiff's configs are a few KB
MAX_DEPTH = 64
MAX_NODES = 50_000  # nodes of the tree with every alias expanded (a config has a few hundred)


class YamlLimitError(yaml.YAMLError):
    """A YAML text over the loader's limits (size, depth, expanded aliases, a cyclic alias)."""


class BoundedSafeLoader(yaml.SafeLoader):
    """SafeLoader that counts the nodes of the document with aliases expanded, and its depth."""

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self.expanded_nodes = 0
        self.depth = 0
        self.anchor_sizes: dict[str, int] = {}  # anchor -> expanded size of its node, once composed

    def compose_node(self, parent, index):
        event = self.peek_event()
        line = event.start_mark.line + 1 if event.start_mark else 0
        if isinstance(event, yaml.AliasEvent):
            size = self.anchor_sizes.get(event.anchor)
            if size is None and event.anchor in self.anchors:
                raise YamlLimitError(f"line {line}: the alias *{event.anchor} is inside the node it names (a cycle)")
            self._count(size or 0, line)  # (an undefined alias: SafeLoader says so)
            return super().compose_node(parent, index)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise YamlLimitError(f"line {line}: nested deeper than {MAX_DEPTH} levels")
        before = self.expanded_nodes
        self._count(1, line)
        node = super().compose_node(parent, index)
        self.depth -= 1
        if event.anchor is not None:
            self.anchor_sizes[event.anchor] = self.expanded_nodes - before
        return node

    def _count(self, nodes: int, line: int) -> None:
        self.expanded_nodes += nodes
        if self.expanded_nodes > MAX_NODES:
            raise YamlLimitError(f"line {line}: more than {MAX_NODES:,} values with every alias expanded")


def load_yaml(text: str, loader: type[BoundedSafeLoader] = BoundedSafeLoader) -> Any:
    """One YAML document loaded within the limits above (YamlLimitError past them, YAMLError if invalid)."""
    if not issubclass(loader, BoundedSafeLoader):
        raise TypeError(f"{loader.__name__} is not a BoundedSafeLoader")
    if len(text) > MAX_CHARS:
        raise YamlLimitError(f"{len(text):,} characters, more than the {MAX_CHARS:,} a YAML config may have")
    return yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader
