"""Reading one log file: only regular files are read (a named pipe never blocks the reader), a text
log in bounded chunks (a line longer than a chunk is counted, never held), and junk lines all
counted in a bounded number of records (issue 22 items 4 and 10)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime

import pandas as pd
import pytest

import radiodiff_lib.logs.file_reader as file_reader
from radiodiff_lib.errors import LogFormatError
from radiodiff_lib.logs import RunReader, read_run
from radiodiff_lib.logs.events import KEEP_PER_REASON
from tests.helpers.bounded import MAX_MB, MAX_SECONDS, REPO, measure_cli
from tests.helpers.ldmfactory import write_ldm_log
from tests.helpers.logfactory import write_radiodiff_log

T = datetime(2025, 3, 2, 9, 0, 0)


def test_a_named_pipe_given_as_a_log_is_refused_without_waiting(tmp_path):
    fifo = tmp_path / "2025-03-02-09-00_.log"
    os.mkfifo(fifo)
    with pytest.raises(LogFormatError, match=r"_.log is a named pipe \(FIFO\), not a regular file: pass a RadioDiff"):
        read_run(fifo)


def test_a_device_given_as_a_log_is_refused():
    with pytest.raises(LogFormatError, match=r"^/dev/zero is a character device, not a regular file"):
        read_run("/dev/zero")


def test_a_folder_with_a_log_name_says_it_is_a_folder(tmp_path):
    (tmp_path / "run.log").mkdir()
    with pytest.raises(LogFormatError, match=r"no training logs found in .*run.log: .*run.log is a folder, not a log file"):
        read_run(tmp_path / "run.log")


def test_a_pipe_in_a_results_folder_is_left_out_with_the_reason(tmp_path):
    spec = write_radiodiff_log(tmp_path / "2025-03-02-09-14_.log", range(0, 300, 100))
    os.mkfifo(tmp_path / "2025-03-02-10-00_.log")
    run = read_run(tmp_path)
    assert run.df["step"].tolist() == spec.steps
    (left,) = [s for s in run.source_report if s["path"].endswith("10-00_.log")]
    assert left["used_for"] == "not read: a named pipe (FIFO), not a regular file"


@pytest.mark.parametrize("kind,words", [("fifo", "is a named pipe (FIFO), not a regular file"),
                                        ("device", "is a character device, not a regular file"),
                                        ("folder", "is a folder, not a log file")])
def test_the_cli_says_it_in_one_line(tmp_path, kind, words):
    path = {"fifo": tmp_path / "a.log", "device": "/dev/zero", "folder": tmp_path / "b.log"}[kind]
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    done = subprocess.run([sys.executable, "-m", "radiodiff_lib.cli", "analyze", str(path)], capture_output=True,
                          text=True, timeout=MAX_SECONDS, cwd=REPO)
    assert done.returncode != 0
    assert done.stderr.count("\n") == 1, done.stderr
    assert words in done.stderr
    assert "Traceback" not in done.stderr


def _with_long_line(path, long: str, yaml_dump: bool = False) -> list[int]:
    """A log with a line of ``long`` between its step rows (as its 6th line, or inside the YAML
    dump); returns the steps."""
    if yaml_dump:
        rows = write_ldm_log(path, range(0, 1001, 100))
        lines = path.read_text().split("\n")
        lines.insert(3, "  " + long)  # inside the YAML config dump
        path.write_text("\n".join(lines))
        return [r["step"] for r in rows]
    spec = write_radiodiff_log(path, range(0, 1000, 100))
    lines = path.read_text().split("\n")
    lines.insert(5, long)
    path.write_text("\n".join(lines))
    return spec.steps


def test_a_line_longer_than_a_chunk_is_counted_never_held(tmp_path, monkeypatch):
    monkeypatch.setattr(file_reader, "READ_CHUNK", 4096)
    path = tmp_path / "2025-03-02-09-14_.log"
    steps = _with_long_line(path, "x" * 20_000)
    run = read_run(path)
    assert run.df["step"].tolist() == steps
    assert run.skipped_counts() == {"line too long": 1}
    assert run.skipped[0].line == 6
    assert run.skipped[0].text == "x" * 500
    last = path.read_text().split("\n").index(next(ln for ln in path.read_text().split("\n") if " 900/" in ln)) + 1
    assert run.df["line"].iloc[-1] == last  # the long line counts as one line


def test_a_line_too_long_inside_a_yaml_dump_makes_the_config_too_large(tmp_path, monkeypatch):
    monkeypatch.setattr(file_reader, "READ_CHUNK", 4096)
    path = tmp_path / "2025-10-15-13-07_.log"
    steps = _with_long_line(path, "big: " + "y" * 20_000, yaml_dump=True)
    run = read_run(path)
    assert run.df["step"].tolist() == steps
    assert run.config is None
    assert set(run.skipped_counts()) == {"config too large"}


def test_a_long_line_written_across_updates_is_counted_once(tmp_path, monkeypatch):
    monkeypatch.setattr(file_reader, "READ_CHUNK", 4096)
    whole = tmp_path / "whole" / "2025-03-02-09-14_.log"
    whole.parent.mkdir()
    _with_long_line(whole, "x" * 20_000)
    data = whole.read_bytes()
    live = tmp_path / "2025-03-02-09-14_.log"
    live.write_bytes(b"")
    reader = RunReader(live)
    for cut in range(0, len(data), 3000):
        with open(live, "ab") as fh:
            fh.write(data[cut:cut + 3000])
        run = reader.update(final=cut + 3000 >= len(data))
    fresh = read_run(whole)
    pd.testing.assert_frame_equal(run.df.drop(columns="file"), fresh.df.drop(columns="file"))
    assert run.skipped_counts() == {"line too long": 1}


def test_junk_lines_are_all_counted_in_a_bounded_number_of_records(tmp_path):
    path = tmp_path / "2025-03-02-09-14_.log"
    spec = write_radiodiff_log(path, range(0, 1000, 100))
    with open(path, "a") as fh:
        fh.write("\n" * 5000 + "junk\n" * 3000)
    run = read_run(path)
    assert run.df["step"].tolist() == spec.steps
    assert run.skipped_counts() == {"blank": 5000, "foreign": 3000}
    assert run.n_skipped == 8000
    assert len(run.skipped) == 2 * KEEP_PER_REASON + 2
    bulk = {(s.reason, s.count, s.line) for s in run.skipped if s.count > 1}
    first_blank = len(spec.lines) + 1
    assert bulk == {("blank", 5000 - KEEP_PER_REASON, first_blank + KEEP_PER_REASON),
                    ("foreign", 3000 - KEEP_PER_REASON, first_blank + 5000 + KEEP_PER_REASON)}


def test_millions_of_junk_lines_take_bounded_memory(tmp_path):
    path = tmp_path / "2025-03-02-09-14_.log"
    spec = write_radiodiff_log(path, range(0, 1000, 100))
    with open(path, "a") as fh:
        fh.write("\n" * 3_000_000 + "junk\n" * 500_000)
    out = tmp_path / "analysis.json"
    got = measure_cli("analyze", path, "--json", out)
    assert got.rc == 0, got.stderr
    assert got.seconds < MAX_SECONDS
    assert got.peak_mb < MAX_MB
    analysis = json.loads(out.read_text())
    assert analysis["latest_step"] == spec.steps[-1]
    assert analysis["skipped"]["reasons"] == {"blank": 3_000_000, "foreign": 500_000}
