"""Report text: every section's Markdown is laid out from the Analysis' own numbers (no kernel needed); on the
researcher's runs (issue 18): the title with the stage, where the run began, the verdict box (critical findings
first, in words), restarts shown as restarts, the second stage's scale, the LR reconstructed."""
from __future__ import annotations

import pandas as pd
import pytest

from radiodiff_lib.analysis import analyze, headline
from radiodiff_lib.logs import read_run
from radiodiff_lib.report import text
from tests.helpers.researcher import crashed_then_relaunched
from tests.helpers.runs import broken_radiodiff_run, frame, healthy_run, make_run


@pytest.fixture(scope="module")
def broken():
    run = broken_radiodiff_run()
    return run, analyze(run)


def test_table_escapes_pipes_and_counts_rows():
    t = text.table(["a", "b"], [[1, "x|y"], [2, "z"]]).splitlines()
    assert t[0] == "| a | b |"
    assert t[1] == "|---|---|"
    assert t[2] == "| 1 | x\\|y |"
    assert len(t) == 4


def test_esc_keeps_products_literal():
    assert text.esc("d_weight*disc_factor*g_loss") == "d\\_weight\\*disc\\_factor\\*g\\_loss"


@pytest.mark.parametrize("x,expected", [(None, "-"), (0.000123456, "0.00012346"), (float("nan"), "nan"),
                                        (float("-inf"), "-inf"), (12, "12")])
def test_num(x, expected):
    assert text.num(x) == expected


def test_summary_is_every_sentence_escaped(broken):
    _, a = broken
    md = text.summary(a).data.splitlines()
    assert len(md) == len(a.summary_sentences)
    assert all(line.startswith("- ") for line in md)
    assert md[0] == "- " + text.esc(a.summary_sentences[0])


def test_key_statistics_has_a_row_per_metric_with_its_status(broken):
    _, a = broken
    md = text.key_statistics(a).data
    main, constants = md.split("**Constant over the whole run**")
    rows = [r for r in main.splitlines() if r.startswith("| `")]
    constant = text.constant_metrics(a)
    assert set(constant) == {"train/logvar", "train/d_weight", "lr"}  # lr printed as 0, no config to rebuild it
    moving = [k for k in a.metrics if k not in constant]
    assert len(rows) == len(moving)
    for name, row in zip(moving, rows):
        m = a.metrics[name]
        assert row.startswith(f"| `{name}` | {text.num(m.latest)} @ {m.latest_step} |")
        assert f"**{m.status}**" in row
        assert f"| {text.num(m.start_level, '.4g')} → {text.num(m.end_level, '.4g')} |" in row
    const_rows = [r for r in constants.splitlines() if r.startswith("| `")]
    assert [r.split("`")[1] for r in const_rows] == constant  # one small table, one row each


def test_progress_states_numbers(broken):
    _, a = broken
    md = text.progress(a).data
    assert f"| logged steps analysed | {a.entries} |" in md
    assert f"| progress | {a.progress:.1%} |" in md
    assert "no resume" in md


def test_metric_text_cites_its_diagnostic_and_meaning(broken):
    _, a = broken
    md = text.metric_text(a, "train/d_weight").data
    assert "adaptive_weight_saturated" in md
    assert text.MEANING["train/d_weight"] in md
    assert f"Logged {a.metrics['train/d_weight'].count} times" in md
    assert "adaptive_weight_saturated" not in text.metric_text(a, "train/kl_loss").data


def test_diagnostics_critical_first_with_evidence(broken):
    _, a = broken
    lines = text.diagnostics(a).data.splitlines()
    assert len(lines) == len(a.diagnostics)
    sev = [next(s for s in ("CRITICAL", "Warning", "Note") if f"**{s}**" in ln) for ln in lines]
    assert sev == sorted(sev, key=["CRITICAL", "Warning", "Note"].index)
    assert "*Evidence:*" in lines[0]


