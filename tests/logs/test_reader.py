"""RunReader: update() reads only appended bytes, merges lines split across reads, sees new files, reads a
replaced file again; a run's length is decided once (``resolve_total_steps``)."""
from __future__ import annotations

import os
from datetime import datetime

import pandas as pd
import pytest

from radiodiff_lib.analysis import analyze
from radiodiff_lib.errors import LogFormatError
from radiodiff_lib.logs import RunReader, read_run, resolve_total_steps
from tests.helpers.logfactory import default_values, step_line, write_radiodiff_log

T = datetime(2025, 3, 2, 9, 0, 0)


def _append(path, text: str) -> None:
    with open(path, "a") as fh:
        fh.write(text)


def test_update_reads_only_appended_lines(tmp_path):
    path = tmp_path / "2025-03-02-09-00_.log"
    spec = write_radiodiff_log(path, range(0, 1000, 100), start_time=T)
    reader = RunReader(path)
    run = reader.update()
    state = reader.files[str(path)]
    assert run.df["step"].tolist() == spec.steps
    assert state.offset == path.stat().st_size
    assert state.lines == len(spec.lines)
    parser = state.parser
    before_lines, before_bytes = parser.n_lines, state.bytes_read
    gen, disc = default_values(1000, 50001)
    new = step_line(1000, 150000, gen, T) + "\n" + step_line(1000, 150000, disc, T) + "\n"
    _append(path, new)
    run = reader.update()
    assert parser.n_lines - before_lines == 2  # only the two new lines were parsed
    assert state.bytes_read - before_bytes == len(new.encode())
    assert run.df["step"].tolist() == spec.steps + [1000]
    assert run.df["line"].iloc[-1] == len(spec.lines) + 1
    # nothing appended: nothing read, same rows
    run = reader.update()
    assert state.bytes_read - before_bytes == len(new.encode())
    assert len(run.df) == len(spec.steps) + 1


def test_partial_line_waits_for_its_newline_and_split_rows_merge(tmp_path):
    path = tmp_path / "a.log"
    gen, disc = default_values(100, 0)
    gen_line, disc_line = step_line(100, 1000, gen, T), step_line(100, 1000, disc, T)
    path.write_text(step_line(0, 1000, gen, T) + "\n" + gen_line[:40])
    reader = RunReader(path)
    run = reader.update()
    assert run.df["step"].tolist() == [0]
    assert run.skipped == []  # the partial line is not consumed
    _append(path, gen_line[40:] + "\n")
    run = reader.update()
    assert run.df["step"].tolist() == [0, 100]
    assert "train/disc_loss" not in run.df.columns
    _append(path, disc_line + "\n")  # the discriminator line of step 100 arrives in a later read
    run = reader.update()
    assert run.df["step"].tolist() == [0, 100]
    assert run.df.loc[1, "train/disc_loss"] == float("%.5f" % disc["train/disc_loss"])
    assert run.df.loc[1, "train/total_loss"] == float("%.5f" % gen["train/total_loss"])
    assert run.logged.loc[1, "train/disc_loss"]
    assert run.superseded.empty
    assert run.df.loc[1, "line"] == 2
    # read_run on the same file gives the same rows
    assert read_run(path).df.drop(columns="file").equals(run.df.drop(columns="file"))


def test_update_sees_a_new_file_of_the_run(tmp_path):
    write_radiodiff_log(tmp_path / "2025-03-02-09-00_.log", range(0, 800, 100), start_time=T)
    reader = RunReader(tmp_path)
    run = reader.update()
    assert run.segments["segment"].tolist() == [0]
    write_radiodiff_log(tmp_path / "2025-03-02-10-00_.log", range(500, 900, 100),
                        start_time=datetime(2025, 3, 2, 10, 0, 0))
    run = reader.update()
    assert run.segments["segment"].tolist() == [0, 1]
    assert run.df["step"].tolist() == list(range(0, 900, 100))
    assert run.superseded["step"].tolist() == [500, 600, 700]
    assert (run.df[run.df.step >= 500]["segment"] == 1).all()
    # rows appended to the newest file extend it
    gen, _ = default_values(900, 50001)
    _append(tmp_path / "2025-03-02-10-00_.log", step_line(900, 150000, gen, datetime(2025, 3, 2, 10, 5)) + "\n")
    run = reader.update()
    assert run.df["step"].tolist()[-2:] == [800, 900]


def test_rows_arriving_for_an_older_segment_restitch(tmp_path):
    old = tmp_path / "2025-03-02-09-00_.log"
    write_radiodiff_log(old, range(0, 300, 100), start_time=T)
    write_radiodiff_log(tmp_path / "2025-03-02-10-00_.log", range(200, 500, 100),
                        start_time=datetime(2025, 3, 2, 10, 0, 0))
    reader = RunReader(tmp_path)
    run = reader.update()
    assert run.superseded["step"].tolist() == [200]
    gen, _ = default_values(300, 50001)
    _append(old, step_line(300, 150000, gen, datetime(2025, 3, 2, 9, 30)) + "\n")  # late write to the old file
    run = reader.update()
    assert run.df["step"].tolist() == [0, 100, 200, 300, 400]
    assert run.superseded["step"].tolist() == [200, 300]
    assert (run.df["segment"] == [0, 0, 1, 1, 1]).all()


