"""Issue 10, item 8 (notebook parameters): a value of the wrong type is refused before the notebook runs,
in one line naming the parameter; every bool parameter reads the usual spellings; impossible analysis
thresholds are refused by the analysis itself."""
from __future__ import annotations

import pytest

from radiodiff_lib.analysis import Thresholds, analyze
from radiodiff_lib.analysis.thresholds import THRESHOLD_RANGES
from radiodiff_lib.errors import AnalysisError, NotebookError
from radiodiff_lib.report import render_notebook
from radiodiff_lib.report.params import find_notebook, parameter_cell, validate_params
from radiodiff_lib.report.widgets import resolve_interactive
from tests.helpers.runs import healthy_run

ANALYZE = find_notebook("analyze")


def bool_parameters() -> list[tuple[str, str]]:
    return [(nb, name) for nb in ("train", "resume", "analyze")
            for name, (_, kind) in parameter_cell(find_notebook(nb)).items() if kind.base is bool]


def test_every_notebook_says_interactive_is_a_bool():
    assert {nb for nb, name in bool_parameters() if name == "interactive"} == {"train", "resume", "analyze"}


@pytest.mark.parametrize("nb,name", bool_parameters())
@pytest.mark.parametrize("text,value", [("false", False), ("False", False), ("no", False), ("off", False),
                                        ("0", False), ("true", True), ("YES", True), ("on", True), ("1", True)])
def test_bool_parameters_read_the_usual_spellings(nb, name, text, value):
    assert validate_params(find_notebook(nb), {name: text}, raw=True)[name] is value


@pytest.mark.parametrize("params,named", [
    ({"interactive": "maybe"}, "interactive"), ({"thresholds": "{'spike_k': 'x'}"}, "thresholds"),
    ({"thresholds": "[1]"}, "thresholds"), ({"total_steps": "abc"}, "total_steps"),
    ({"total_steps": "1e400"}, "total_steps"), ({"total_steps": "2.5"}, "total_steps"),
    ({"jump_sigma": "1e400"}, "jump_sigma"), ({"jump_sigma": "nan"}, "jump_sigma"), ({"window": "none"}, "window"),
    ({"compare_with": "[1, 2]"}, "compare_with"),
])
def test_bad_values_are_refused_before_the_notebook_runs(tmp_path, params, named):
    with pytest.raises(NotebookError, match=f"'{named}'") as err:
        render_notebook("analyze", params, out_dir=tmp_path / "out", raw_params=True)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out" / "analyze.ipynb").exists()  # nothing ran


def test_python_callers_values_are_checked_too():
    with pytest.raises(NotebookError, match="'interactive'"):
        validate_params(ANALYZE, {"interactive": "sometimes"})
    with pytest.raises(NotebookError, match=r"'thresholds': thresholds\['spike_k'\] must be a number"):
        validate_params(ANALYZE, {"thresholds": {"spike_k": "x"}})
    assert validate_params(ANALYZE, {"interactive": "false", "total_steps": None, "eval_n": None}) == {
        "interactive": False, "total_steps": None, "eval_n": None}
    assert validate_params(ANALYZE, {"total_steps": "1000"}, raw=True) == {"total_steps": 1000}


def test_resolve_interactive_never_reads_a_word_as_true():
    assert resolve_interactive("false") is False
    assert resolve_interactive(False) is False
    assert resolve_interactive("true") is True
    with pytest.raises(NotebookError, match="interactive"):
        resolve_interactive("perhaps")


@pytest.mark.parametrize("name,bad", [("jump_sigma", -1.0), ("jump_sigma", 0), ("spike_k", "x"),
                                      ("window", 2), ("window", 10.5), ("alpha", 1.5), ("continuity_after", 0),
                                      ("saturated_fraction", 2.0), ("kl_weight", float("inf")), ("min_points", True)])
def test_impossible_thresholds_are_refused_by_the_analysis(name, bad):
    with pytest.raises(AnalysisError, match=f"threshold {name} must be"):
        analyze(healthy_run(), **{name: bad})


def test_every_threshold_has_a_range_and_the_defaults_are_in_it():
    assert set(THRESHOLD_RANGES) == set(Thresholds.__dataclass_fields__)
    assert Thresholds() == Thresholds(**{k: getattr(Thresholds(), k) for k in THRESHOLD_RANGES})