def test_a_finding_has_one_severity_word_wherever_it_is_shown(late):
    """The verdict, the findings, a metric's text and the recommendations call a warning a "Warning" alike."""
    run, a, _ = late
    d = next(d for d in a.diagnostics if d.id == "adaptive_weight_saturated")
    assert d.severity == "warning"
    assert f"**Warning: {text.esc(headline(d))}.**" in text.verdict_box(a).data
    assert f"- **Warning** **{text.esc(headline(d))}** (`{d.id}`)" in text.diagnostics(a).data
    assert f"(`{d.id}`, Warning)" in text.metric_text(a, "train/d_weight").data
    assert f"**Warning: {text.esc(headline(d))}** (`{d.id}`)" in text.recommendations(a).data


def test_recommendations_numbered(broken):
    _, a = broken
    lines = text.recommendations(a).data.splitlines()
    assert len(lines) == len(a.recommendations)
    assert lines[0].startswith("1. ")


def test_healthy_run_without_recommendations_says_so():
    a = analyze(healthy_run())
    a.diagnostics, a.recommendations = [], []  # no finding, so no advice (the report reads it from the findings)
    assert "No diagnostic calls for a change" in text.recommendations(a).data


def test_resume_text_lists_each_metric_verdict():
    s0 = frame(range(0, 3000, 100), {"train/rec_loss": 0.05, "train/total_loss": 1000.0}, segment=0)
    s1 = frame(range(2000, 5000, 100), {"train/rec_loss": 0.05, "train/total_loss": 1000.0}, segment=1,
               t0="2025-03-03 09:00:00")
    a = analyze(make_run([s0, s1]), window=5)
    md = text.resume_text(a, 0).data
    assert md.startswith("### Resume at step 2000")
    assert "10 logged step(s) replayed (2000..2900" in md
    for name, verdict in a.resumes[0].continuity.items():
        assert f"| `{name}` | **{verdict}** |" in md


def test_appendix_counts_skipped_lines_and_shows_config(broken):
    run, a = broken
    a.skipped = {"count": 3, "reasons": {"foreign line": 2, "cut-off line": 1}}
    md = text.appendix(run, a, params={"checkpoint": None}).data
    assert "**Skipped lines: 3**" in md
    assert "| foreign line | 2 |" in md
    assert "| cut-off line | 1 |" in md
    assert "disc_start: 50001" in md
    assert "checkpoint=None" in md


def test_checkpoint_table_formats_rows():
    df = pd.DataFrame([{"path": "/r/model-2.pt", "milestone": 2, "step": 80, "written_at": 3 * 86400.0, "bytes": 2_500_000,
                        "format": "workbench", "integrity": "ok", "resume": "exact", "note": ""}])
    md = text.checkpoint_table(df).data
    assert "| `model-2.pt` | 2 | 80 | 1970-01-0" in md
    assert "| 2.5 MB | workbench | ok | exact |" in md
    assert text.checkpoint_table(df.iloc[:0]).data == "No checkpoint found."
    df["written_at"] = ["2026-11-26T12:09:28"]  # the inspect table's ISO text
    assert "| 80 | 2026-11-26 12:09:28 |" in text.checkpoint_table(df).data


def test_title_names_the_stage_and_the_run(late, restart):
    run, a, want = late
    md = text.title(run, a).data
    assert md.splitlines()[0] == f"# First-stage (VAE) run `{want['log'].parent.name}`"
    assert f"**Read from** `{want['log'].parent}` (1 file(s): radiodiff-log;" in md
    run2, a2, _ = restart
    assert text.title(run2, a2).data.startswith("# Second-stage (latent diffusion) run `")


def test_where_the_run_began_is_said_at_the_top(late):
    run, a, _ = late
    md = text.title(run, a).data
    assert "**Where the run began:** The logs begin at step 35,000, not 0: the run was resumed from model-7.pt" in md
    progress = text.progress(a).data
    assert "resumed from model-7.pt" not in progress  # said once, at the top
    assert "The logs hold a single launch: no resume within them." in progress


