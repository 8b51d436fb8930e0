"""The trainer's metrics.jsonl / train.log (as training.run_log writes them): rewinds, a folder read whole, bytes
that are not UTF-8; one bad record is one skipped line (issue 10 item 4); metrics.jsonl fuzzed."""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, strategies as st

from radiodiff_lib.analysis import analyze
from radiodiff_lib.logs import read_run
from tests.helpers.fuzz import Case, DEEP_JSON, FAST, HUGE, SLOW, check_lines, damage, read_or_none, values
from tests.helpers.logfactory import GEN_KEYS, radiodiff_config, write_workbench_folder

T0 = 1_750_000_000.0


def _metrics_lines() -> list[str]:
    """A metrics.jsonl written by hand: two launches, the second rewinding to step 2."""
    cfg = radiodiff_config(disc_start=3, train_num_steps=8)
    recs = [
        {"kind": "launch", "launch": 0, "time": T0, "start_step": 0, "resumed_from": None, "config": cfg,
         "notes": []},
        *[{"kind": "step", "launch": 0, "time": T0 + 1 + s, "step": s, "phase": "gan" if s >= 3 else "vae",
           "lr": 5e-06, "train/total_loss": 100.0 - s, "train/rec_loss": 0.1 / (s + 1)} for s in range(5)],
        {"kind": "launch", "launch": 1, "time": T0 + 100, "start_step": 2, "resumed_from": "model-1.pt",
         "config": cfg, "notes": ["resumed"]},
        {"kind": "rewind", "launch": 1, "time": T0 + 100, "to_step": 2},
        *[{"kind": "step", "launch": 1, "time": T0 + 101 + s, "step": s, "phase": "gan" if s >= 3 else "vae",
           "lr": 4.9e-06, "train/total_loss": 50.0 - s, "train/rec_loss": float("nan") if s == 4 else 0.2,
           "train/disc_loss": float("inf") if s == 5 else 0.5} for s in range(2, 7)],
    ]
    return [json.dumps(r) for r in recs]


def test_metrics_file_with_rewind_read_instead_of_train_log(tmp_path):
    lines = _metrics_lines()
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + "\n" + '{"kind": "step", "launch": 1, "ti')
    (tmp_path / "train.log").write_text("this file must not be read\n")
    run = read_run(tmp_path)
    assert run.sources == [str(tmp_path / "metrics.jsonl")]
    assert any("train.log: not read" in n for n in run.notes)
    assert run.df["step"].tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert run.df["segment"].tolist() == [0, 0, 1, 1, 1, 1, 1]
    assert run.df["train/total_loss"].tolist() == [100.0, 99.0, 48.0, 47.0, 46.0, 45.0, 44.0]
    assert run.df["lr"].tolist() == [5e-06] * 2 + [4.9e-06] * 5
    assert math.isnan(run.df.loc[4, "train/rec_loss"])
    assert run.logged.loc[4, "train/rec_loss"]
    assert run.df.loc[5, "train/disc_loss"] == float("inf")
    assert not run.logged.loc[0, "train/disc_loss"]
    assert run.df["phase"].astype(str).tolist() == ["vae", "vae", "vae", "gan", "gan", "gan", "gan"]
    assert run.df["line"].tolist() == [2, 3, 9, 10, 11, 12, 13]
    assert run.superseded["step"].tolist() == [2, 3, 4]
    assert run.superseded["train/total_loss"].tolist() == [98.0, 97.0, 96.0]
    assert run.config["trainer"]["train_num_steps"] == 8
    assert run.total_steps == 8
    seg = run.segments
    assert seg["kind"].tolist() == ["workbench-metrics"] * 2
    assert seg["rewind_to"].tolist() == [0, 2]
    assert seg["start_time"][1] - seg["start_time"][0] == pd.Timedelta(seconds=100)
    assert run.skipped_counts() == {"cut-off line": 1}


