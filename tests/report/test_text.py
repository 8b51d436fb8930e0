"""Report text: every section's Markdown is laid out from the Analysis' own numbers (no kernel needed)."""
from __future__ import annotations

import pandas as pd
import pytest

from radiodiff_lib.analysis import analyze
from radiodiff_lib.report import text
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
    sev = [next(s for s in ("CRITICAL", "WARNING", "info") if f"**{s}**" in ln) for ln in lines]
    assert sev == sorted(sev, key=["CRITICAL", "WARNING", "info"].index)
    assert "*Evidence:*" in lines[0]


def test_recommendations_numbered(broken):
    _, a = broken
    lines = text.recommendations(a).data.splitlines()
    assert len(lines) == len(a.recommendations)
    assert lines[0].startswith("1. ")


def test_healthy_run_without_recommendations_says_so():
    a = analyze(healthy_run())
    a.recommendations = []
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
