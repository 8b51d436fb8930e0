"""No module of ``logs/`` reaches into another module's or object's private names (issue 19): what
two modules share is public in one of them. Counted with ``ast``: ``from x import _y`` and
``obj._y`` where ``obj`` is not ``self``/``cls``."""
from __future__ import annotations

import ast
from pathlib import Path

LOGS = Path(__file__).resolve().parents[2] / "radiodiff_lib" / "logs"


def private_reaches(source: str, name: str) -> list[str]:
    """Every private name a module takes from another module or object, as ``name:line: text``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            names = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
            found += [f"{name}:{node.lineno}: from {'.' * node.level}{node.module} import {n}" for n in names]
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                found.append(f"{name}:{node.lineno}: {ast.unparse(node)}")
    return sorted(found)


def test_the_count_sees_each_kind_of_reach():
    source = "from .text import _x, y\nparser._lines(1)\nself._ok = 1\nmod.Class._versions\nobj.__dict__\n"
    assert private_reaches(source, "m.py") == ["m.py:1: from .text import _x", "m.py:2: parser._lines",
                                               "m.py:4: mod.Class._versions"]


def test_no_module_of_logs_reaches_into_private_names():
    found = [r for p in sorted(LOGS.glob("*.py")) for r in private_reaches(p.read_text(encoding="utf-8"), p.name)]
    assert found == []
