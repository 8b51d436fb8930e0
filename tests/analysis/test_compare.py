"""Several runs side by side: config diff, noise-aware verdicts, x axes, unreadable runs."""
from __future__ import annotations

import copy
from datetime import timedelta

import numpy as np
import pytest

from radiodiff_lib.analysis import AnalysisError, compare_paths, comparison_json, comparison_text, x_coordinates
from radiodiff_lib.logs import read_run
from tests.helpers.ldmfactory import LDM_START, TRACEBACK, ldm_config, ldm_values, troubled_ldm_run, write_ldm_log
from tests.helpers.logfactory import radiodiff_config, two_launch_log
from tests.helpers.runpairs import DISC_START, TOTAL, restarted_pair, write_run


def test_config_diff_names_exactly_the_keys_that_differ(tmp_path):
    a = write_run(tmp_path / "a", seed=1, config=radiodiff_config(disc_start=DISC_START, train_num_steps=TOTAL,
                                                                   disc_weight=0.5, gradient_accumulate_every=1))
    b = write_run(tmp_path / "b", seed=2, config=radiodiff_config(disc_start=DISC_START, train_num_steps=TOTAL,
                                                                   disc_weight=1.0, gradient_accumulate_every=2))
    c = compare_paths([a, b], ["A", "B"])
    assert [d["key"] for d in c.config_diff] == ["model.lossconfig.disc_weight", "trainer.gradient_accumulate_every"]
    assert [d["values"] for d in c.config_diff] == [[0.5, 1.0], [1, 2]]
    assert all(d["only_in"] is None for d in c.config_diff)


def test_a_key_in_one_run_only_is_listed_as_such(tmp_path):
    cfg = radiodiff_config(disc_start=DISC_START, train_num_steps=TOTAL)
    extra = radiodiff_config(disc_start=DISC_START, train_num_steps=TOTAL)
    extra["model"]["lossconfig"]["perceptual_weight"] = 0.0
    extra["trainer"]["lr"] = "5e-6"  # YAML 1.1's string: the same number
    a, b = write_run(tmp_path / "a", seed=1, config=cfg), write_run(tmp_path / "b", seed=2, config=extra)
    j = comparison_json(compare_paths([a, b], ["A", "B"]))
    assert j["config_diff"] == [{"key": "model.lossconfig.perceptual_weight", "values": [None, 0.0], "only_in": ["B"]}]


@pytest.mark.parametrize("seeds", [(1, 2), (3, 4), (5, 6), (7, 8)])
def test_same_noise_is_indistinguishable(tmp_path, seeds):
    # the same curve under independent noise, logged every 100 and every 50 steps, of different lengths
    a = write_run(tmp_path / "a", seed=seeds[0], every=100, end=5000)
    b = write_run(tmp_path / "b", seed=seeds[1], every=50, end=4000)
    c = compare_paths([a, b], ["A", "B"])
    v = c.metrics["train/rec_loss"]
    assert v.verdict == "indistinguishable"
    assert v.shared_steps == (0, 4000)
    assert v.ratio == pytest.approx(1.0, abs=0.05)
    assert c.metrics["train/nll_loss"].verdict == "indistinguishable"


def test_a_difference_far_beyond_the_noise_names_the_lower_run(tmp_path):
    a = write_run(tmp_path / "a", seed=1, scale=1.5, every=100)
    b = write_run(tmp_path / "b", seed=2, scale=1.0, every=50, end=3000)
    c = compare_paths([a, b], ["big", "small"])
    v = c.metrics["train/rec_loss"]
    assert v.verdict == "small lower"
    assert v.ratio == pytest.approx(1 / 1.5, rel=0.05)
    assert v.evidence["z_vs_lowest"][1] > 10
    assert v.shared_steps == (0, 3000)
    assert v.latest == [c.entries[0].analysis.metrics["train/rec_loss"].latest,
                        c.entries[1].analysis.metrics["train/rec_loss"].latest]
    assert "small lower" in comparison_text(c)


