"""The type of a notebook parameter and the check of a value against it (see ``params``).

A type comes from the parameter's annotation in the ``parameters`` cell (``int | None``,
``bool | None``, ``list[str]``, ``dict[str, float]``, ``Optional[str]``), else from its default's
type; a default of None without an annotation leaves it open (any literal). Kept apart from
``params`` so that both the command line's strings and a Python caller's values meet one rule.
"""
from __future__ import annotations

import ast
import math
import os
from dataclasses import dataclass
from typing import Any

from ..errors import NotebookError

BOOL_WORDS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}
TYPE_WORDS = {bool: "a yes/no value (true or false)", int: "a whole number", float: "a number", str: "a text",
              list: "a list", dict: "a mapping"}
_NAMES = {"bool": bool, "int": int, "float": float, "str": str, "list": list, "dict": dict, "List": list,
          "Dict": dict}


@dataclass(frozen=True)
class ParamType:
    """What a parameter accepts: a base type (None: any literal), None or not, and the type of a
    list's items or a mapping's values."""

    base: type | None
    optional: bool
    item: type | None = None


def param_type(default: Any, annotation: ast.expr | None = None, where: str = "parameter") -> ParamType:
    """The type of a parameter from its annotation (when given) or its default."""
    if annotation is not None:
        return _from_annotation(annotation, where)
    if default is None:
        return ParamType(None, True)
    base = next((t for t in (bool, int, float, str, list, dict) if isinstance(default, t)), None)
    return ParamType(list if isinstance(default, tuple) else base, False)


def _from_annotation(node: ast.expr, where: str) -> ParamType:
    parts: list[ast.expr] = []

    def union(n: ast.expr) -> None:  # X | Y | None, Optional[X]
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.BitOr):
            union(n.left), union(n.right)
        elif isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name) and n.value.id == "Optional":
            parts.extend([n.slice, ast.Constant(None)])
        else:
            parts.append(n)
    union(node)
    optional = any(isinstance(p, ast.Constant) and p.value is None for p in parts)
    kinds = [p for p in parts if not (isinstance(p, ast.Constant) and p.value is None)]
    if len(kinds) != 1:
        raise NotebookError(f"{where}: annotate one type (and optionally None), not {ast.unparse(node)}.")
    kind, item = kinds[0], None
    if isinstance(kind, ast.Subscript):  # list[str], dict[str, float]: the item / value type
        args = kind.slice.elts if isinstance(kind.slice, ast.Tuple) else [kind.slice]
        item = _NAMES.get(getattr(args[-1], "id", ""))
        kind = kind.value
    base = _NAMES.get(getattr(kind, "id", ""))
    if base is None:
        raise NotebookError(f"{where}: unsupported annotation {ast.unparse(node)}; use bool, int, float, str, "
                            "list[...] or dict[...], optionally | None.")
    return ParamType(base, optional, item)


def parse_bool(value: Any, name: str = "interactive") -> bool:
    """True/False from a bool or one of the usual spellings (true/false, yes/no, on/off, 1/0)."""
    if isinstance(value, bool):
        return value
    word = BOOL_WORDS.get(str(value).strip().lower()) if isinstance(value, (str, int)) else None
    if word is None:
        raise NotebookError(f"Parameter '{name}' is {TYPE_WORDS[bool]}: give true or false, not {value!r}.")
    return word


def parse_number(text: str, base: type) -> int | float | None:
    """A whole number (``int``) or a finite number (``float``) from text, else None."""
    try:
        value = int(text.strip()) if base is int else float(text)
    except ValueError:
        return None
    return value if base is int or math.isfinite(value) else None


def _is(value: Any, base: type | None) -> bool:
    if base is None:
        return True
    if base is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if base is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, base)


def check_value(name: str, value: Any, kind: ParamType) -> Any:
    """``value`` if it has the parameter's type (paths as text, tuples as lists), else a NotebookError."""
    if value is None:
        if kind.optional:
            return None
        raise NotebookError(f"Parameter '{name}' is {TYPE_WORDS[kind.base]}: None is not one.")
    if isinstance(value, os.PathLike) and kind.base in (str, None):
        return os.fspath(value)
    if kind.base is bool:
        return parse_bool(value, name)
    if kind.base is list and isinstance(value, tuple):
        value = list(value)
    if not _is(value, kind.base):
        raise NotebookError(f"Parameter '{name}' is {TYPE_WORDS[kind.base]}" + (" (finite)" if kind.base is float
                            else "") + f": {value!r} is not one.")
    if kind.item is not None and kind.base in (list, dict):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if not _is(item, kind.item) or (kind.base is dict and not isinstance(key, str)):
                raise NotebookError(f"Parameter '{name}': {key!r} must be {TYPE_WORDS[kind.item]}"
                                    f"{' (finite)' if kind.item is float else ''}, not {item!r}.")
    return value
