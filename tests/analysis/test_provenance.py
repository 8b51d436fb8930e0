"""Where a run began (issue 18): a log that begins at step 35,000 with resume_milestone 7, and the
mapping of milestones to steps."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from radiodiff_lib.analysis import analyze, to_json
from radiodiff_lib.analysis.configs import launch_config
from radiodiff_lib.analysis.provenance import checkpoint_at, checkpoint_milestone, run_start, sample_milestone
from radiodiff_lib.logs import read_run
from tests.helpers.researcher import resumed_at_35000


@pytest.fixture(scope="module")
def late(tmp_path_factory):
    folder = tmp_path_factory.mktemp("radiodiff_Vae")
    want = resumed_at_35000(folder)
    a = analyze(read_run(folder))
    return a, json.loads(json.dumps(to_json(a), allow_nan=False)), want


def test_run_start_names_the_milestone_the_config_resumed_from(late):
    a, j, want = late
    start = j["run_start"]
    assert start["step"] == 35000
    assert start["resumed_from_milestone"] == 7
    assert start["earlier_steps_logged"] == 0
    assert start["milestone_step"] == 35000
    assert start["source"] == "config"
    assert start["checkpoint"] == "model-7.pt"


def test_the_summary_says_at_the_top_where_the_run_began(late):
    a, j, want = late
    findings, where = a.summary_sentences[1], a.summary_sentences[2]
    assert "critical finding" in findings
    assert where.startswith("The logs begin at step 35,000, not 0: the run was resumed from model-7.pt")
    assert "resume_milestone 7 x save_and_sample_every 5,000" in where
    assert "not here" in where


def test_start_levels_are_of_the_logged_span(late):
    a, j, want = late
    m = a.metrics["train/rec_loss"]
    assert m.first_step == 35000
    assert j["metrics"]["train/rec_loss"]["level_n"] == 10


def test_a_single_launch_from_step_35000_is_not_called_a_run_from_scratch(late):
    a, j, want = late
    assert a.resumes == []
    assert "single launch: no resume" not in " ".join(a.summary_sentences)


def test_milestone_inferred_when_the_config_does_not_say():
    cfg = {"trainer": {"save_and_sample_every": 5000}}
    start = run_start(40000, launch_config(cfg), pd.DataFrame({"step": [40000, 40100]}))
    assert start["resumed_from_milestone"] == 8
    assert start["source"] == "inferred from the first step"
    off = run_start(40100, launch_config(cfg), pd.DataFrame({"step": [40100]}))
    assert off["resumed_from_milestone"] is None
    assert off["source"] == "unknown"


@pytest.mark.parametrize("name,got", [("model-7.pt", (7, None)), ("runs/x/model-2-step100.pt", (2, 100)),
                                      ("model-7.pth", None), ("gt-sample-3.png", None)])
def test_checkpoint_names(name, got):
    assert checkpoint_milestone(name) == got


def test_sample_names_and_checkpoint_at():
    assert sample_milestone("/r/sample-12.png") == 12
    assert sample_milestone("/r/sample-0_50.png") is None  # the second stage's test_before sample
    assert sample_milestone("/r/gt-sample-12.png") is None
    assert checkpoint_at(35000, 5000) == "model-7.pt"
    assert checkpoint_at(100, 40) == "model-2-step100.pt"
    assert checkpoint_at(0, 40) is None