def test_a_restart_in_the_folder_compares_only_the_latest_experiment(tmp_path):
    # A's folder holds another experiment before a restart: its rows are still current rows of the Run, but
    # they are not A's experiment (its analysis sets them aside), so the comparison must not use them either
    a, b = restarted_pair(tmp_path)
    c = compare_paths([a, b], ["A", "B"])
    mine = c.entries[0].analysis
    assert [r.kind for r in mine.resumes] == ["restart"]
    assert mine.first_step == 3000
    assert 0 in c.entries[0].run.df["step"].to_list()  # the set-aside experiment's rows are in the run
    v = c.metrics["train/rec_loss"]
    assert v.shared_steps == (3000, 6000)
    assert v.end_levels[0] == pytest.approx(mine.metrics["train/rec_loss"].end_level)
    assert v.latest[0] == mine.metrics["train/rec_loss"].latest
    assert v.verdict == "indistinguishable"
    assert v.level_n == mine.thresholds.level_n


def test_runs_of_different_stages_and_an_unreadable_run(tmp_path):
    vae = write_run(tmp_path / "vae", seed=1)
    ldm = tmp_path / "ldm"
    troubled_ldm_run(ldm)
    broken = tmp_path / "empty"
    broken.mkdir()
    c = compare_paths([vae, ldm, broken], ["V", "L", "X"])
    assert c.labels == ["V", "L"]
    assert [e["label"] for e in c.errors] == ["X"]
    assert "no training logs found" in c.errors[0]["error"]
    j = comparison_json(c)
    assert [r["stage"] for r in j["runs"]] == ["vae", "ldm"]
    assert j["metrics"]["train/rec_loss"]["verdict"] == "not comparable"
    assert j["metrics"]["loss_simple"]["verdict"] == "not comparable"
    assert j["runs"][1]["total_steps"] == 20000
    assert "nonfinite_loss" in j["runs"][1]["diagnostics"]
    assert {"model.first_stage.ckpt_path", "model.lossconfig.disc_start"} <= {d["key"] for d in j["config_diff"]}
    with pytest.raises(AnalysisError, match=r"X \(.*empty\)"):
        compare_paths([vae, broken], ["V", "X"])
    with pytest.raises(AnalysisError, match="2 to 8 runs"):
        compare_paths([vae])


def test_training_hours_remove_the_gap_between_launches(tmp_path):
    two_launch_log(tmp_path / "logs")
    df = read_run(tmp_path / "logs").df
    wall, hours = x_coordinates(df, "time"), x_coordinates(df, "hours")
    assert wall[0] == 0
    assert hours[0] == 0
    assert wall[-1] > 40  # the second launch starts 40 h later
    # launch 1's current rows span steps 0..1900, launch 2's 2000..4900, 0.5 s a step each
    assert hours[-1] == pytest.approx((1900 + 2900) * 0.5 / 3600, rel=1e-6)
    assert np.all(np.diff(hours) >= 0)
    with pytest.raises(AnalysisError, match="x_axis must be one of"):
        x_coordinates(df, "epochs")


