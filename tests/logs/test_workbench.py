"""Log reader: the trainer's metrics.jsonl / train.log (as training.run_log writes them) and TensorBoard events."""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from radiodiff_lib.logs import read_run
from tests.helpers.logfactory import radiodiff_config, write_workbench_folder

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


def _write_events(folder, steps, base=0.0):
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(folder))
    for s in steps:
        for tag, value in (("total_loss", base - s), ("rec_loss", 0.25), ("Learning_Rate", 5e-6),
                           ("d_weight", 5000.0), ("custom_tag", float(s))):
            writer.add_scalar(tag, value, s)
    writer.close()


def test_tensorboard_events_read_back_with_radiodiff_names(tmp_path):
    _write_events(tmp_path, range(0, 5), base=-100.0)
    run = read_run(tmp_path)
    assert run.segments["kind"].tolist() == ["tensorboard"]
    assert run.df["step"].tolist() == [0, 1, 2, 3, 4]
    assert run.df["train/total_loss"].tolist() == [-100.0, -101.0, -102.0, -103.0, -104.0]
    assert run.df["lr"].tolist() == [pytest.approx(5e-6, rel=1e-6)] * 5  # float32 in the file
    assert run.df["custom_tag"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert "train/kl_loss" not in run.df.columns


def test_cut_off_event_record_is_counted(tmp_path):
    _write_events(tmp_path, range(0, 4))
    (events,) = tmp_path.glob("events.out.tfevents.*")
    events.write_bytes(events.read_bytes()[:-7])  # the process was killed mid-record
    run = read_run(events)
    assert run.df["step"].tolist() == [0, 1, 2, 3]
    assert run.logged["custom_tag"].tolist() == [True, True, True, False]  # the last scalar was cut
    assert run.skipped_counts() == {"cut-off record": 1}


def test_metrics_line_with_bytes_that_are_not_utf8(tmp_path):
    lines = [line.encode() for line in _metrics_lines()[:4]]
    lines.insert(2, b'{"kind": "step", "launch": 0, "note": "\xff\xfe"}')
    (tmp_path / "metrics.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    run = read_run(tmp_path / "metrics.jsonl")
    assert run.df["step"].tolist() == [0, 1, 2]
    assert [(s.line, s.reason) for s in run.skipped] == [(3, "non-utf8 bytes")]
    assert "\\xff\\xfe" in run.skipped[0].text


def test_tensorboard_followed_live_and_restart_inside_a_file(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    from radiodiff_lib.logs import RunReader

    writer = SummaryWriter(str(tmp_path))
    for s in (0, 1, 2):
        writer.add_scalar("total_loss", float(s), s)
    writer.flush()
    reader = RunReader(tmp_path)
    assert reader.update().df["step"].tolist() == [0, 1, 2]
    writer.add_scalar("rec_loss", 0.5, 2)  # another scalar of step 2 arrives in a later read
    for s in (1, 2):  # then the steps go back: a restart written into the same file
        writer.add_scalar("total_loss", 10.0 + s, s)
    writer.close()
    run = reader.update()
    assert run.df["step"].tolist() == [0, 1, 2]
    assert run.df["train/total_loss"].tolist() == [0.0, 11.0, 12.0]
    assert run.superseded["step"].tolist() == [1, 2]
    assert run.superseded["train/rec_loss"].tolist()[1] == 0.5
    assert run.segments["n_rows"].tolist() == [3, 2]
