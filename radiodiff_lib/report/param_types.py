"""The type of a notebook parameter and the check of a value against it (see ``params``).

A parameter is data: what reaches a notebook is built only of None, bool, int, float (finite),
str, and lists and str-keyed dicts of those, checked all the way down. A type comes from the
parameter's annotation in the ``parameters`` cell (``int | None``, ``Optional[str]``,
``list[str]``, ``dict[str, float]``, ``list[str | list[str]]``), else from its default's type; a
list or dict without an item type, or a default of None without an annotation, accepts any plain
value in that place. A value is returned as a copy made of exactly those built-in types (a path as
its text, a top-level tuple as a list, a float subclass as a float), so that its ``repr`` is a
literal; a tuple, set, bytes or any other object inside it is refused, naming the parameter and
where in it. Kept apart from ``params`` so that the command line's strings and a Python caller's
values meet one rule.
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
_PLURAL_WORDS = {bool: "yes/no values", int: "whole numbers", float: "numbers", str: "texts", list: "lists",
                 dict: "mappings"}
_NAMES = {"bool": bool, "int": int, "float": float, "str": str, "list": list, "dict": dict, "List": list,
          "Dict": dict}
MAX_DEPTH = 20  # lists in lists: no notebook needs more than two levels


@dataclass(frozen=True)
class Kind:
    """One alternative of a type: its base (bool, int, float, str, list or dict) and, for a list or a
    dict, the type of its items or values (None: any plain value)."""

    base: type
    item: "ParamType | None" = None


@dataclass(frozen=True)
class ParamType:
    """What a parameter, or an item of one, accepts: one of ``kinds``, or None when ``optional``."""

    kinds: tuple[Kind, ...]
    optional: bool

    @property
    def base(self) -> type | None:
        """The base type when there is one alternative (None for a union or any plain value)."""
        return self.kinds[0].base if len(self.kinds) == 1 else None

    @property
    def item(self) -> "ParamType | None":
        """The item type of a list or dict parameter (None: any plain value)."""
        return self.kinds[0].item if len(self.kinds) == 1 else None

    def takes_text(self) -> bool:
        """Whether a text is one of the alternatives."""
        return any(k.base is str for k in self.kinds)

    def matches(self, value: Any) -> bool:
        """Whether ``value`` is of one of the alternatives' base types (its items not checked)."""
        return any(_is(value, k.base) for k in self.kinds)


PLAIN = ParamType(tuple(Kind(t) for t in (bool, int, float, str, list, dict)), True)  # any plain value


def describe(kind: ParamType | None, plural: bool = False) -> str:
    """What a type accepts, in words: "a list of texts or lists of texts", "a whole number or None"."""
    if kind is None or kind == PLAIN:
        return "plain values" if plural else "a plain value (None, true/false, a number, a text, a list or a mapping)"
    words = [_kind_words(k, plural) for k in kind.kinds] + (["None"] if kind.optional else [])
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _kind_words(kind: Kind, plural: bool) -> str:
    word = (_PLURAL_WORDS if plural else TYPE_WORDS)[kind.base]
    if kind.item is None:
        return word
    return f"{word} of {describe(kind.item, plural=True)}" if kind.base is list else \
        f"{word} of names to {describe(kind.item, plural=True)}"


def param_type(default: Any, annotation: ast.expr | None = None, where: str = "parameter") -> ParamType:
    """The type of a parameter from its annotation (when given) or its default."""
    if annotation is not None:
        return _from_annotation(annotation, where)
    if default is None:
        return PLAIN
    if isinstance(default, tuple):
        return ParamType((Kind(list),), False)
    base = next((t for t in (bool, int, float, str, list, dict) if isinstance(default, t)), None)
    return ParamType((Kind(base),), False) if base else PLAIN


def _from_annotation(node: ast.expr, where: str) -> ParamType:
    parts: list[ast.expr] = []

    def union(n: ast.expr) -> None:  # X | Y | None, Optional[X], Union[X, Y]
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.BitOr):
            union(n.left), union(n.right)
        elif isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name) and n.value.id in ("Optional", "Union"):
            args = n.slice.elts if isinstance(n.slice, ast.Tuple) else [n.slice]
            for arg in args:
                union(arg)
            if n.value.id == "Optional":
                parts.append(ast.Constant(None))
        else:
            parts.append(n)
    union(node)
    optional = any(isinstance(p, ast.Constant) and p.value is None for p in parts)
    kinds = tuple(_kind(p, node, where) for p in parts if not (isinstance(p, ast.Constant) and p.value is None))
    if not kinds:
        raise NotebookError(f"{where}: annotate a type (and optionally None), not {ast.unparse(node)}.")
    return ParamType(kinds, optional)


