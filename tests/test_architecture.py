"""The library's import graph, read from the source with ``ast``: no cycles, one-way package flow.

The allowed direction is ARCHITECTURE.md's table; a package imports only the packages listed for
it. Imports made inside functions are allowed only to keep a heavy dependency out of a light
command's start-up, and are counted.
"""
from __future__ import annotations

import ast
import warnings
from pathlib import Path

LIB = Path(__file__).resolve().parent.parent / "radiodiff_lib"
ROOT = "radiodiff_lib"

# Modules at the top of the package that everything may use; among themselves they import only what ALLOWED says.
BASE = {"errors", "vocabulary", "formatting", "config", "config_dict", "safe_load", "safe_yaml", "outputs",
        "hardware"}
ALLOWED = {
    "errors": set(),
    "vocabulary": set(),
    "formatting": set(),
    "outputs": {"errors"},
    "config": {"errors", "safe_yaml", "config_dict", "vocabulary"},
    "config_dict": set(),
    "safe_load": {"errors"},
    "safe_yaml": set(),
    "hardware": {"errors", "vocabulary"},
    "model": BASE,
    "data": BASE,
    "checkpoints": BASE | {"model"},
    "training": BASE | {"model", "data", "checkpoints"},
    "logs": BASE,
    "analysis": BASE | {"logs"},
    "evaluation": BASE | {"model", "data", "checkpoints"},
    "plots": BASE | {"logs", "analysis", "evaluation"},
    "report": BASE | {"model", "data", "checkpoints", "training", "logs", "analysis", "evaluation", "plots"},
    "bench": BASE | {"model", "data", "checkpoints", "training", "logs", "analysis", "evaluation"},
    "cli": BASE | {"model", "data", "checkpoints", "training", "logs", "analysis", "evaluation", "plots",
                   "report", "bench"},
    "": {"errors"},  # radiodiff_lib/__init__.py: the rest is loaded lazily by name
}
MAX_IN_FUNCTION_IMPORTS = 15
# a soft limit: one concern per module, as long as that concern needs; a longer module is a prompt
# to check that it holds one concern, never a reason to split it
SOFT_MAX_LINES = 800


