"""Every source of one run merged: text logs + TensorBoard events (+ metrics.jsonl) -> one row per step."""
from __future__ import annotations

import json
import struct
from datetime import datetime, timedelta

import numpy as np
import pytest

from radiodiff_lib.errors import LogFormatError
from radiodiff_lib.logs import RunReader, read_run
from tests.helpers.ldmfactory import write_events
from tests.helpers.logfactory import START, default_values, write_radiodiff_log, write_workbench_folder

DISC_START = 2501


def vae_tags(step: int) -> dict[str, float]:
    """What RadioDiff's train_vae.py writes to TensorBoard at a step (full precision;
    no nll_loss, no logvar)."""
    gen, disc = default_values(step, DISC_START, train_num_steps=10000)
    tags = {k.split("/")[-1]: v for k, v in {**gen, **disc}.items()
            if k not in ("lr", "train/nll_loss", "train/logvar")}
    tags["Learning_Rate"] = gen["lr"]
    return tags


def vae_text_values(step: int):
    return default_values(step, DISC_START, train_num_steps=10000)


def two_launches_with_events(folder, plant: dict | None = None):
    """Launch 1 logs steps 0..3000 (text every 100, events every 10), launch 2 resumes at 2000 to 4990."""
    def text_values(step):
        gen, disc = vae_text_values(step)
        if plant and step in plant:
            gen["train/rec_loss"] = plant[step]
        return gen, disc
    t2 = START + timedelta(hours=40)
    a = write_radiodiff_log(folder / "2025-03-02-09-14_.log", range(0, 3001, 100), disc_start=DISC_START,
                            total_steps=10000, values=text_values)
    b = write_radiodiff_log(folder / "2025-03-03-20-00_.log", range(2000, 5000, 100), disc_start=DISC_START,
                            total_steps=10000, values=text_values, start_time=t2)
    ea = write_events(folder / "tb1", range(0, 3000, 10), vae_tags, start_time=START + timedelta(seconds=20),
                      seconds_per_step=0.5, name="a")
    eb = write_events(folder / "tb2", range(2000, 4991, 10), vae_tags, start_time=t2 + timedelta(seconds=20),
                      seconds_per_step=0.5, name="b")
    return a, b, ea, eb


def test_text_logs_and_events_of_one_run_give_one_row_per_step(tmp_path):
    a, b, ea, eb = two_launches_with_events(tmp_path)
    run = read_run(tmp_path)
    steps = run.df["step"].to_numpy()
    assert steps.tolist() == list(range(0, 2000, 10)) + list(range(2000, 4991, 10))  # events: the dense rows
    assert run.df["step"].is_unique
    assert (np.diff(steps) > 0).all()
    assert run.df["segment"].tolist() == [0] * 200 + [1] * 300  # launch boundaries from the text logs
    assert run.disagreements == []
    # text and events of a launch are one launch: the resume is the only boundary
    assert run.segments["file"].tolist() == [str(a.path), str(b.path)]
    assert run.segments["events_file"].tolist() == [str(ea), str(eb)]
    df = run.df.set_index("step")
    # at a step in both: the events' full-precision value, equal to the text's within its 5 decimals
    gen, _ = vae_text_values(1200)
    assert df.loc[1200, "lr"] == pytest.approx(gen["lr"], rel=1e-6)
    assert df.loc[1200, "lr"] > 0  # text prints 0.00000
    assert abs(df.loc[1200, "train/rec_loss"] - float(f"{gen['train/rec_loss']:.5f}")) <= 5e-6
    # what the events lack comes from the text, at the text's steps only
    assert df.loc[1200, "train/nll_loss"] == float(f"{gen['train/nll_loss']:.5f}")
    logged = run.logged.set_index(run.df["step"])
    assert np.isnan(df.loc[1210, "train/nll_loss"])
    assert not logged.loc[1210, "train/nll_loss"]
    assert df.loc[1200, "line"] == a.rows[12]["line"]  # a row in the text log points at its line
    # superseded: launch 1's rows from step 2000 on, once each
    assert run.superseded["step"].tolist() == list(range(2000, 3000, 10)) + [3000]
    report = {r["path"]: r for r in run.source_report}
    assert report[str(a.path)]["rows_read"] == 31
    assert report[str(a.path)]["rows_used"] == 20
    assert report[str(a.path)]["rows_duplicate"] == 20
    assert report[str(b.path)]["rows_duplicate"] == 30
    assert report[str(ea)]["rows_used"] == 200
    assert report[str(eb)]["rows_used"] == 300
    assert report[str(ea)]["used_for"].startswith("dense rows")
    assert "config" in report[str(a.path)]["used_for"]
    assert all(r["rows_disagreeing"] == 0 for r in run.source_report)
    assert run.config["trainer"]["train_num_steps"] == 10000
    assert run.total_steps_source == "config"


