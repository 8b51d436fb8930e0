"""Issue 22, item 1: a parameter is data. Only None, bool, int, float, str and lists/dicts of those reach a
notebook, checked all the way down before papermill runs; everything else is refused in one line naming
the parameter, and what is written into the injected cell is a literal that nothing in it can run."""
from __future__ import annotations

import ast
import math

import numpy as np
import pytest

from radiodiff_lib.cli import main
from radiodiff_lib.errors import NotebookError
from radiodiff_lib.report import render_notebook
from radiodiff_lib.report.env import RECORD_MIME
from radiodiff_lib.report.param_types import ParamType, check_value, param_type
from radiodiff_lib.report.params import find_notebook, parameter_cell, parameters_source, validate_params
from tests.report.test_runner import records, tiny_notebook

# The attack: a tuple whose repr closes the string papermill wrapped around it, and variants.
TOUCH = '__import__("os").system("touch x")'
ATTACKS = [
    ("analyze", "log_paths", f"""[('"+str({TOUCH})+"',)]"""),  # the command
    ("analyze", "log_paths", f"""[b'"+str({TOUCH})+"']"""),  # bytes
    ("analyze", "compare_with", f"""[{{'"+str({TOUCH})+"'}}]"""),  # a set in a list
    ("compare", "runs", f"""['a', ('"+str({TOUCH})+"', 'b')]"""),  # a tuple where a list of files may stand
    ("train", "overrides", f"""{{'trainer.lr': ('"+str({TOUCH})+"',)}}"""),  # a tuple as a dict value
    ("train", "overrides", f"""{{('"+str({TOUCH})+"',): 1}}"""),  # a tuple as a dict key
    ("analyze", "thresholds", f"""{{'spike_k': frozenset({{'"+str({TOUCH})+"'}})}}"""),  # not even a literal
    ("analyze", "log_paths", f"""{{'"+str({TOUCH})+"'}}"""),  # a set as the whole value
    ("compare", "labels", f"""[('"+str({TOUCH})+"',), 'b']"""),
    ("analyze", "log_paths", f"""[1j, '"+str({TOUCH})+"']"""),  # a complex number
    ("analyze", "log_paths", f"""[..., '"+str({TOUCH})+"']"""),  # Ellipsis
]