def _kind(part: ast.expr, whole: ast.expr, where: str) -> Kind:
    unsupported = NotebookError(f"{where}: unsupported annotation {ast.unparse(whole)}; use bool, int, float, str, "
                                "list[...] or dict[str, ...] and unions of them, optionally | None.")
    if isinstance(part, ast.Subscript):  # list[str], dict[str, float]: the item / value type
        base = _NAMES.get(getattr(part.value, "id", ""))
        args = part.slice.elts if isinstance(part.slice, ast.Tuple) else [part.slice]
        if base is list and len(args) == 1:
            return Kind(list, _from_annotation(args[0], where))
        if base is dict and len(args) == 2 and getattr(args[0], "id", "") == "str":
            return Kind(dict, _from_annotation(args[1], where))
        raise unsupported
    base = _NAMES.get(getattr(part, "id", ""))
    if base is None:
        raise unsupported
    return Kind(base)


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


def shown(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters, for a message."""
    try:
        text = repr(value)
    except Exception:  # a caller's object whose repr fails: its type says enough
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


class _Mismatch(Exception):
    """A value (or an item of it) that is not of its type: where in the parameter, what it must be."""

    def __init__(self, at: str, kind: ParamType | None, value: Any, why: str = "") -> None:
        super().__init__(at)
        self.at, self.kind, self.value, self.why = at, kind, value, why


def check_value(name: str, value: Any, kind: ParamType) -> Any:
    """``value`` as a copy of plain built-in types if it has the parameter's type (a path as its text,
    a top-level tuple as a list, a bool parameter's words as True/False), else a NotebookError."""
    if kind.base is bool and value is not None:
        return parse_bool(value, name)
    if isinstance(value, tuple) and any(k.base is list for k in kind.kinds):
        value = list(value)
    try:
        return _conform(value, kind, "", 0)
    except _Mismatch as bad:
        raise NotebookError(_message(name, bad)) from None


def _message(name: str, bad: "_Mismatch") -> str:
    """One line: which parameter (and where in it), what it must be, what it was."""
    if bad.why == "depth":
        return f"Parameter '{name}': {name}{bad.at} is nested deeper than {MAX_DEPTH} levels; no notebook needs that."
    must = describe(bad.kind) + (" (finite)" if bad.why == "finite" else "")
    if not bad.at:
        return f"Parameter '{name}' is {must}: {shown(bad.value)} is not one{_type_note(bad.value)}."
    return f"Parameter '{name}': {name}{bad.at} must be {must}, not {shown(bad.value)}{_type_note(bad.value)}."


def _type_note(value: Any) -> str:
    """" (a set: ...)" for a value of a type no parameter takes (a tuple, set, bytes, any object), else ""."""
    if value is None or isinstance(value, (bool, int, float, str, list, dict)):
        return ""
    return f" (a {type(value).__name__}: a parameter holds None, true/false, numbers, texts, lists and mappings only)"


def _conform(value: Any, kind: ParamType | None, at: str, depth: int) -> Any:
    """The plain copy of ``value`` if it has type ``kind`` (None: any plain value), else ``_Mismatch``."""
    kind = kind or PLAIN
    if value is None:
        if kind.optional:
            return None
        raise _Mismatch(at, kind, value)
    if depth > MAX_DEPTH:
        raise _Mismatch(at, kind, value, "depth")
    if isinstance(value, os.PathLike) and kind.takes_text():
        value = os.fspath(value)
    for alternative in kind.kinds:
        if _is(value, alternative.base):
            return _plain(value, alternative, kind, at, depth)
    raise _Mismatch(at, kind, value)


def _is(value: Any, base: type) -> bool:
    if base is bool:
        return isinstance(value, bool)
    if base in (int, float):  # a whole number is a number; True is neither
        return isinstance(value, (int, float) if base is float else int) and not isinstance(value, bool)
    return isinstance(value, base)


def _plain(value: Any, alternative: Kind, kind: ParamType, at: str, depth: int) -> Any:
    """``value`` (of ``alternative``'s base) rebuilt from exactly the built-in type, items checked."""
    base = alternative.base
    if base is bool:
        return bool(value)
    if base is str:
        return str.__str__(value)  # a str subclass's own __str__ or __repr__ never reaches the notebook
    if base is int or (base is float and isinstance(value, int)):
        return int.__index__(value)
    if base is float:
        number = float.__float__(value)
        if not math.isfinite(number):
            raise _Mismatch(at, kind, value, "finite")
        return number
    if base is list:
        return [_conform(item, alternative.item, f"{at}[{i}]", depth + 1) for i, item in enumerate(value)]
    plain = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise _Mismatch(f"{at} (a key)", ParamType((Kind(str),), False), key)
        plain[str.__str__(key)] = _conform(item, alternative.item, f"{at}[{shown(key, 40)}]", depth + 1)
    return plain
