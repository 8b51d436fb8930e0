"""Notebook parameters: find a notebook by name, read its ``parameters`` cell, check and convert values.

The ``parameters`` cell holds literals only (``name = <literal>  # comment``, or ``name: type =
<literal>``), so it is read with ``ast`` and never executed here. Values given to
:func:`validate_params` must name a parameter of that cell and have its type, which is the
annotation when there is one (``total_steps: int | None = None``: a default of None says nothing
about the type), else the type of the default. With ``raw=True`` they are command-line strings,
converted to that type; either way a value of another type is refused before the notebook runs,
in one line naming the parameter: ``-p interactive false`` is False, ``-p total_steps abc`` or
``1e400`` and ``-p thresholds "{'spike_k': 'x'}"`` are errors. Booleans accept true/false, yes/no,
on/off, 1/0 (any case); None is accepted where the type allows it (``none`` or ``null``).

A parameter is data (``param_types``): only None, bool, int, float, str and lists and str-keyed
dicts of those reach a notebook. The values are written into the cell tagged
``injected-parameters`` here (``inject_parameters``), not by papermill's translator (which writes a
tuple or a set through ``str()``, unescaped): each line is ``name = repr(value)`` of a checked plain
value, which reads back as that value and holds no name, call or operator that could run.
"""
from __future__ import annotations

import ast
import copy
import keyword
import sys
from pathlib import Path
from typing import Any

# nbformat imports jsonschema, which compiles the rfc3987_syntax grammar at import when that package
# is installed: about 2.5 s of CPU per `radiodiff report`, for IRI format checks that notebook schemas
# never use. Leave it out unless jsonschema (or it) is already loaded in this process.
if "jsonschema" not in sys.modules:
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

import nbformat  # noqa: E402

from ..errors import NotebookError
from .param_types import (
    BOOL_WORDS, PLAIN, TYPE_WORDS, ParamType, check_value, param_type, parse_bool, parse_number, shown,
)

BUILTIN_NOTEBOOKS = ("train", "resume", "analyze", "compare", "checkpoints")


def notebooks_dir() -> Path:
    """The repository's ``notebooks/`` folder (the package folder's parent, also for editable installs)."""
    return Path(__file__).resolve().parents[2] / "notebooks"


def find_notebook(notebook: str | Path) -> Path:
    """A notebook path from a path, or from a built-in name: train, resume, analyze."""
    path = Path(notebook)
    if path.is_file():
        return path
    name = path.stem if path.suffix == ".ipynb" and len(path.parts) == 1 else str(notebook)
    if name in BUILTIN_NOTEBOOKS:
        builtin = notebooks_dir() / f"{name}.ipynb"
        if builtin.is_file():
            return builtin
        raise NotebookError(
            f"Built-in notebook '{name}' not found at {builtin}: the notebooks ship with the "
            "repository; install the package from a checkout (pip install -e .) or pass a path.")
    raise NotebookError(
        f"Notebook '{notebook}' not found: give a path to an .ipynb file or one of "
        f"{', '.join(BUILTIN_NOTEBOOKS)}.")


def read_notebook(path: str | Path) -> nbformat.NotebookNode:
    """Read a notebook file, as a NotebookError when it is not one."""
    try:
        return nbformat.read(str(path), as_version=4)
    except (OSError, ValueError) as exc:  # nbformat raises NotJSONError (a ValueError) on garbage
        raise NotebookError(f"Cannot read notebook {path}: {exc}") from exc


def notebook_parameters(path: str | Path) -> dict[str, Any]:
    """Name -> default of the literals in the cell tagged ``parameters`` (in file order)."""
    return {name: default for name, (default, _kind) in parameter_cell(path).items()}


def parameter_cell(path: str | Path) -> dict[str, tuple[Any, "ParamType"]]:
    """Name -> (default, type) of each line of the cell tagged ``parameters`` (in file order)."""
    nb = read_notebook(path)
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise NotebookError(
            f"{path}: expected exactly one cell tagged 'parameters', found {len(cells)}; tag the "
            "cell holding the parameter literals with 'parameters' (View > Cell Toolbar > Tags).")
    source = cells[0].source
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise NotebookError(f"{path}: the parameters cell is not valid Python (line {exc.lineno}): {exc.msg}") from exc
    params: dict[str, tuple[Any, ParamType]] = {}
    for node in tree.body:
        if not (isinstance(node, (ast.Assign, ast.AnnAssign))):
            raise NotebookError(f"{path}: parameters cell line {node.lineno}: only `name = literal` lines are allowed.")
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if len(targets) != 1 or not isinstance(targets[0], ast.Name) or node.value is None:
            raise NotebookError(f"{path}: parameters cell line {node.lineno}: assign one plain name per line.")
        name = targets[0].id
        try:
            default = ast.literal_eval(node.value)
        except ValueError as exc:
            raise NotebookError(
                f"{path}: parameter '{name}' (line {node.lineno}) is not a literal; the "
                "parameters cell must hold literals only (numbers, strings, lists, dicts, None).") from exc
        annotation = node.annotation if isinstance(node, ast.AnnAssign) else None
        params[name] = (default, param_type(default, annotation, f"{path}: parameter '{name}'"))
    return params