def test_rewind_record_supersedes_even_before_new_rows(tmp_path):
    lines = _metrics_lines()[:8]  # launch 1 and its rewind, no step of launch 1 yet
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    run = read_run(tmp_path / "metrics.jsonl")
    assert run.df["step"].tolist() == [0, 1]
    assert run.superseded["step"].tolist() == [2, 3, 4]


def test_factory_workbench_folder_and_train_log_alone(tmp_path):
    launches = [{"steps": range(0, 10)}, {"steps": range(5, 15), "rewind_to": 5}]
    folder = write_workbench_folder(tmp_path / "run", launches)
    run = read_run(folder)
    assert run.df["step"].tolist() == list(range(15))
    assert run.superseded["step"].tolist() == list(range(5, 10))
    # the same folder without its metrics file: train.log holds both launches (config line each)
    (folder / "metrics.jsonl").unlink()
    log_run = read_run(folder)
    assert log_run.segments["kind"].tolist() == ["workbench-log"] * 2
    assert log_run.df["step"].tolist() == list(range(15))
    assert log_run.superseded["step"].tolist() == list(range(5, 10))
    pd.testing.assert_series_equal(log_run.df["train/rec_loss"], run.df["train/rec_loss"], rtol=1e-7)


def test_metrics_line_with_bytes_that_are_not_utf8(tmp_path):
    lines = [line.encode() for line in _metrics_lines()[:4]]
    lines.insert(2, b'{"kind": "step", "launch": 0, "note": "\xff\xfe"}')
    (tmp_path / "metrics.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    run = read_run(tmp_path / "metrics.jsonl")
    assert run.df["step"].tolist() == [0, 1, 2]
    assert [(s.line, s.reason) for s in run.skipped] == [(3, "non-utf8 bytes")]
    assert "\\xff\\xfe" in run.skipped[0].text


@st.composite
def metrics_file(draw) -> Case:
    n = draw(st.integers(1, 25))
    steps = sorted(draw(st.sets(st.integers(0, 10_000), min_size=n, max_size=n)))
    launch = {"kind": "launch", "launch": 0, "time": 1.75e9, "start_step": steps[0],
              "config": {"trainer": {"train_num_steps": 10_000}}}
    case = Case([json.dumps(launch).encode()], {}, {})
    for r, step in enumerate(steps):
        vals = {k: draw(values) for k in GEN_KEYS[:4]}
        rec = {"kind": "step", "launch": 0, "time": 1.75e9 + step, "step": step, **vals}
        line = json.dumps(rec)
        if draw(st.booleans()):  # a number past float64 reads as inf
            line = line.replace(json.dumps(vals[GEN_KEYS[0]]), "1e999", 1)
            vals[GEN_KEYS[0]] = json.loads(line)[GEN_KEYS[0]]
        case.row_chunks[r] = [len(case.chunks)]
        case.chunks.append(line.encode())
        case.rows[r] = {"step": step, **vals}
    bad = [b'{"kind": "step", "launch": 0, "step": 1e30, "train/total_loss": 1.0}',
           b'{"kind": "step", "launch": 0, "step": ' + HUGE.encode() + b', "train/total_loss": 1.0}',
           b'{"kind": "step", "launch": 0, "step": -3, "train/total_loss": 1.0}',
           b'{"kind": "step", "launch": [0], "step": 3, "train/total_loss": 1.0}',
           DEEP_JSON.encode(), ('{"a": ' * 3000 + "1" + "}" * 3000).encode()]
    return draw(damage(case, bad, newline_free=True))


def _check_metrics(tmp_path_factory, case: Case) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "metrics.jsonl").write_bytes(b"\n".join(case.chunks) + (b"\n" if case.chunks[-1] else b""))
    run = read_or_none(folder / "metrics.jsonl", case)
    if run is not None:
        check_lines(run, case)


