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
"""
from __future__ import annotations

import ast
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
from .param_types import BOOL_WORDS, TYPE_WORDS, ParamType, check_value, param_type, parse_bool, parse_number

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


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


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
        if text.startswith("[") and isinstance(_literal(text), list):
            raise NotebookError(f"Parameter '{name}' takes one value, not a list: {text}")
        return text
    value = _literal(text)
    if kind.base is list:  # a bare word or path is a one-element list: `-p log_paths runs/x`
        return check_value(name, list(value) if isinstance(value, (list, tuple)) else [value], kind)
    if kind.base is dict:
        if not isinstance(value, dict):
            raise NotebookError(f"Parameter '{name}' is a mapping: give it as {{'key': value}}, not '{text}'.")
        return check_value(name, value, kind)
    # no type known (a None default without annotation): the literal if it reads as one, else the string
    return BOOL_WORDS.get(lowered, value) if isinstance(value, str) else value


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