def test_verdict_box_puts_critical_findings_first_in_words(late):
    run, a, _ = late
    lines = [ln for ln in text.verdict_box(a).data.splitlines() if ln.startswith("> - ")]
    marks = [ln.split(":")[0] for ln in lines]
    assert marks[0] == "> - **CRITICAL"
    assert marks == sorted(marks, key=lambda m: 0 if "CRITICAL" in m else 1)
    assert "The discriminator was never trained." in text.verdict_box(a).data
    assert "discriminator\\_not\\_trained" not in lines[0]  # words, not the identifier


def test_verdict_box_says_when_nothing_is_critical(restart):
    run, a, _ = restart
    md = text.verdict_box(a).data
    assert md.startswith("> **Verdict: no critical findings, 2 warnings.**")
    assert "No critical finding" in md
    assert "The folder holds more than one experiment." in md


def test_recommendations_by_severity_none_against_the_critical_root_cause(late):
    run, a, _ = late
    lines = text.recommendations(a).data.splitlines()
    assert lines[0].startswith("1. **CRITICAL: ")
    sat = next(ln for ln in lines if "`adaptive_weight_saturated`" in ln)
    assert "lower lossconfig" not in sat
    assert "follows from the untrained discriminator" in sat


def test_a_restart_is_shown_as_a_restart_with_what_it_sets_aside(restart):
    run, a, want = restart
    progress = text.progress(a).data
    assert "Restart at step 0" in progress
    assert "no metric jumps" not in progress
    md = text.resume_text(a, 0).data
    assert md.startswith("### Restart at step 0")
    assert "**Set aside**" in md
    assert f"| `{want['tune']}` | 0 .. 5000 | 51 |" in md
    assert "| `trainer.train_num_steps` | 5000 | 80000 | length (train\\_num\\_steps) |" in md
    assert "12.5x" in md


def test_a_relaunch_names_the_stopped_launch_and_its_error(tmp_path):
    crashed_then_relaunched(tmp_path)
    a = analyze(read_run(tmp_path))
    md = text.resume_text(a, 0).data
    assert md.startswith("### Crash-and-relaunch at step 0")
    assert "RuntimeError: CUDA out of memory" in md
    assert "| `data.batch_size` | 4 | 2 | batch size |" in md


def test_second_stage_scale_as_radiodiff_applies_it(restart):
    run, a, _ = restart
    md = text.second_stage(a).data
    assert "scale\\_factor 0.3 is used as written and never measured" in md
    known, _, unknown = md.partition("**Keys the schema does not know**")
    assert "model.default\\_scale" in known
    assert "model.default\\_scale" not in unknown


def test_lr_text_gives_the_reconstruction(late):
    run, a, _ = late
    md = text.metric_text(a, "lr").data
    assert "reconstructed from the config as lr x max((1 - step / train\\_num\\_steps) \\*\\* 0.95, min\\_lr)" in md
    assert "Dashed in the figure." in md
    assert "lr" not in text.constant_metrics(a)  # printed as 0, yet drawn: its reconstruction is the curve


def test_the_reconstructed_lr_is_one_row_of_the_tables_and_one_panel_of_the_overview(late):
    """The LR printed as 0 that the config reconstructs: one test of "constant" in the tables and the figures, so it
    is neither missing from all of them nor in two."""
    from radiodiff_lib import plots
    from tests.helpers.figures import gid_lines

    run, a, _ = late
    md = text.key_statistics(a).data  # the moving metrics' table, then the constant ones'
    named = [r.split("`")[1] for r in md.splitlines() if r.startswith("| `")]
    assert named.count("lr") == 1
    assert "lr" not in text.constant_metrics(a)
    assert plots.moving_metrics(a).count("lr") == 1
    assert len(gid_lines(plots.overview_grid(run, a), "lr_reconstructed")) == 1


def test_constant_metrics_in_one_small_table(late):
    run, a, _ = late
    assert text.constant_metrics(a) == ["train/logvar", "train/d_weight"]
    table = text.constant_table(a).data
    assert table.count("\n| `") == 2