@FAST
@given(metrics_file())
def test_metrics_file_fuzz(tmp_path_factory, case):
    _check_metrics(tmp_path_factory, case)


@pytest.mark.slow
@SLOW
@given(metrics_file())
def test_metrics_file_fuzz_long(tmp_path_factory, case):
    _check_metrics(tmp_path_factory, case)


BAD_JSON = {
    '{"kind": "step", "launch": 0, "step": 1e30, "train/rec_loss": 1.0}': "step out of range",
    '{"kind": "step", "launch": 0, "step": 100000000000000000000000, "train/rec_loss": 1.0}': "step out of range",
    '{"kind": "step", "launch": 0, "step": -5, "train/rec_loss": 1.0}': "step out of range",
    '{"kind": "step", "launch": 0, "step": 4.5, "train/rec_loss": 1.0}': "step out of range",
    '{"kind": "step", "launch": 0, "step": Infinity, "train/rec_loss": 1.0}': "step out of range",
    '{"kind": "step", "launch": 0, "step": "7", "train/rec_loss": 1.0}': "step not a number",
    "[" * 100_000 + "]" * 100_000: "nested too deeply",
    '{"a": ' * 50_000 + "1" + "}" * 50_000: "nested too deeply",
    '{"kind": "step", "launch": [1], "step": 3, "train/rec_loss": 1.0}': "unusable launch number",
    '{"kind": "launch", "launch": {"a": 1}, "start_step": 3}': "unusable launch number",
    '{"kind": "rewind", "launch": 0, "to_step": 1e400}': "unusable rewind record",
}


def metrics_with(folder: Path, bad: list[str], at: int = 5) -> list[int]:
    """A metrics.jsonl of one launch, steps 0..9, with ``bad`` lines inserted before step record ``at``."""
    if folder.exists():
        shutil.rmtree(folder)
    write_workbench_folder(folder, [{"steps": range(10)}], with_train_log=False)
    path = folder / "metrics.jsonl"
    lines = path.read_text().splitlines()
    lines[at + 1:at + 1] = bad
    path.write_text("\n".join(lines) + "\n")
    return list(range(10))


@pytest.mark.parametrize("bad,reason", list(BAD_JSON.items()), ids=[r[:30] for r in BAD_JSON])
def test_metrics_file_bad_record_is_one_skipped_line(tmp_path, bad, reason):
    steps = metrics_with(tmp_path / "run", [bad])
    run = read_run(tmp_path / "run")
    assert run.df["step"].tolist() == steps
    assert len(run.superseded) == 0
    assert run.df["segment"].nunique() == 1
    assert run.skipped_counts() == {reason: 1}
    analyze(run)


def test_metrics_file_out_of_range_values_and_launch_fields(tmp_path):
    bad = ['{"kind": "step", "launch": 0, "step": 5, "train/rec_loss": 1' + "0" * 400 + ', "train/kl_loss": 2.0}',
           '{"kind": "launch", "launch": 0, "time": 1e300, "start_step": Infinity, "config": {"trainer": [1, 2]}}']
    steps = metrics_with(tmp_path / "run", [])
    path = tmp_path / "run" / "metrics.jsonl"
    lines = path.read_text().splitlines()
    lines[6] = bad[0]  # step 5's record, with one value no float holds: the row stays, that value is dropped
    path.write_text("\n".join(lines) + "\n")
    run = read_run(tmp_path / "run")
    assert run.df["step"].tolist() == steps
    assert run.skipped_counts() == {"value out of range": 1}
    row = run.df.set_index("step").loc[5]
    assert row["train/kl_loss"] == 2.0
    write_workbench_folder(tmp_path / "b", [{"steps": range(10)}], with_train_log=False)
    path = tmp_path / "b" / "metrics.jsonl"
    path.write_text(bad[1] + "\n" + path.read_text())
    run = read_run(tmp_path / "b")
    assert sorted(run.df["step"].tolist()) == steps
    analyze(run)