def test_cli_compare_json_and_an_unreadable_run(tmp_path, capsys):
    import json

    from radiodiff_lib.cli import main
    a, b = write_run(tmp_path / "a", seed=1, scale=1.5), write_run(tmp_path / "b", seed=2)
    out = tmp_path / "c.json"
    assert main(["compare", str(a), str(b), "--labels", "A,B", "--json", str(out)]) == 0
    j = json.loads(out.read_text())
    assert [r["label"] for r in j["runs"]] == ["A", "B"]
    assert set(j["runs"][0]) >= {"label", "paths", "stage", "entries", "first_step", "latest_step", "total_steps",
                                 "diagnostics"}
    assert j["runs"][0]["entries"] == 51
    assert j["runs"][0]["total_steps"] == TOTAL
    m = j["metrics"]["train/rec_loss"]
    assert m["verdict"] == "B lower"
    assert m["shared_steps"] == [0, 5000]
    assert len(m["latest"]) == 2
    assert 0.6 < m["ratio"] < 0.72
    assert "B lower" in capsys.readouterr().out
    # one run unreadable: named on stderr, exit 2, the two others compared and written
    missing = tmp_path / "nowhere"
    assert main(["compare", str(a), str(b), str(missing), "--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert "nowhere" in err
    assert "was not read" in err
    assert len(err.strip().splitlines()) == 1
    j = json.loads(out.read_text())
    assert [r["label"] for r in j["runs"]] == ["a", "b"]
    assert j["errors"][0]["label"] == "nowhere"
    # a --labels count that does not match the runs is a one-line error
    assert main(["compare", f"{a}/2025-03-02-09-14_.log", str(b), "--labels", "A"]) == 2
    assert "one distinct label per run" in capsys.readouterr().err


def _ldm_run(folder, *, data="radio", ckpt="./radiodiff_Vae/model-30.pt", lr=2e-5, seed=1, died_early=False):
    """A second-stage folder; with died_early, a first launch with batch size 64 that dies after one step."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = ldm_config(train_num_steps=20000, lr=lr, ckpt_path=ckpt)
    cfg["data"]["name"] = data
    if died_early:
        big = copy.deepcopy(cfg)
        big["data"]["batch_size"] = 64
        write_ldm_log(folder / "2025-10-15-12-00_.log", [0], config=big, tail=TRACEBACK,
                      start_time=LDM_START - timedelta(hours=1))
    write_ldm_log(folder / "2025-10-15-13-07_.log", range(0, 6001, 100), config=cfg,
                  values=lambda s: ldm_values(s, lr=lr, total=20000, seed=seed))
    return folder


@pytest.fixture(scope="module")
def unlike(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("unlike")
    a = _ldm_run(tmp / "a", seed=1, died_early=True)
    b = _ldm_run(tmp / "b", data="IRT4", ckpt="./other_Vae/model-12.pt", lr=1e-5, seed=2)
    return compare_paths([a, b], ["A", "B"])


def test_comparability_names_what_is_not_like_for_like(unlike):
    c = unlike
    assert not c.like_for_like
    aspects = [x["aspect"] for x in c.comparability]
    assert "data set" in aspects
    assert "first-stage checkpoint" in aspects
    assert "LR" in aspects
    assert "batch size" not in aspects  # the run that used another batch size is the one that died, set aside


def test_a_verdict_over_runs_not_like_for_like_says_so(unlike):
    v = unlike.metrics["loss_simple"]
    assert v.verdict == "indistinguishable"
    assert v.caveat.startswith("not like for like: ")
    assert "data set" in v.caveat
    text = comparison_text(unlike)
    assert text.index("NOT LIKE FOR LIKE") < text.index("Verdicts on the shared steps")
    assert "indistinguishable (not like for like" in text


def test_levels_at_the_last_shared_step_and_at_the_end(unlike):
    v = unlike.metrics["loss_simple"]
    assert v.shared_steps == (0, 6000)
    assert len(v.at_shared_end) == 2
    assert all(x is not None for x in v.at_shared_end)
    assert v.level_n == 10
    a = unlike.entries[0].analysis.metrics["loss_simple"]
    assert v.end_levels[0] == pytest.approx(a.end_level)


def test_the_launch_that_died_early_is_listed_per_run(unlike):
    j = comparison_json(unlike)
    (dead,) = j["runs"][0]["launches_died_early"]
    assert dead["entries"] == 1
    assert dead["last_error"] == "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB"
    assert [c["key"] for c in dead["config_changes"]] == ["data.batch_size"]
    assert j["runs"][1]["launches_died_early"] == []
    assert "Launches that died early or were set aside:" in comparison_text(unlike)
    assert j["like_for_like"] is False


def test_like_for_like_runs_have_no_caveat(tmp_path):
    a = write_run(tmp_path / "a", seed=1)
    b = write_run(tmp_path / "b", seed=2)
    c = compare_paths([a, b], ["A", "B"])
    assert c.like_for_like
    assert c.metrics["train/rec_loss"].caveat is None
    assert "Like for like" in comparison_text(c)