def test_a_rewritten_file_is_read_again_from_its_start(tmp_path):
    path = tmp_path / "train.log"
    write_radiodiff_log(path, range(0, 1000, 100), start_time=T)
    reader = RunReader(path)
    assert len(reader.update().df) == 10
    spec = write_radiodiff_log(path, range(0, 300, 100), start_time=datetime(2025, 3, 2, 12, 0, 0))
    run = reader.update()
    assert run.df["step"].tolist() == spec.steps
    assert run.superseded.empty
    assert any("read again from its start" in n for n in run.notes)


def _other_run(path, first_step: int = 0):
    """Another, longer log at ``path``: other values (rec_loss 0.5), other times."""
    def values(step):
        gen, disc = default_values(step, 50001)
        return {**gen, "train/rec_loss": 0.5}, disc
    return write_radiodiff_log(path, range(first_step, 2000, 100), start_time=datetime(2025, 3, 2, 12, 0, 0),
                               values=values)


def test_a_file_replaced_under_its_name_is_read_again_from_its_start(tmp_path):
    path = tmp_path / "2025-03-02-09-00_.log"
    write_radiodiff_log(path, range(0, 500, 100), start_time=T)
    reader = RunReader(path)
    assert reader.update().df["step"].tolist() == list(range(0, 500, 100))
    spec = _other_run(tmp_path / "rotated.log")
    os.replace(tmp_path / "rotated.log", path)  # a rotated log: another, longer file under the same name
    run = reader.update()
    fresh = read_run(path)
    pd.testing.assert_frame_equal(run.df, fresh.df)
    assert run.df["step"].tolist() == spec.steps
    assert (run.df["train/rec_loss"] == 0.5).all()
    assert [n for n in run.notes if "replaced" in n] == [f"{path}: another file now has its name (replaced); "
                                                         "read again from its start"]


def test_a_file_rewritten_in_place_and_longer_is_read_again_from_its_start(tmp_path):
    path = tmp_path / "2025-03-02-09-00_.log"
    write_radiodiff_log(path, range(0, 500, 100), start_time=T)
    reader = RunReader(path)
    reader.update()
    inode = path.stat().st_ino
    spec = _other_run(path)  # truncated and written again: the same inode, other first bytes
    assert path.stat().st_ino == inode
    run = reader.update()
    pd.testing.assert_frame_equal(run.df, read_run(path).df)
    assert run.df["step"].tolist() == spec.steps
    assert any("its first bytes changed" in n for n in run.notes)


def test_appending_is_not_mistaken_for_a_rewrite(tmp_path):
    path = tmp_path / "2025-03-02-09-00_.log"
    write_radiodiff_log(path, range(0, 30, 1), start_time=T)  # more than the 4 KB fingerprinted
    reader = RunReader(path)
    reader.update()
    gen, _ = default_values(30, 50001)
    _append(path, step_line(30, 150000, gen, T) + "\n")
    run = reader.update()
    assert run.df["step"].tolist() == list(range(31))
    assert run.notes == []


def test_total_steps_order_is_parameter_then_config_then_step_lines():
    cfg = {"trainer": {"train_num_steps": 5000}}
    assert resolve_total_steps(9000, cfg, 7000) == (9000, "parameter")
    assert resolve_total_steps(None, cfg, 7000) == (5000, "config")
    assert resolve_total_steps(None, None, 7000) == (7000, "step lines")
    assert resolve_total_steps(None, None, None) == (None, None)


def test_a_config_length_must_be_a_positive_whole_number_of_steps():
    assert resolve_total_steps(None, {"trainer": {"train_num_steps": "1.5e5"}}, None) == (150000, "config")
    for bad in (-5, 0, 10.5, "many", float("inf"), True):
        assert resolve_total_steps(None, {"trainer": {"train_num_steps": bad}}, 7000) == (7000, "step lines"), bad


def test_a_length_parameter_must_be_a_positive_number_of_steps(tmp_path):
    path = tmp_path / "train_vae.log"
    write_radiodiff_log(path, range(0, 500, 100))
    run = read_run(path)
    for bad in (0, -5):
        with pytest.raises(LogFormatError, match=f"total_steps must be a positive number of steps, got {bad}"):
            resolve_total_steps(bad, {"trainer": {"train_num_steps": 5000}}, 7000)
        with pytest.raises(LogFormatError, match="total_steps must be a positive"):
            read_run(path, total_steps=bad)
        with pytest.raises(LogFormatError, match="total_steps must be a positive"):
            analyze(run, total_steps=bad)


def test_the_readers_parameter_is_the_analysis_length(tmp_path):
    path = tmp_path / "train_vae.log"
    write_radiodiff_log(path, range(0, 500, 100), total_steps=150000)  # config and step lines say 150000
    run = read_run(path, total_steps=9000)
    assert (run.total_steps, run.total_steps_source) == (9000, "parameter")
    a = analyze(run)
    assert (a.total_steps, a.total_steps_source) == (9000, "parameter")
    assert (analyze(run, total_steps=8000).total_steps, analyze(read_run(path)).total_steps) == (8000, 150000)
