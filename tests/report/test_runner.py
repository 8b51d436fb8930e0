"""Report runner: parameters read from the tagged cell, CLI strings converted, papermill + nbconvert output."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from radiodiff_lib.errors import NotebookError
from radiodiff_lib.report import ReportPaths, render_notebook
from radiodiff_lib.report.export import RECORD_MIME, external_loads
from radiodiff_lib.report.params import convert_raw, find_notebook, notebook_parameters, notebooks_dir, validate_params

PARAMS = "n = 3\nname = 'x'\nflag = False\nitems = [1]\nmaybe = None\nratio = 0.5\nopts = {'a': 1}"
BODY = (
    "import os\nimport matplotlib.pyplot as plt\nfrom IPython.display import Markdown, display\n"
    "display(Markdown(f'n is **{n}**, headless={os.environ.get(\"RADIODIFF_HEADLESS\")}'))\n"
    "fig, ax = plt.subplots(figsize=(3, 2)); ax.plot(range(n)); display(fig); plt.close(fig)\n"
    f"display({{'{RECORD_MIME}': {{'n': n, 'items': items, 'cwd': os.getcwd()}}}}, raw=True)\n"
    "assert not flag, 'flag was set'"
)


def tiny_notebook(path: Path, params: str = PARAMS, body: str = BODY) -> Path:
    """A 2-code-cell notebook: tagged parameters, then a Markdown line, a figure and a record."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_markdown_cell("## 1. Section"), nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


def records(ipynb: Path) -> list[dict]:
    nb = nbformat.read(str(ipynb), as_version=4)
    return [o["data"][RECORD_MIME] for c in nb.cells if c.cell_type == "code"
            for o in c.get("outputs", []) if RECORD_MIME in o.get("data", {})]


def test_parameters_cell_read_with_ast(tmp_path):
    nb = tiny_notebook(tmp_path / "t.ipynb")
    assert notebook_parameters(nb) == {"n": 3, "name": "x", "flag": False, "items": [1], "maybe": None,
                                       "ratio": 0.5, "opts": {"a": 1}}


def test_parameters_cell_must_hold_literals(tmp_path):
    nb = tiny_notebook(tmp_path / "t.ipynb", params="n = 3\nm = n + 1")
    with pytest.raises(NotebookError, match="'m' .*not a literal"):
        notebook_parameters(nb)


@pytest.mark.parametrize("name,text,expected", [
    ("n", "7", 7), ("ratio", "2", 2.0), ("ratio", "1e-3", 1e-3), ("flag", "true", True), ("flag", "no", False),
    ("name", "123", "123"), ("items", "[2, 3]", [2, 3]), ("items", "runs/a", ["runs/a"]),
    ("maybe", "42", 42), ("maybe", "runs/x.log", "runs/x.log"), ("maybe", "None", None), ("maybe", "false", False),
    ("opts", "{'b': 2}", {"b": 2}),
])
def test_raw_values_take_the_default_type(tmp_path, name, text, expected):
    defaults = notebook_parameters(tiny_notebook(tmp_path / "t.ipynb"))
    value = convert_raw(name, text, defaults[name])
    assert value == expected
    assert type(value) is type(expected)


def test_bad_raw_value_names_parameter():
    with pytest.raises(NotebookError, match="'n' is a whole number"):
        convert_raw("n", "three", 3)


def test_unknown_parameter_lists_valid_ones(tmp_path):
    nb = tiny_notebook(tmp_path / "t.ipynb")
    with pytest.raises(NotebookError) as err:
        validate_params(nb, {"nn": 1})
    assert "'nn'" in str(err.value)
    assert "n (default 3)" in str(err.value)
    assert "opts" in str(err.value)


def test_builtin_names_resolve_to_repo_notebooks():
    assert notebooks_dir() == Path(__file__).resolve().parents[2] / "notebooks"
    for name in ("train", "resume", "analyze"):
        assert find_notebook(name) == notebooks_dir() / f"{name}.ipynb"
    with pytest.raises(NotebookError, match="not found"):
        find_notebook("nope")


def test_render_writes_ipynb_html_md_offline(tmp_path, monkeypatch):
    nb = tiny_notebook(tmp_path / "tiny.ipynb")
    monkeypatch.chdir(tmp_path)
    paths = render_notebook(nb, {"n": "5", "items": "[4]"}, out_dir=tmp_path / "out", raw_params=True)
    assert isinstance(paths, ReportPaths)
    assert records(paths.ipynb) == [{"n": 5, "items": [4], "cwd": str(tmp_path)}]  # cwd = caller's
    html = paths.html.read_text()
    assert "n is <strong>5</strong>, headless=1" in html
    assert html.count('src="data:image/png;base64,') == 1
    assert external_loads(html) == []
    assert "<script src" not in html
    assert "plt.subplots" not in html
    assert RECORD_MIME not in html  # code and records excluded
    md = paths.md.read_text()
    figs = list((tmp_path / "out" / "tiny_files").glob("*.png"))
    assert len(figs) == 1
    assert f"tiny_files/{figs[0].name}" in md
    assert "n is **5**" in md
    assert str(paths.html) in paths.summary()


def test_with_code_keeps_code(tmp_path):
    nb = tiny_notebook(tmp_path / "tiny.ipynb")
    paths = render_notebook(nb, {}, out_dir=tmp_path / "out", with_code=True)
    html = paths.html.read_text()
    assert "subplots" in html
    assert external_loads(html) == []


def test_failing_cell_keeps_partial_notebook(tmp_path):
    nb = tiny_notebook(tmp_path / "tiny.ipynb")
    with pytest.raises(NotebookError) as err:
        render_notebook(nb, {"flag": True}, out_dir=tmp_path / "out")
    message = str(err.value)
    partial = tmp_path / "out" / "tiny.failed.ipynb"
    assert "AssertionError: flag was set" in message
    assert str(partial) in message
    assert partial.is_file()
    assert not (tmp_path / "out" / "tiny.html").exists()
    assert not (tmp_path / "out" / "tiny.ipynb").exists()
    errors = [o for c in nbformat.read(str(partial), as_version=4).cells if c.cell_type == "code"
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors
    assert errors[0]["ename"] == "AssertionError"


def test_unknown_parameter_fails_before_running(tmp_path):
    nb = tiny_notebook(tmp_path / "tiny.ipynb")
    with pytest.raises(NotebookError, match="Valid parameters"):
        render_notebook(nb, {"bogus": 1}, out_dir=tmp_path / "out")
    assert not (tmp_path / "out" / "tiny.ipynb").exists()


@pytest.mark.parametrize("html,expected", [
    ('<script src="https://cdn.x/require.js"></script>', ["https://cdn.x/require.js"]),
    ("<link rel=stylesheet href=//fonts.example/css>", ["//fonts.example/css"]),
    ('<img src="http://a/b.png">', ["http://a/b.png"]),
    ("<style>/* https://comment.only */ body{background:url('https://a/x.png')}</style>", ["https://a/x.png"]),
    ('<a href="https://example.org">a plain link</a>', []),
    ('<img src="data:image/png;base64,AAAA">', []),
])
def test_external_loads_detector(html, expected):
    assert external_loads(html) == expected


def test_cli_report_unknown_parameter_exit_code(tmp_path, capsys):
    from radiodiff_lib.cli import main

    nb = tiny_notebook(tmp_path / "tiny.ipynb")
    assert main(["report", str(nb), "-p", "zzz", "1", "--out", str(tmp_path / "o")]) == 2
    assert "Valid parameters" in capsys.readouterr().err