def _literal(text: str, name: str = "") -> Any:
    """The Python literal ``text`` spells, else ``text`` itself (a path, a word); a set or mapping
    display that no value can be made of (``{[1]: 2}``: unhashable) is a NotebookError."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text
    except TypeError as exc:
        raise NotebookError(f"Parameter '{name}': {shown(text)} is no value a parameter can hold ({exc}).") from None


def convert_raw(name: str, text: str, default: Any, kind: "ParamType | None" = None) -> Any:
    """Convert a command-line string to the parameter's type (its annotation, else its default's)."""
    kind = kind or param_type(default)
    lowered = text.strip().lower()
    if lowered in ("none", "null"):
        return check_value(name, None, kind)
    if kind.base is bool:
        return parse_bool(text, name)
    if kind.base in (int, float):
        number = parse_number(text, kind.base)
        if number is None:
            raise NotebookError(f"Parameter '{name}' is {TYPE_WORDS[kind.base]}: '{text}' is not one.")
        return check_value(name, number, kind)
    if kind.base is str:
        if text.startswith("[") and isinstance(_literal(text, name), list):
            raise NotebookError(f"Parameter '{name}' takes one value, not a list: {text}")
        return text
    value = _literal(text, name)
    if kind.base is list:  # a bare word or path is a one-element list: `-p log_paths runs/x`
        if isinstance(value, (list, tuple, set, frozenset, dict, bytes)):
            return check_value(name, value, kind)  # a set or a mapping is refused, naming its type
        item = kind.item or PLAIN  # the literal when the items take it (`-p steps 5`), else the text (a folder `5`)
        return check_value(name, [value if isinstance(value, str) or item.matches(value) else text], kind)
    if kind.base is dict:
        if not isinstance(value, dict):
            raise NotebookError(f"Parameter '{name}' is a mapping: give it as {{'key': value}}, not '{text}'.")
        return check_value(name, value, kind)
    # a union or any plain value: the literal if it reads as one, else the word or the text
    return check_value(name, BOOL_WORDS.get(lowered, value) if isinstance(value, str) else value, kind)


def join_values(name: str, values: list[str]) -> str:
    """The command-line text of ``-p NAME V1 [V2 ...]``: one value as it is, several as a list literal."""
    if not values:
        raise NotebookError(f"Parameter '{name}' has no value: give -p {name} VALUE (or several values for a list).")
    return values[0] if len(values) == 1 else repr(list(values))


def validate_params(path: str | Path, params: dict[str, Any], raw: bool = False) -> dict[str, Any]:
    """Check ``params`` against the notebook's parameters cell (names and types); convert CLI strings
    when ``raw``. Every refusal is a NotebookError naming the parameter, before anything runs."""
    cell = parameter_cell(path)
    unknown = [name for name in params if name not in cell]
    if unknown:
        valid = ", ".join(f"{k} (default {v!r})" for k, (v, _) in cell.items())
        raise NotebookError(
            f"Unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} for "
            f"{path}. Valid parameters: {valid}.")
    if raw:
        return {name: convert_raw(name, str(value), cell[name][0], cell[name][1]) for name, value in params.items()}
    return {name: check_value(name, value, cell[name][1]) for name, value in params.items()}


def parameters_source(values: dict[str, Any]) -> str:
    """The injected cell's code: ``name = <literal>`` per value, each value checked plain and written
    with ``repr`` (a literal of built-in types reads back as itself; nothing in it can run)."""
    lines = ["# Parameters"]
    for name, value in values.items():
        if not name.isidentifier() or keyword.iskeyword(name):
            raise NotebookError(f"Parameter {shown(name)} is not a Python name; a parameters cell line is `name = value`.")
        plain = check_value(name, value, PLAIN)
        try:
            text = repr(plain)
            same = ast.literal_eval(text) == plain
        except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:  # an int over 4300 digits
            raise NotebookError(f"Parameter '{name}' cannot be written as a literal ({exc}).") from None
        if not same:  # cannot happen for plain values; the check is what makes it a guarantee
            raise NotebookError(f"Parameter '{name}': {shown(plain)} does not read back as itself; not run.")
        lines.append(f"{name} = {text}")
    return "\n".join(lines) + "\n"


def inject_parameters(nb: nbformat.NotebookNode, values: dict[str, Any]) -> nbformat.NotebookNode:
    """A copy of ``nb`` with a cell tagged ``injected-parameters`` after its ``parameters`` cell (as papermill
    places it; an earlier injected cell is replaced), holding ``parameters_source(values)``."""
    nb = copy.deepcopy(nb)
    if not values:
        return nb
    cell = nbformat.v4.new_code_cell(parameters_source(values))
    cell.metadata["tags"] = ["injected-parameters"]
    tags = [c.get("metadata", {}).get("tags", []) for c in nb.cells]
    injected = next((i for i, t in enumerate(tags) if "injected-parameters" in t), None)
    if injected is not None:
        nb.cells[injected] = cell
    else:
        at = next((i + 1 for i, t in enumerate(tags) if "parameters" in t), 0)
        nb.cells.insert(at, cell)
    return nb
