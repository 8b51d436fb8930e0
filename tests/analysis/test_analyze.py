"""analyze: end to end from RadioDiff logs written to disk (read_run -> analyze -> to_json, the CLI, plots),
and what analyze does with a Run as a whole (resume replay and gap, the Run left unchanged)."""
from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from radiodiff_lib.analysis import analyze, summary_text, to_json
from radiodiff_lib.logs import read_run
from tests.helpers.logfactory import START, default_values, write_radiodiff_log
from tests.helpers.runs import frame, make_run, two_segment_run


@pytest.fixture(scope="module")
def resumed_folder(tmp_path_factory):
    """The issue's run: gradient_accumulate_every 1, resumed at 35,000 after logging up to 40,000."""
    d = tmp_path_factory.mktemp("radiodiff_Vae")
    write_radiodiff_log(d / "2025-03-02-09-14_.log", range(0, 40001, 100), gen_only=True)
    later = START + timedelta(days=1)
    write_radiodiff_log(d / "2025-03-03-09-14_.log", range(35000, 60001, 100), gen_only=True, start_time=later,
                        extra_lines={3: ["Traceback (most recent call last):", "garbage line"]})
    return d


@pytest.fixture(scope="module")
def analysed(resumed_folder):
    run = read_run(resumed_folder)
    return run, analyze(run)


def test_read_and_analyse_the_issue_run(analysed):
    run, a = analysed
    assert a.entries == 601
    assert a.first_step == 0
    assert a.latest_step == 60000
    assert a.total_steps == 150000
    assert a.progress == pytest.approx(0.4)
    assert a.disc_start == 50001
    assert a.disc_first_logged_step == 50100
    assert a.gan_phase_progress == pytest.approx((60000 - 50001) / (150000 - 50001))
    assert a.steps_per_hour == pytest.approx(7200.0, rel=1e-3)  # 0.5 s per step in each file
    ids = a.diagnostic_ids
    for want in ("adaptive_weight_saturated", "discriminator_not_trained", "adversarial_term_dominates_total",
                 "lr_not_logged", "logvar_frozen"):
        assert want in ids
    assert a.metrics["train/total_loss"].latest < 0
    text = summary_text(a).lower()
    assert "converg" not in text
    assert "excellent" not in text


def test_resume_found_with_replayed_steps(analysed):
    run, a = analysed
    (r,) = a.resumes
    assert r.step == 35000
    assert r.replayed_steps == 51
    assert r.replayed_range == (35000, 40000)
    assert r.gap_seconds is not None
    assert r.gap_seconds > 0
    assert a.superseded_rows == 51
    # the same smooth curve on both sides (5-decimal prints, no noise) is not a jump
    assert r.continuity["train/rec_loss"] == "continuous"
    assert "resume_discontinuity" not in a.diagnostic_ids


def test_json_of_a_read_run(analysed):
    run, a = analysed
    j = json.loads(json.dumps(to_json(a), allow_nan=False))
    assert j["entries"] == 601
    assert j["resumes"][0]["replayed_steps"] == 51
    assert j["skipped"]["count"] == len(run.skipped) >= 2
    assert 0.0 <= j["progress"] <= 1.0
    assert 0.0 <= j["gan_phase_progress"] <= 1.0


def test_cli_analyze_writes_json(resumed_folder, tmp_path, capsys):
    from radiodiff_lib.cli import main
    out = tmp_path / "a.json"
    assert main(["analyze", str(resumed_folder), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "discriminator_not_trained" in printed
    assert "train/rec_loss" in printed
    j = json.loads(out.read_text())
    assert j["latest_step"] == 60000
    assert {d["id"] for d in j["diagnostics"]} >= {"adaptive_weight_saturated"}


def test_plots_of_a_read_run(analysed):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from radiodiff_lib import plots
    run, a = analysed
    try:
        assert len(plots.overview_grid(run, a).axes) == len(plots.moving_metrics(a))  # constant ones: a table
        assert len(plots.resume_zoom_figure(run, a, 0).axes) >= 1
    finally:
        plt.close("all")


def test_nan_and_inf_in_a_log_are_counted_not_absent(tmp_path):
    def values(step):
        gen, disc = default_values(step, 50001)
        if step == 3000:
            gen.update({"train/rec_loss": float("nan"), "train/nll_loss": float("nan"),
                        "train/total_loss": float("inf")})
        return gen, disc
    write_radiodiff_log(tmp_path / "2025-03-02-09-14_.log", range(0, 5001, 100), values=values)
    a = analyze(read_run(tmp_path))
    d = a.diagnostic("nonfinite_values")
    assert d.severity == "warning"  # not the latest value: the run went on
    assert d.evidence["counts"] == {"train/total_loss": 1, "train/nll_loss": 1, "train/rec_loss": 1}
    assert d.evidence["first_steps"] == {"train/total_loss": 3000, "train/nll_loss": 3000, "train/rec_loss": 3000}
    assert a.metrics["train/disc_loss"].nonfinite == 0


def test_the_skipped_count_counts_every_line_past_the_kept_ones(tmp_path):
    """The reader keeps the first lines of a reason one by one and counts the rest in one record."""
    log = tmp_path / "2025-03-02-09-14_.log"
    write_radiodiff_log(log, range(0, 1000, 100), extra_lines={5: ["stray text line"] * 2500})
    j = to_json(analyze(read_run([log])))
    assert j["skipped"]["count"] == sum(j["skipped"]["reasons"].values())
    assert j["skipped"]["count"] >= 2500


def test_resume_boundary_replay_gap_and_continuity():
    a = analyze(two_segment_run())
    (r,) = a.resumes
    assert r.step == 3500
    assert r.replayed_steps == 6
    assert r.replayed_range == (3500, 4000)
    assert r.gap_seconds == pytest.approx(86400 - 8000)  # end of segment 0 (4000 steps x 2 s) to next day
    assert r.continuity["train/rec_loss"] == "continuous"
    j = analyze(two_segment_run(jump=0.1)).resumes[0]  # 10 sigma of the window before
    assert j.continuity["train/rec_loss"] == "jump"
    # the noise is estimated from 20 entries, so the measured size of a 10-sigma jump varies around 10
    assert 5 < j.evidence["train/rec_loss"]["shift_sigma"] < 25
    assert j.evidence["train/rec_loss"]["shift"] == pytest.approx(0.1, abs=0.01)


def test_analyze_does_not_modify_the_run():
    run = two_segment_run(jump=0.1)
    before_df, before_sup = run.df.copy(), run.superseded.copy()
    analyze(run)
    pd.testing.assert_frame_equal(run.df, before_df)
    pd.testing.assert_frame_equal(run.superseded, before_sup)


def test_make_run_supersedes_earlier_segments():
    a = frame(np.arange(0, 1000, 100), {"train/rec_loss": 1.0}, segment=0)
    b = frame(np.arange(500, 1500, 100), {"train/rec_loss": 2.0}, segment=1, t0="2025-03-03")
    run = make_run([a, b])
    assert list(run.df["step"]) == list(range(0, 1500, 100))
    assert list(run.superseded["step"]) == [500, 600, 700, 800, 900]
    assert (run.df.loc[run.df["step"] >= 500, "train/rec_loss"] == 2.0).all()
