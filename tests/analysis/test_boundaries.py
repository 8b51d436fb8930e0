"""Launch boundaries told apart (issue 18): a resume, a restart (another experiment, set aside) and a
crash-and-relaunch, from logs written in RadioDiff's formats."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from radiodiff_lib.analysis import analyze, to_json
from radiodiff_lib.analysis.boundaries import boundary_kind
from radiodiff_lib.analysis.configs import changes_between
from radiodiff_lib.logs import read_run
from tests.helpers.logfactory import START, radiodiff_config, two_launch_log, write_radiodiff_log
from tests.helpers.researcher import FINETUNE_CKPT, crashed_then_relaunched, finetune_then_fresh


@pytest.fixture(scope="module")
def restart(tmp_path_factory):
    folder = tmp_path_factory.mktemp("radiodiff_LDM")
    want = finetune_then_fresh(folder)
    a = analyze(read_run(folder))
    return a, json.loads(json.dumps(to_json(a), allow_nan=False)), want


def test_a_fresh_launch_with_another_config_is_a_restart(restart):
    a, j, want = restart
    (b,) = j["resumes"]
    assert b["kind"] == "restart"
    assert b["step"] == 0
    changed = {c["key"]: (c["before"], c["after"]) for c in b["config_changes"]}
    assert changed["trainer.train_num_steps"] == (5000, 80000)
    assert changed["finetune.ckpt_path"] == (FINETUNE_CKPT, None)
    assert b["jump_test"].startswith("not run: a restart is another experiment")
    assert b["continuity"] == {}


def test_a_restart_sets_the_earlier_launch_aside(restart):
    a, j, want = restart
    (aside,) = j["set_aside"]
    assert aside["file"] == str(want["tune"])
    assert (aside["first_step"], aside["last_step"], aside["entries"]) == (0, 5000, want["tune_entries"])
    assert aside["reason"] == "restart"
    # only the new experiment is analysed: its entries, none of the fine-tune's
    assert j["entries"] == want["fresh_entries"]
    assert j["superseded_rows"] == 0
    assert a.set_aside_rows == want["tune_entries"]


def test_a_restart_names_the_jump_between_the_experiments(restart):
    a, j, want = restart
    lc = j["resumes"][0]["level_change"]
    assert lc["metric"] == "loss_simple"
    assert lc["over"] == "shared steps"
    assert lc["ratio"] == pytest.approx(want["ratio"], rel=0.05)


def test_a_restart_is_never_reported_as_a_resume_without_jumps(restart):
    a, j, want = restart
    text = " ".join(a.summary_sentences)
    assert "no metric jumps" not in text
    assert "Resume at step 0" not in text
    assert "Restart at step 0" in text
    assert "jump test not run: a restart is another experiment" in text
    d = a.diagnostic("restart_in_folder")
    assert d.severity == "warning"
    assert "12.5x" in d.message


def test_a_relaunch_after_a_crash_sets_the_stopped_launch_aside(tmp_path):
    want = crashed_then_relaunched(tmp_path)
    a = analyze(read_run(tmp_path))
    (b,) = a.resumes
    assert b.kind == "crash-and-relaunch"
    assert [c["key"] for c in b.config_changes] == ["data.batch_size"]
    (aside,) = a.set_aside
    assert aside["last_error"] == want["error"]
    assert aside["entries"] == 1
    assert a.diagnostic("launch_relaunched").severity == "warning"  # its log ends with a traceback
    assert a.experiment_segment is None  # a relaunch of the same experiment: nothing before it to drop


def test_a_resume_stays_a_resume_with_its_jump_test(tmp_path):
    two_launch_log(tmp_path)
    a = analyze(read_run(tmp_path), window=10)
    (b,) = a.resumes
    assert b.kind == "resume"
    assert b.jump_test is None
    assert b.continuity["train/rec_loss"] in ("continuous", "jump")
    assert a.set_aside == []


def test_a_restart_part_way_drops_the_earlier_experiments_rows(tmp_path):
    # launch 1: 0..6000 of a 10,000-step run; launch 2 resumes at 5000 but with train_num_steps 20,000
    first = radiodiff_config(disc_start=2501, train_num_steps=10000)
    second = radiodiff_config(disc_start=2501, train_num_steps=20000)
    write_radiodiff_log(tmp_path / "2025-03-02-09-14_.log", range(0, 6001, 100), config=first, disc_start=2501,
                        total_steps=10000)
    write_radiodiff_log(tmp_path / "2025-03-04-09-14_.log", range(5000, 8001, 100), config=second, disc_start=2501,
                        total_steps=20000, start_time=START + timedelta(days=2))
    a = analyze(read_run(tmp_path))
    (b,) = a.resumes
    assert b.kind == "restart"
    assert a.first_step == 5000  # the rows 0..4900 of the other experiment are set aside, not analysed
    assert a.entries == 31
    assert a.run_start["earlier_steps_logged"] == 50  # they are in the logs, in the set-aside launch
    assert a.metrics["train/rec_loss"].first_step == 5000


@pytest.mark.parametrize("before,after,step,prev_first,kind", [
    ({"trainer": {"train_num_steps": 10}}, {"trainer": {"train_num_steps": 20}}, 500, 0, "restart"),
    ({"data": {"name": "radio"}}, {"data": {"name": "IRT4"}}, 0, 0, "restart"),
    ({"trainer": {"lr": 1e-4}}, {"trainer": {"lr": 1e-5}}, 500, 0, "resume"),  # a lower LR on resume: same weights
    ({"trainer": {"lr": 1e-4}}, {"trainer": {"lr": 1e-4}}, 0, 0, "crash-and-relaunch"),
    ({"trainer": {"lr": 1e-4}}, {"trainer": {"lr": 1e-4}}, 35000, 35000, "crash-and-relaunch"),
    (None, None, 0, 0, "restart"),  # no config: nothing says it is the same experiment
    (None, None, 500, 0, "resume"),
])
def test_boundary_kind_rule(before, after, step, prev_first, kind):
    assert boundary_kind(before, after, step, prev_first, changes_between(before, after)) == kind


def test_cli_analyze_json_gives_each_boundary_a_kind_and_the_run_start(tmp_path, capsys):
    from radiodiff_lib.cli import main
    finetune_then_fresh(tmp_path / "ldm")
    out = tmp_path / "a.json"
    assert main(["analyze", str(tmp_path / "ldm"), "--json", str(out)]) == 0
    j = json.loads(out.read_text())
    assert [b["kind"] for b in j["resumes"]] == ["restart"]
    assert j["run_start"]["step"] == 0
    assert j["run_start"]["earlier_steps_logged"] == 0
    assert "Restart at step 0" in capsys.readouterr().out
