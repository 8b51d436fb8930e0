"""Static checks of the source: pyflakes finds no undefined name, unused import or unused variable in
the library or the tests (an undefined name in a rarely run path would reach a user as a traceback)."""
from __future__ import annotations

from pathlib import Path

from pyflakes.api import checkPath
from pyflakes.reporter import Reporter

ROOT = Path(__file__).resolve().parent.parent


class _Collect:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, text: str) -> None:
        if text.strip():
            self.lines.append(text.strip())


def test_pyflakes_finds_nothing():
    out = _Collect()
    reporter = Reporter(out, out)
    for path in sorted([*(ROOT / "radiodiff_lib").rglob("*.py"), *(ROOT / "tests").rglob("*.py")]):
        checkPath(str(path), reporter)
    assert out.lines == []


def test_an_assert_states_one_fact():
    """``assert a and b`` fails without saying which part failed: one assert per fact."""
    import ast

    chains = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assert) and isinstance(node.test, ast.BoolOp) and isinstance(node.test.op, ast.And):
                chains.append(f"{rel}:{node.lineno}")
    assert chains == []