def module_name(path: Path) -> str:
    rel = path.relative_to(LIB.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_package(name: str) -> bool:
    return (LIB.parent / Path(*name.split(".")) / "__init__.py").is_file()


def exists(name: str) -> bool:
    base = LIB.parent / Path(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def bound_in_init(package: str) -> set[str]:
    """Names a package's __init__ binds by importing them (``from .x import name``)."""
    init = LIB.parent / Path(*package.split(".")) / "__init__.py"
    if not init.is_file():
        return set()
    tree = ast.parse(init.read_text(encoding="utf-8"))
    return {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for a in node.names}


def imports_of(path: Path) -> list[tuple[str, bool, int]]:
    """(imported project module, made inside a function, line) for every project import in a file."""
    name = module_name(path)
    package = name if is_package(name) else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: list[tuple[str, bool, int]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                out.extend((a.name, in_function, child.lineno) for a in child.names if a.name.startswith(ROOT))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                elif child.module and child.module.startswith(ROOT):
                    target = child.module
                else:
                    continue
                # `from p import x` imports module p.x when x is one and p's __init__ does not bind a name x
                bound = bound_in_init(target)
                found = {f"{target}.{a.name}" if exists(f"{target}.{a.name}") and a.name not in bound else target
                         for a in child.names}
                out.extend((t, in_function, child.lineno) for t in sorted(found))
            visit(child, nested)

    visit(tree, False)
    return out


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def graph() -> dict[str, list[tuple[str, bool, int]]]:
    return {module_name(p): imports_of(p) for p in sorted(LIB.rglob("*.py"))}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in list(edges):
        if v not in index:
            strong(v)
    return found


def test_no_import_cycles():
    g = graph()
    edges = {m: {t for t, _, _ in deps if t != m} for m, deps in g.items()}
    assert cycles(edges) == []


def test_imports_follow_the_package_flow():
    wrong = []
    for module, deps in graph().items():
        src = package_of(module)
        for target, _, line in deps:
            dst = package_of(target)
            if dst != src and dst not in ALLOWED[src]:
                wrong.append(f"{module}:{line} imports {target} ({src or 'radiodiff_lib'} -> {dst})")
    assert wrong == []


def test_in_function_imports_are_few_and_explained():
    lazy = [(m, t, line) for m, deps in graph().items() for t, inside, line in deps if inside]
    print(f"\nin-function project imports: {len(lazy)}")
    for m, t, line in lazy:
        print(f"  {m}:{line} -> {t}")
    assert len(lazy) <= MAX_IN_FUNCTION_IMPORTS
    unexplained = []
    for m, _, line in lazy:
        path = LIB.parent / Path(*m.split("."))
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        lines = path.read_text(encoding="utf-8").splitlines()
        # the reason sits on the import line or on the comment line right above it
        if "#" not in lines[line - 1] and not lines[line - 2].strip().startswith("#"):
            unexplained.append(f"{m}:{line}")
    assert unexplained == []


def test_every_package_is_placed():
    assert {package_of(m) for m in graph()} <= set(ALLOWED)


def test_long_modules_are_flagged_not_failed():
    for p in sorted(LIB.rglob("*.py")):
        n = len(p.read_text(encoding="utf-8").splitlines())
        if n > SOFT_MAX_LINES:
            warnings.warn(f"{module_name(p)} has {n} lines (soft limit {SOFT_MAX_LINES}): check that it holds "
                          "one concern", stacklevel=1)


MAX_PRIVATE_REACHES = 4


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_reaches(path: Path) -> list[tuple[int, str]]:
    """(line, what) for each reach into another module's or object's private names: ``obj._x`` where obj is not
    self or cls, ``from x import _y``, and an import of a private module."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            source = "." * node.level + (node.module or "")
            out += [(node.lineno, f"from {source} import {a.name}") for a in node.names if _private(a.name)]
            if node.module and any(_private(p) for p in node.module.split(".")):
                out.append((node.lineno, f"from {source} import ..."))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, f"import {a.name}") for a in node.names
                    if any(_private(p) for p in a.name.split("."))]
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                out.append((node.lineno, ast.unparse(node)))
    return sorted(out)


def test_private_reaches_are_few_and_explained():
    reaches = [(p, line, what) for p in sorted(LIB.rglob("*.py")) for line, what in private_reaches(p)]
    print(f"\nprivate reaches: {len(reaches)}")
    for p, line, what in reaches:
        print(f"  {module_name(p)}:{line}: {what}")
    assert len(reaches) <= MAX_PRIVATE_REACHES
    # the few there are reach into PyTorch, from the training loop; nothing reaches into a module of ours
    assert {package_of(module_name(p)) for p, _, _ in reaches} <= {"training"}
    unexplained = []
    for p, line, what in reaches:
        lines = p.read_text(encoding="utf-8").splitlines()
        # why it is needed and what breaks if it changes: on the line or in the comment right above it
        if "#" not in lines[line - 1] and not lines[line - 2].strip().startswith("#"):
            unexplained.append(f"{module_name(p)}:{line}: {what}")
    assert unexplained == []


def test_the_private_reach_counter_sees_each_kind(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("from a import _b, c\nfrom a._c import d\nimport e._f\nx = g._h\ny = self._i\nz = cls._j\n"
                   "mod.Class._versions\nobj.__dict__\nfrom ._k import m\n")
    assert private_reaches(src) == [(1, "from a import _b"), (2, "from a._c import ..."), (3, "import e._f"),
                                    (4, "g._h"), (7, "mod.Class._versions"), (9, "from ._k import ...")]