@pytest.mark.parametrize("notebook,name,value", ATTACKS)
def test_attack_from_the_command_line_is_refused_and_runs_nothing(tmp_path, monkeypatch, capsys, notebook, name, value):
    monkeypatch.chdir(tmp_path)
    assert main(["report", notebook, "-p", name, value, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert f"'{name}'" in err
    assert "Traceback" not in err
    assert not (tmp_path / "x").exists()
    assert not (tmp_path / "out" / f"{notebook}.ipynb").exists()


@pytest.mark.parametrize("value", [[("x",)], [b"x"], [{"x"}], [frozenset()], [1j], [...], [object()], ("a", ("b",)),
                                   [float("nan")], [np.int64(3)], [{1: "a"}]])
def test_a_python_callers_value_is_checked_all_the_way_down(tmp_path, value):
    with pytest.raises(NotebookError, match="'log_paths'") as err:
        render_notebook("analyze", {"log_paths": value}, out_dir=tmp_path / "out")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()


def test_every_list_and_dict_parameter_of_every_notebook_has_an_item_type():
    for notebook in ("train", "resume", "analyze", "compare"):
        for name, (_default, kind) in parameter_cell(find_notebook(notebook)).items():
            for alternative in kind.kinds:
                if alternative.base in (list, dict):
                    assert alternative.item is not None, (notebook, name)


def test_compare_runs_take_a_list_of_files_per_run_and_nothing_else():
    compare = find_notebook("compare")
    assert validate_params(compare, {"runs": "['a', ['b.log', 'c.log']]"}, raw=True) == {
        "runs": ["a", ["b.log", "c.log"]]}
    with pytest.raises(NotebookError, match=r"runs\[1\]\[1\] must be a text, not 3"):
        validate_params(compare, {"runs": ["a", ["b.log", 3]]})


def test_training_overrides_take_config_values_only():
    train = find_notebook("train")
    ok = {"trainer.lr": 1e-4, "data.num_maps": 50, "model.ddconfig.ch_mult": [1, 2], "trainer.amp": False,
          "data.name": "synthetic", "model.lossconfig.lpips_weights": None}
    assert validate_params(train, {"overrides": ok}) == {"overrides": ok}
    with pytest.raises(NotebookError, match=r"overrides\['x'\] must be"):
        validate_params(train, {"overrides": {"x": {"nested": 1}}})


class _Sneaky(str):
    def __repr__(self) -> str:
        return TOUCH


class _SneakyFloat(float):
    def __repr__(self) -> str:
        return TOUCH


def test_values_are_rebuilt_from_the_builtin_types():
    # a subclass's own repr never reaches the cell: the value is copied into the built-in type
    for kind, value, plain in [(param_type("x"), _Sneaky("runs/a"), "runs/a"), (param_type(0.5), _SneakyFloat(0.25), 0.25),
                               (param_type(0.5), np.float64(0.5), 0.5), (param_type(["x"]), ("a", "b"), ["a", "b"])]:
        checked = check_value("p", value, kind)
        assert checked == plain
        assert type(checked) is type(plain)
    source = parameters_source({"name": _Sneaky("runs/a")})
    assert source == "# Parameters\nname = 'runs/a'\n"


def _is_literal(node: ast.AST) -> bool:
    """The test's own oracle: a node built only of constants, lists, dicts and a minus sign on a number."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (str, int, float, bool, type(None)))
    if isinstance(node, ast.List):
        return all(_is_literal(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and _is_literal(k) and _is_literal(v) for k, v in zip(node.keys, node.values))
    return isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant)


HOSTILE_TEXTS = ['"+str(__import__("os").system("touch x"))+"', "'; import os; os.system('touch x'); '", "a\\",
                 '\\"', "line\nbreak", "\r\x00\x1b[2J\u202e", '"""', "{x}", "\udcff"]


def test_the_injected_cell_holds_literals_only():
    values = {"text": HOSTILE_TEXTS[0], "texts": HOSTILE_TEXTS, "mapping": {t: [t, -1, 2.5, None, True] for t in HOSTILE_TEXTS},
              "number": -1e-300, "big": 10 ** 100, "none": None}
    source = parameters_source(values)
    tree = ast.parse(source)
    assert [stmt.targets[0].id for stmt in tree.body] == list(values)
    for stmt in tree.body:
        assert isinstance(stmt, ast.Assign)
        assert _is_literal(stmt.value), ast.unparse(stmt)
    namespace: dict = {}
    exec(compile(tree, "<parameters>", "exec"), {"__builtins__": {}}, namespace)  # runs with no builtins at all
    assert namespace == values


def test_hostile_texts_reach_the_kernel_as_they_are(tmp_path, monkeypatch):
    """End to end: the texts arrive unchanged in the notebook and nothing in them ran."""
    body = f"from IPython.display import display\ndisplay({{'{RECORD_MIME}': {{'name': name, 'items': items}}}}, raw=True)"
    texts = [t for t in HOSTILE_TEXTS if t != "\udcff"]  # a lone surrogate is no JSON the kernel can send
    nb = tiny_notebook(tmp_path / "tiny.ipynb", params="name = 'x'\nitems: list[str] = []", body=body)
    monkeypatch.chdir(tmp_path)
    paths = render_notebook(nb, {"name": texts[0], "items": texts}, out_dir=tmp_path / "out")
    assert records(paths.ipynb) == [{"name": texts[0], "items": texts}]
    assert not (tmp_path / "x").exists()


def test_non_finite_and_oversized_values_are_refused_in_one_line():
    with pytest.raises(NotebookError, match="'rec_target' is a number"):
        validate_params(find_notebook("analyze"), {"rec_target": math.inf})
    deep: list = []
    for _ in range(100):
        deep = [deep]
    with pytest.raises(NotebookError, match="nested deeper"):
        check_value("p", deep, param_type([]))
    with pytest.raises(NotebookError, match="cannot be written as a literal"):
        parameters_source({"n": 10 ** 5000})


def test_a_plain_untyped_parameter_still_takes_any_plain_value():
    kind = param_type(None)
    assert isinstance(kind, ParamType)
    value = {"a": [1, 2.5, "x", None, True, {"b": []}]}
    assert check_value("p", value, kind) == value
    with pytest.raises(NotebookError, match=r"p\['a'\]\[0\]"):
        check_value("p", {"a": [b"x"]}, kind)