def test_a_planted_disagreement_is_counted_and_reported_never_averaged(tmp_path):
    a, b, ea, eb = two_launches_with_events(tmp_path, plant={500: 0.5})
    run = read_run(tmp_path)
    (dis,) = run.disagreements
    assert dis["metric"] == "train/rec_loss"
    assert dis["count"] == 1
    assert dis["text_file"] == str(a.path)
    assert dis["events_file"] == str(ea)
    (ex,) = dis["examples"]
    gen, _ = vae_text_values(500)
    assert ex["step"] == 500
    assert ex["text"] == 0.5
    assert ex["events"] == pytest.approx(gen["train/rec_loss"], rel=1e-6)
    row = run.df.set_index("step").loc[500]
    assert row["train/rec_loss"] == ex["events"]  # the events' value, not a mean of the two
    report = {r["path"]: r for r in run.source_report}
    assert report[str(a.path)]["rows_disagreeing"] == 1
    assert report[str(ea)]["rows_disagreeing"] == 1
    assert report[str(b.path)]["rows_disagreeing"] == 0
    assert len(run.df) == 500
    assert run.df["step"].is_unique


def test_source_picks_one_kind_of_file(tmp_path):
    a, b, ea, eb = two_launches_with_events(tmp_path)
    text = read_run(tmp_path, source="text")
    assert text.df["step"].tolist() == list(range(0, 5000, 100))
    assert text.sources == [str(a.path), str(b.path)]
    assert (text.df["lr"] == 0.0).all()
    events = read_run(tmp_path, source="tensorboard")
    assert events.sources == [str(ea), str(eb)]
    assert len(events.df) == 500
    assert events.config is None
    left = {r["path"]: r["used_for"] for r in events.source_report}
    assert left[str(a.path)] == "not read: --source tensorboard"
    with pytest.raises(LogFormatError, match=r"--source metrics"):
        read_run(tmp_path, source="metrics")
    with pytest.raises(LogFormatError, match="unknown log source 'json'"):
        read_run(tmp_path, source="json")


def test_workbench_metrics_and_events_agree_and_the_folder_reads_metrics_only(tmp_path):
    folder = write_workbench_folder(tmp_path / "run",
                                    [{"steps": range(0, 10)}, {"steps": range(5, 15), "rewind_to": 5}])
    t0 = 1_750_000_000.0
    events = []
    for n, steps in enumerate((range(0, 10), range(5, 15))):
        def tags(step, n=n):
            gen, disc = default_values(step, 50001)
            vals = {**gen, **{k: v for k, v in disc.items() if k != "lr"}}
            return {("Learning_Rate" if k == "lr" else k.split("/")[-1]): v for k, v in vals.items()}
        events.append(write_events(folder / f"tb{n}", steps, tags, seconds_per_step=0.01, name=str(n),
                                   start_time=datetime.fromtimestamp(t0 + 10_000.0 * n + 2)))
    # named, the event files are merged with metrics.jsonl: its float64 values win, and they agree
    run = read_run([folder / "metrics.jsonl", *events])
    assert run.df["step"].tolist() == list(range(15))
    assert run.superseded["step"].tolist() == list(range(5, 10))
    assert run.disagreements == []  # metrics.jsonl (exact) and float32 events agree
    rec = next(json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()
               if '"kind": "step"' in line and json.loads(line)["step"] == 12)
    row = run.df[run.df["step"] == 12].iloc[0]
    assert row["train/rec_loss"] == rec["train/rec_loss"]  # the float64 value, not the float32 event
    assert {r["path"]: r for r in run.source_report}[str(folder / "metrics.jsonl")]["rows_duplicate"] == 15
    # the folder alone: metrics.jsonl only, its train.log and event files left out with the reason
    run = read_run(folder)
    assert run.df["step"].tolist() == list(range(15))
    report = {r["path"]: r for r in run.source_report}
    assert report[str(folder / "train.log")]["used_for"].startswith("not read")
    assert all(report[str(e)]["used_for"].startswith("not read") for e in events)


