"""The reader's own decisions: a run's length is decided once (``resolve_total_steps``), in one order."""
from __future__ import annotations

from radiodiff_lib.analysis import analyze
from radiodiff_lib.logs import read_run, resolve_total_steps
from tests.helpers.logfactory import write_radiodiff_log


def test_total_steps_order_is_parameter_then_config_then_step_lines():
    cfg = {"trainer": {"train_num_steps": 5000}}
    assert resolve_total_steps(9000, cfg, 7000) == (9000, "parameter")
    assert resolve_total_steps(None, cfg, 7000) == (5000, "config")
    assert resolve_total_steps(None, None, 7000) == (7000, "step lines")
    assert resolve_total_steps(None, None, None) == (None, None)


def test_a_config_length_must_be_a_positive_whole_number_of_steps():
    assert resolve_total_steps(None, {"trainer": {"train_num_steps": "1.5e5"}}, None) == (150000, "config")
    for bad in (-5, 0, 10.5, "many", float("inf"), True):
        assert resolve_total_steps(None, {"trainer": {"train_num_steps": bad}}, 7000) == (7000, "step lines"), bad


def test_the_readers_parameter_is_the_analysis_length(tmp_path):
    path = tmp_path / "train_vae.log"
    write_radiodiff_log(path, range(0, 500, 100), total_steps=150000)  # config and step lines say 150000
    run = read_run(path, total_steps=9000)
    assert (run.total_steps, run.total_steps_source) == (9000, "parameter")
    a = analyze(run)
    assert (a.total_steps, a.total_steps_source) == (9000, "parameter")
    assert (analyze(run, total_steps=8000).total_steps, analyze(read_run(path)).total_steps) == (8000, 150000)
