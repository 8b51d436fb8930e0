"""The words and JSON of an Analysis: strict JSON, fractions in [0, 1], skipped lines counted, no praise."""
from __future__ import annotations

import json

import numpy as np

from radiodiff_lib.analysis import analyze, summary_text, to_json
from tests.helpers.runs import frame, make_run, two_segment_run


def test_to_json_fields_serialisable_and_fractions_in_unit_interval(broken):
    j = to_json(analyze(two_segment_run(jump=0.1)))
    for jj in (j, to_json(broken)):
        text = json.dumps(jj, allow_nan=False)
        assert json.loads(text) == jj
        for k in ("entries", "first_step", "latest_step", "total_steps", "progress", "disc_start",
                  "disc_first_logged_step", "gan_phase_progress", "metrics", "resumes", "diagnostics", "skipped"):
            assert k in jj
        for k in ("progress", "gan_phase_progress"):
            assert jj[k] is None or 0.0 <= jj[k] <= 1.0
        for m in jj["metrics"].values():
            assert {"first", "latest", "min", "max", "change_pct", "trend", "status"} <= set(m)
        for d in jj["diagnostics"]:
            assert set(d) >= {"id", "severity", "message", "evidence"}
            assert d["severity"] in ("info", "warning", "critical")
    r = j["resumes"][0]
    assert (r["step"], r["replayed_steps"], r["continuity"]["train/rec_loss"]) == (3500, 6, "jump")
    assert j["skipped"] == {"count": 0, "reasons": {}}


def test_skipped_counted():
    from tests.helpers.runs import skipped_line
    run = make_run(frame(np.arange(0, 1000, 100), {"train/rec_loss": 1.0}),
                   skipped=[skipped_line("a.log", 3, "foreign"), skipped_line("a.log", 9, "foreign"),
                            skipped_line("a.log", 12, "truncated")])
    j = to_json(analyze(run))
    assert j["skipped"] == {"count": 3, "reasons": {"foreign": 2, "truncated": 1}}


def test_summary_never_praises_the_broken_run(broken):
    text = summary_text(broken).lower()
    assert "converg" not in text
    assert "excellent" not in text
    assert "negative" in text
    assert "not a better model" in text
    assert "train/rec_loss" in text
    assert "discriminator_not_trained" in text
    assert all("converg" not in s.lower() for s in broken.summary_sentences)