def test_live_reader_follows_text_and_events(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    write_radiodiff_log(run_dir / "2025-03-02-09-14_.log", range(0, 501, 100), disc_start=DISC_START,
                        total_steps=10000, values=vae_text_values)
    events = write_events(run_dir, range(0, 300, 10), vae_tags, start_time=START + timedelta(seconds=20), name="x")
    reader = RunReader(run_dir)
    run = reader.update()
    assert run.df["step"].tolist() == list(range(0, 300, 10)) + [300, 400, 500]
    more = write_events(tmp_path / "elsewhere", range(300, 600, 10), vae_tags, start_time=START, name="y")
    state = reader.files[str(events)]
    read_before = state.bytes_read
    appended = more.read_bytes()[_header_len(more):]  # the same file growing: records after its header
    with open(events, "ab") as fh:
        fh.write(appended)
    run = reader.update()
    assert run.df["step"].tolist() == list(range(0, 600, 10))
    assert run.df["step"].is_unique
    assert state.bytes_read - read_before == len(appended)  # only the appended records were read
    assert json.dumps(run.source_report)


def _header_len(path) -> int:
    """Bytes of the first record (the header) of an event file."""
    (length,) = struct.unpack_from("<Q", path.read_bytes(), 0)
    return 12 + length + 4


def test_cli_analyze_source_and_json_fields(tmp_path, capsys):
    from radiodiff_lib.cli import main
    (tmp_path / "run").mkdir()
    a, b, ea, eb = two_launches_with_events(tmp_path / "run")
    out = tmp_path / "a.json"
    assert main(["analyze", str(tmp_path / "run"), "--json", str(out)]) == 0
    j = json.loads(out.read_text())
    assert j["stage"] == "vae"
    assert j["entries"] == 500
    kinds = {s["path"]: (s["kind"], s["rows_used"], s["rows_duplicate"], s["rows_disagreeing"]) for s in j["sources"]}
    assert kinds[str(ea)] == ("tensorboard", 200, 20, 0)
    assert kinds[str(a.path)] == ("radiodiff-log", 20, 20, 0)
    assert main(["analyze", str(tmp_path / "run"), "--source", "text", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["entries"] == 50
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["analyze", str(tmp_path / "run"), "--source", "csv"])


def test_launches_seconds_apart_pair_with_their_own_event_files(tmp_path):
    # a short trial and a resume 10 s later; each event file opened 1 s before its launch's first record
    t2 = START + timedelta(seconds=10)
    write_radiodiff_log(tmp_path / "a.log", range(0, 301, 100), disc_start=DISC_START, total_steps=10000,
                        values=vae_text_values)
    write_radiodiff_log(tmp_path / "b.log", range(200, 501, 100), disc_start=DISC_START, total_steps=10000,
                        values=vae_text_values, start_time=t2)
    ea = write_events(tmp_path, range(0, 301, 10), vae_tags, start_time=START - timedelta(seconds=1),
                      seconds_per_step=0.001, name="a")
    eb = write_events(tmp_path, range(200, 501, 10), vae_tags, start_time=t2 - timedelta(seconds=1),
                      seconds_per_step=0.001, name="b")
    run = read_run(tmp_path)
    assert run.segments["events_file"].tolist() == [str(ea), str(eb)]
    assert sorted(run.df["segment"].unique().tolist()) == [0, 1]
    assert run.df["step"].is_unique
    assert run.df.loc[run.df["step"] >= 200, "segment"].eq(1).all()
