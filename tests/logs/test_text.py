"""RadioDiff text logs (every fact of train_vae.py's logging), stitching, errors; one bad line never loses a
whole log (a step or total above int64 is one skipped line, issue 10 item 4); random garbage between step
lines is counted and every row recovered (property); the text log fuzzed (``tests.helpers.fuzz``)."""
from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from radiodiff_lib.analysis import analyze
from radiodiff_lib.errors import LogFormatError
from radiodiff_lib.logs import read_run
from radiodiff_lib.vocabulary import LOG_METRICS, STEP_MARK as MARK
from tests.helpers.fuzz import Case, DEEP_JSON, FAST, HUGE, SLOW, T0, check_lines, damage, read_or_none, values
from tests.helpers.logfactory import (
    ABOVE_INT64, DISC_KEYS, GEN_KEYS, START, asctime, default_values, radiodiff_config, step_line,
    write_radiodiff_log,
)

START_T = datetime(2025, 3, 2, 9, 0, 0)
TRACEBACK = ["Traceback (most recent call last):", '  File "train_vae.py", line 412, in train',
             "    loss.backward()", "RuntimeError: CUDA out of memory."]
WARNING = "/usr/lib/python3/site-packages/torch/optim/lr_scheduler.py:139: UserWarning: Detected call"


def assert_rows(run, spec) -> None:
    """Every expected row is in run.df with exactly the printed values (nan where nan was printed)."""
    df = run.df.set_index("step")
    assert list(run.df["step"]) == spec.steps
    for row in spec.rows:
        got = df.loc[row["step"]]
        assert got["line"] == row["line"]
        assert got["time"] == pd.Timestamp(row["time"])
        for key, value in row.items():
            if key in ("step", "line", "time"):
                continue
            if math.isnan(value):
                assert math.isnan(got[key]), key
            else:
                assert got[key] == value, (row["step"], key, got[key], value)


def special_values(step: int):
    gen, disc = default_values(step, disc_start=300)
    if step == 100:
        gen["train/kl_loss"] = 180257.59375  # huge
        gen["train/g_loss"] = -2292.09155  # negative
    if step == 200:
        gen["train/nll_loss"] = float("nan")
        gen["train/total_loss"] = float("inf")
        disc["train/logits_fake"] = float("-inf")
    return gen, disc


def test_radiodiff_log_every_fact(tmp_path):
    path = tmp_path / "2025-03-02-09-14_.log"
    spec = write_radiodiff_log(
        path, range(0, 600, 100), disc_start=300, values=special_values,
        extra_lines={1: ["", WARNING], 3: TRACEBACK, 5: ["  "]}, cut_last=60,
        raw_tail=b"", total_steps=1000)
    # a line with bytes that are not UTF-8, then the cut-off line stays last
    raw = path.read_bytes()
    head, _, tail = raw.rpartition(b"\n")
    path.write_bytes(head + b"\nweird \xff\xfe bytes here\n" + tail)
    run = read_run(path)
    assert_rows(run, spec)  # the factory leaves the cut-off discriminator line of step 500 out
    assert run.config == spec.config
    assert run.total_steps == 1000
    # generator and discriminator lines of a step are one row; lr printed 0.00000 reads as 0.0
    assert len(run.df) == 6
    assert (run.df["lr"] == 0.0).all()
    assert run.df.loc[run.df.step == 400, "train/disc_loss"].item() == 0.9996
    assert run.df.loc[run.df.step == 100, "train/g_loss"].item() == -2292.09155
    assert run.df.loc[run.df.step == 400, "train/total_loss"].item() < 0  # adversarial term dominates
    # the discriminator line of step 500 was cut off: its columns are not logged there
    assert not run.logged.loc[run.df.step == 500, "train/disc_loss"].item()
    assert run.logged.loc[run.df.step == 200, "train/nll_loss"].item()  # a logged nan is logged
    counts = run.skipped_counts()
    assert counts == {"blank": 2, "warning": 1, "traceback": 4, "non-utf8 bytes": 1, "cut-off line": 1}
    n_lines = len(spec.lines) + 1
    by_line = {s.line: s.reason for s in run.skipped}
    assert by_line[n_lines] == "cut-off line"
    assert by_line[n_lines - 1] == "non-utf8 bytes"
    assert sorted(by_line)[:-2] == spec.foreign
    assert all(s.file == str(path) for s in run.skipped)
    assert list(run.segments["kind"]) == ["radiodiff-log"]
    assert run.segments.loc[0, "start_time"] == pd.Timestamp("2025-03-02 09:14:05.311")


def test_generator_only_log_has_no_discriminator_columns(tmp_path):
    spec = write_radiodiff_log(tmp_path / "a.log", range(0, 500, 100), disc_start=200, gen_only=True)
    run = read_run(tmp_path / "a.log")
    assert_rows(run, spec)
    assert not set(DISC_KEYS + ["lr_disc"]) & set(run.df.columns)
    assert run.metric_names() == GEN_KEYS + ["lr"]
    assert [c for c in LOG_METRICS if c in run.df.columns] == GEN_KEYS + ["lr"]


def test_our_format_8g_and_scientific_values(tmp_path):
    spec = write_radiodiff_log(tmp_path / "a.log", [0, 100], fmt="{:.8g}",
                               values=lambda s: ({"train/total_loss": 1.2345678e+03 + s, "lr": 5e-06},
                                                 {"train/disc_loss": 1e-12, "lr": 5e-06}))
    run = read_run(tmp_path / "a.log")
    assert_rows(run, spec)
    assert run.df["lr"].tolist() == [5e-06, 5e-06]
    assert run.df["train/disc_loss"].tolist() == [1e-12, 1e-12]


def test_lines_between_generator_and_discriminator_lines_and_duplicates(tmp_path):
    t = datetime(2025, 3, 2, 9, 0, 0)
    gen, disc = default_values(100, disc_start=0)
    lines = [step_line(100, 1000, gen, t), "some warning: careful", step_line(100, 1000, disc, t),
             step_line(100, 1000, disc, t),  # a logger with two handlers repeats lines
             step_line(200, 1000, gen, t)]
    (tmp_path / "a.log").write_text("\n".join(lines) + "\n")
    run = read_run(tmp_path / "a.log")
    assert run.df["step"].tolist() == [100, 200]
    assert run.df.loc[0, "train/disc_loss"] == float("%.5f" % disc["train/disc_loss"])
    assert run.skipped_counts() == {"warning": 1, "duplicate line": 1}


def test_config_is_read_safely_never_evaluated(tmp_path):
    marker = tmp_path / "evaluated"
    line = (f"{asctime(datetime(2025, 1, 1))} {{'trainer': {{'train_num_steps': 10, 'results_folder': "
            f"PosixPath('/x'), 'hack': __import__('pathlib').Path('{marker}').touch(), 'big': inf, "
            f"'neg': -5e-06}}}}")
    gen, _ = default_values(0, 5)
    (tmp_path / "a.log").write_text(line + "\n" + step_line(0, 10, gen, datetime(2025, 1, 1)) + "\n")
    run = read_run(tmp_path / "a.log")
    assert not marker.exists()
    assert run.config["trainer"]["train_num_steps"] == 10
    assert run.config["trainer"]["results_folder"] == "PosixPath('/x')"
    assert run.config["trainer"]["big"] == float("inf")
    assert run.config["trainer"]["neg"] == -5e-06
    assert run.total_steps == 10


def test_resumed_run_in_two_files_later_wins(tmp_path):
    first = write_radiodiff_log(tmp_path / "2025-03-02-09-14_.log", range(0, 3800, 100),
                                start_time=datetime(2025, 3, 2, 9, 14, 5))
    # resumed from model-7.pt (save every 500): re-logs 3500..3700 with other values
    second = write_radiodiff_log(
        tmp_path / "2025-03-02-11-00_.log", range(3500, 5100, 100), start_time=datetime(2025, 3, 2, 11, 0, 0),
        values=lambda s: ({**default_values(s, 50001)[0], "train/rec_loss": 0.5}, default_values(s, 50001)[1]))
    for paths in ([tmp_path], [second.path, first.path]):
        run = read_run(paths)
        assert run.df["step"].tolist() == list(range(0, 5100, 100))
        assert run.df["step"].is_unique
        later = run.df[run.df.step >= 3500]
        assert (later["train/rec_loss"] == 0.5).all()
        assert (later["segment"] == 1).all()
        assert (later["file"] == str(second.path)).all()
        assert (run.df[run.df.step < 3500]["segment"] == 0).all()
        assert run.superseded["step"].tolist() == [3500, 3600, 3700]
        assert (run.superseded["file"] == str(first.path)).all()
        assert (run.superseded["train/rec_loss"] != 0.5).all()
        seg = run.segments
        assert seg["segment"].tolist() == [0, 1]
        assert seg["first_step"].tolist() == [0, 3500]
        assert seg["last_step"].tolist() == [3700, 5000]
        assert seg["n_rows"].tolist() == [38, 16]
        assert seg["file"].tolist() == [str(first.path), str(second.path)]


def test_step_going_back_inside_one_file_starts_a_segment(tmp_path):
    t = datetime(2025, 3, 2, 9, 0, 0)
    lines = [step_line(s, 1000, default_values(s, 5000)[0], t) for s in (0, 100, 200, 100, 200, 300)]
    (tmp_path / "a.log").write_text("\n".join(lines) + "\n")
    run = read_run(tmp_path / "a.log")
    assert run.df["step"].tolist() == [0, 100, 200, 300]
    assert run.df["segment"].tolist() == [0, 1, 1, 1]
    assert run.superseded["step"].tolist() == [100, 200]
    assert run.df["line"].tolist() == [1, 4, 5, 6]


def test_empty_and_no_training_lines_are_errors_naming_the_file(tmp_path):
    (tmp_path / "empty.log").write_text("")
    with pytest.raises(LogFormatError, match="empty.log is empty"):
        read_run(tmp_path / "empty.log")
    (tmp_path / "crash.log").write_text(f"{asctime(START_T)} {{'a': 1}}\n" + "\n".join(TRACEBACK) + "\n")
    with pytest.raises(LogFormatError, match=r"crash.log has no training lines \(5 lines: 4 traceback\)"):
        read_run(tmp_path / "crash.log")
    with pytest.raises(LogFormatError, match="no such log file or folder: .*missing.log"):
        read_run(tmp_path / "missing.log")
    (tmp_path / "nothing_here").mkdir()
    with pytest.raises(LogFormatError, match="no training logs found in .*nothing_here"):
        read_run(tmp_path / "nothing_here")


def test_folder_with_an_empty_extra_file_records_it(tmp_path):
    spec = write_radiodiff_log(tmp_path / "2025-03-02-09-14_.log", range(0, 300, 100))
    (tmp_path / "2025-03-02-10-00_.log").write_text("")
    run = read_run(tmp_path)
    assert run.df["step"].tolist() == spec.steps
    assert run.skipped_counts() == {"empty file": 1}
    assert run.skipped[0].line == 0
    assert run.skipped[0].file.endswith("2025-03-02-10-00_.log")
    with pytest.raises(LogFormatError, match="10-00_.log is empty"):
        read_run(tmp_path, strict=True)


def test_huge_values_and_radiodiff_config(tmp_path):
    cfg = radiodiff_config(disc_start=100)
    spec = write_radiodiff_log(tmp_path / "a.log", [0, 100], config=cfg,
                               values=lambda s: ({"train/total_loss": 1.5e12 * (s + 1), "lr": 5e-6}, None))
    run = read_run(tmp_path / "a.log", total_steps=777)
    assert run.df["train/total_loss"].tolist() == [1.5e12, 1.515e14]
    assert run.total_steps == 777
    assert run.config["model"]["lossconfig"]["disc_start"] == 100
    assert np.issubdtype(run.df["time"].dtype, np.datetime64)
    assert spec.steps == [0, 100]


def test_a_file_named_twice_is_read_once(tmp_path):
    spec = write_radiodiff_log(tmp_path / "2025-03-02-09-14_.log", [0, 100])
    run = read_run([tmp_path, spec.path, str(spec.path)])
    assert run.df["step"].tolist() == [0, 100]
    assert run.superseded.empty
    assert len(run.sources) == 1


# ---- bulk pass (text_bulk) vs. the line-by-line pass: same Run for any input ----------------------
def _variants(rng, step: int, when: datetime) -> list[str]:
    """Lines for one step: mostly regular, sometimes one of the odd forms the bulk pass must refuse."""
    stamp = asctime(when) + " "
    head = f"{step}/100000"
    gen = "".join(f"{k}: {rng.choice(['{:.5f}', '{:.8g}', '{!r}']).format(rng.uniform(-1e4, 1e4))}, "
                  for k in GEN_KEYS + ["lr"])
    disc = "".join(f"{k}: {rng.uniform(-2, 2):.5f}, " for k in DISC_KEYS + ["lr"])
    odd = rng.random()
    if odd < 0.85:
        lines = [stamp + "[Train Step] " + head + ": " + gen]
        if rng.random() < 0.7:
            later = asctime(when + pd.Timedelta(milliseconds=rng.randrange(3))) + " "
            lines.append(later + "[Train Step] " + head + ": " + disc)
        return lines
    return [rng.choice([
        stamp + "[Train Step] " + head + ", " + gen,  # ", " before the first ": "
        stamp + "[Train Step] " + head + ": " + gen.replace(", train/logvar", ": train/logvar", 1),  # lax separator
        stamp + "[Train Step] " + head + ": " + gen[:-2],  # no trailing ", "
        stamp + "[Train Step] " + head + ": " + gen.replace("lr: ", "lr: ١", 1),  # non-ASCII digit: float() reads it
        stamp + "[Train Step] " + head + ": " + gen.replace("train/logvar", "train/logvar2", 1),  # other key
        stamp + "[Train Step] " + head + ": " + gen.replace("lr: ", "lr: x", 1),  # not a number
        stamp + "[Train Step] " + head + ": " + gen + stamp + "[Train Step] " + head + ": " + disc,  # two in one
        "2025-02-30 09:00:00,000 [Train Step] " + head + ": " + gen,  # no such day
        "2025-03-02 24:00:00,000 [Train Step] " + head + ": " + gen,  # no such hour
        "2025-03-02T09:00:00,000 [Train Step] " + head + ": " + gen,  # not logging's asctime
        "[Train Step] " + head + ": " + gen,  # no prefix
        stamp + "[Train Step] x" + head + ": " + gen,  # step not a number
        stamp + f"[Train Step] {step}: " + gen,  # no total
        stamp + f"[Train Step] {step}/100000/7: " + gen,  # two "/"
        WARNING, "", "Epoch 3: 100%|#####| 10/10",
        stamp + repr(radiodiff_config()),  # a new launch logged into the same file
    ])]


@pytest.mark.parametrize("seed", range(24))
def test_bulk_pass_reads_exactly_what_the_line_pass_reads(tmp_path, monkeypatch, seed):
    import random

    import radiodiff_lib.logs.text as parser

    rng = random.Random(seed)
    lines = [asctime(START_T) + " " + repr(radiodiff_config())]
    step, when = 0, START_T
    for _ in range(rng.randrange(50, 400)):
        step = step + 100 if rng.random() > 0.03 else max(0, step - 300)  # sometimes a restart
        when += pd.Timedelta(seconds=30)
        lines += _variants(rng, step, when)
        if rng.random() < 0.02:
            lines.append(lines[-1])  # a duplicate
    path = tmp_path / "2025-03-02-09-00_.log"
    path.write_bytes(("\n".join(lines) + ("" if seed % 3 else "\n")).encode() + (b"\xff\n" if seed % 4 == 1 else b""))

    def read(bulk_min: int, piece_chars: int, chunks: int):
        monkeypatch.setattr(parser, "BULK_MIN", bulk_min)
        monkeypatch.setattr(parser, "PIECE_CHARS", piece_chars)
        if chunks == 1:
            return read_run(path)
        from radiodiff_lib.logs import RunReader  # follow the file while it is written, in pieces
        data = path.read_bytes()
        live = tmp_path / f"live{bulk_min}" / path.name  # (the name's time orders segments without one)
        live.parent.mkdir()
        live.write_bytes(b"")
        reader = RunReader(live)
        cuts = sorted(rng.sample(range(1, len(data)), chunks - 1)) + [len(data)]
        start = 0
        for cut in cuts:
            with open(live, "ab") as fh:
                fh.write(data[start:cut])
            start = cut
            run = reader.update(final=cut == len(data))
        return run

    expected = read(10**9, 10**12, 1)
    for got in (read(1, 10**12, 1), read(8, 700, 1), read(2, 5000, 7)):
        for name in ("df", "superseded", "segments"):
            pd.testing.assert_frame_equal(getattr(got, name).drop(columns="file").reset_index(drop=True),
                                          getattr(expected, name).drop(columns="file").reset_index(drop=True))
        pd.testing.assert_frame_equal(got.logged, expected.logged)
        assert sorted((s.line, s.reason, s.text) for s in got.skipped) == sorted(
            (s.line, s.reason, s.text) for s in expected.skipped)  # (non-UTF-8 lines come first per piece)
        assert got.config == expected.config
        assert got.total_steps == expected.total_steps


def test_regular_log_goes_through_the_bulk_pass(tmp_path, monkeypatch):
    """Speed guard: in a regular log only the config line is read line by line."""
    import radiodiff_lib.logs.text as parser
    from radiodiff_lib.bench.parse import write_log

    path = tmp_path / "2025-03-02-09-14_.log"
    n = write_log(path, 3000)
    slow: list[int] = []
    orig = parser.TextLogParser.read_lines
    monkeypatch.setattr(parser.TextLogParser, "read_lines",
                        lambda self, lines, first, cut: slow.append(len(lines)) or orig(self, lines, first, cut))
    monkeypatch.setattr(parser, "PIECE_CHARS", 200_000)  # several pieces, rows cut between them
    run = read_run(path)
    assert len(run.df) == (n - 1) // 2
    assert not run.skipped
    assert slow[0] == 1
    assert sum(slow) <= 1 + len(slow)  # the config line, one line at some piece ends


def test_block_the_bulk_pass_refuses_is_tried_once(tmp_path, monkeypatch):
    """Speed guard: a log with every line written twice (a logger with two handlers) has no irregular
    line to cut its block at, so after the bulk pass refuses it the block goes line by line at once
    (trying the same block again would convert it in bulk a second time, for nothing)."""
    import radiodiff_lib.logs.text as parser
    from radiodiff_lib.bench.parse import write_log

    path = tmp_path / "2025-03-02-09-14_.log"
    write_log(path, 3000)
    config, *steps = path.read_text().splitlines()
    path.write_text("\n".join([config] + [line for line in steps for _ in range(2)]) + "\n")
    tried: list[tuple[int, int]] = []
    orig = parser.read_block
    monkeypatch.setattr(parser, "read_block", lambda lines, lo, hi, *rest: tried.append((lo, hi))
                        or orig(lines, lo, hi, *rest))
    run = read_run(path)
    assert len(run.df) == len(steps) // 2
    assert run.skipped_counts() == {"duplicate line": len(steps)}
    assert tried == [(1, 1 + 2 * len(steps))]


def test_bulk_pass_refuses_a_doubled_log_before_converting_it(tmp_path, monkeypatch):
    """Speed guard: a log with every line written twice is refused by the bulk pass on its sampled
    lines, before any value is converted (the line pass reads it and counts the duplicates)."""
    import radiodiff_lib.logs.text_bulk as bulk
    from radiodiff_lib.bench.parse import write_log

    path = tmp_path / "2025-03-02-09-14_.log"
    write_log(path, 3000)
    config, *steps = path.read_text().splitlines()
    path.write_text("\n".join([config] + [line for line in steps for _ in range(2)]) + "\n")
    converted: list[int] = []
    orig = bulk.convert
    monkeypatch.setattr(bulk, "convert", lambda lines, keys: converted.append(len(lines)) or orig(lines, keys))
    run = read_run(path)
    assert len(run.df) == len(steps) // 2
    assert run.skipped_counts() == {"duplicate line": len(steps)}
    assert converted == []


@pytest.mark.parametrize("const", ["0.00000", "-0.00000", "nan", "-inf", "1e-05", "5e-06", " 7", "1_0"])
def test_bulk_pass_reads_constant_columns_as_the_line_pass(tmp_path, monkeypatch, const):
    """A column printing one token throughout is converted once in bulk: same values, same sign."""
    import radiodiff_lib.logs.text as parser

    lines = [asctime(START_T) + " " + repr(radiodiff_config())]
    for k in range(600):
        stamp = asctime(START_T + pd.Timedelta(seconds=30 * k)) + " [Train Step] " + f"{100 * k}/100000: "
        gen = "".join(f"{key}: {const if j % 2 else format(k + j / 7, '.5f')}, " for j, key in enumerate(GEN_KEYS))
        lines.append(stamp + gen + f"lr: {const}, ")
        lines.append(stamp + "".join(f"{key}: {const}, " for key in DISC_KEYS) + f"lr: {const}, ")
    path = tmp_path / "2025-03-02-09-00_.log"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(parser, "BULK_MIN", 10**9)
    expected = read_run(path)
    monkeypatch.setattr(parser, "BULK_MIN", 1)
    got = read_run(path)
    pd.testing.assert_frame_equal(got.df, expected.df)
    assert len(got.df) == 600
    assert not got.skipped
    lr = got.df["lr"].to_numpy()
    assert np.array_equal(np.signbit(lr), np.signbit(expected.df["lr"].to_numpy()))
    assert np.array_equal(lr, np.full(600, float(const)), equal_nan=True)


@st.composite
def text_log(draw) -> Case:
    n = draw(st.integers(1, 25))
    steps = sorted(draw(st.sets(st.integers(0, 10_000), min_size=n, max_size=n)))
    case = Case([], {}, {})
    for r, step in enumerate(steps):
        when = T0 + timedelta(seconds=step)
        gen = {k: draw(values) for k in GEN_KEYS}
        if draw(st.booleans()):  # a value too big for a float64 prints as a long number: inf
            gen[GEN_KEYS[0]] = float("inf")
        case.row_chunks[r] = [len(case.chunks)]
        line = step_line(step, 10_000, gen, when)
        case.chunks.append(line.replace("inf", "1" + "0" * 400, 1).encode() if gen[GEN_KEYS[0]] == float("inf")
                           else line.encode())
        row = {"step": step, **{k: float(f"{v:.5f}") for k, v in gen.items()}}
        if draw(st.booleans()):
            disc = {k: draw(values) for k in DISC_KEYS}
            case.row_chunks[r].append(len(case.chunks))
            case.chunks.append(step_line(step, 10_000, disc, when).encode())
            row.update({k: float(f"{v:.5f}") for k, v in disc.items()})
        case.rows[r] = row
    bad = [f"{asctime(T0)} [Train Step] {HUGE}/10000: train/total_loss: 1.00000, ".encode(),
           f"{asctime(T0)} {{'a': ".encode() * 2000 + b"1" + b"}" * 2000,
           DEEP_JSON.encode(), b"\xff\xfe garbage"]
    return draw(damage(case, bad, newline_free=True))


def _check_text(tmp_path_factory, case: Case) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "2025-03-02-09-00_.log"
    path.write_bytes(b"\n".join(case.chunks) + (b"\n" if case.chunks[-1] else b""))
    run = read_or_none(path, case)
    if run is not None:
        check_lines(run, case)


@FAST
@given(text_log())
def test_text_log_fuzz(tmp_path_factory, case):
    _check_text(tmp_path_factory, case)


@pytest.mark.slow
@SLOW
@given(text_log())
def test_text_log_fuzz_long(tmp_path_factory, case):
    _check_text(tmp_path_factory, case)


def huge_step_line(total: str = "1000") -> str:
    return f"{asctime(START)} [Train Step] {ABOVE_INT64}/{total}: train/total_loss: 1.00000, train/rec_loss: 0.50000, "


@pytest.mark.parametrize("n_steps", [10, 1000])  # the line-by-line pass and the bulk pass
def test_text_log_step_above_int64_is_one_skipped_line(tmp_path, n_steps):
    spec = write_radiodiff_log(tmp_path / "a.log", range(0, 100 * n_steps, 100),
                               extra_lines={n_steps // 2: [huge_step_line()], n_steps: [huge_step_line()]})
    run = read_run(spec.path)
    assert run.df["step"].tolist() == spec.steps
    assert run.skipped_counts() == {"step out of range": 2}
    assert run.df["segment"].nunique() == 1
    assert len(run.superseded) == 0
    analyze(run)


def test_text_log_total_above_int64_is_not_a_total(tmp_path):
    spec = write_radiodiff_log(tmp_path / "a.log", range(0, 1000, 100), config=None, total_steps=int(ABOVE_INT64))
    run = read_run(spec.path)
    assert run.df["step"].tolist() == spec.steps
    assert run.total_steps is None
    analyze(run)


FORMATS = ["{:.5f}", "{:.8g}", "{!r}"]


any_float = st.floats(allow_nan=True, allow_infinity=True, width=64)


# garbage can never be a step line (no marker) nor a config line (no "{"); it may be blank,
# hold "\r", look like a traceback, or carry bytes that are not UTF-8
garbage_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n{"),
                       max_size=60).filter(lambda s: "[Train Step]" not in s)


garbage_bytes = st.binary(max_size=40).filter(lambda b: b"\n" not in b and b"{" not in b and b"[Train Step]" not in b)


garbage = st.one_of(garbage_text.map(lambda s: s.encode("utf-8")), garbage_bytes,
                    st.sampled_from([b"", b"Traceback (most recent call last):", b"  File \"x.py\", line 1",
                                     b"UserWarning: careful", b"[Train Step] 5/10 no colon",
                                     b"2025-01-01 00:00:00,000 [Train Step] 7/10: train/total_loss: 1.0"]))


@st.composite
def row(draw, fixed_keys: bool):
    gen_keys = GEN_KEYS + ["lr"] if fixed_keys else [
        k for k in GEN_KEYS + ["lr"] if draw(st.booleans())] or ["train/total_loss"]
    disc_keys = [] if not draw(st.booleans()) else (
        DISC_KEYS + ["lr"] if fixed_keys else [k for k in DISC_KEYS + ["lr"] if draw(st.booleans())])
    fmt = draw(st.sampled_from(FORMATS))
    gen = {k: draw(any_float) for k in gen_keys}
    disc = {k: draw(any_float) for k in disc_keys}
    stamped = draw(st.booleans())
    return gen, disc, fmt, stamped


@st.composite
def log(draw):
    fixed = draw(st.booleans())
    rows = draw(st.lists(row(fixed), min_size=1, max_size=12))
    gaps = draw(st.lists(st.integers(1, 500), min_size=len(rows), max_size=len(rows)))
    junk = draw(st.lists(st.lists(garbage, max_size=3), min_size=2 * len(rows) + 1, max_size=2 * len(rows) + 1))
    return rows, gaps, junk


def line_of(step, values_, fmt, when) -> bytes:
    body = "".join(f"{k}: {fmt.format(v)}, " for k, v in values_.items())
    prefix = asctime(when) + " " if when else ""
    return f"{prefix}{MARK}{step}/100000: {body}".encode()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log())
def test_garbage_is_counted_and_every_row_recovered(tmp_path_factory, data):
    rows, gaps, junk = data
    out: list[bytes] = []
    garbage_lines: list[int] = []
    expected = []
    step, when = 0, datetime(2025, 3, 2, 9, 0, 0)

    def put_junk(k):
        for g in junk[k]:
            out.append(g)
            garbage_lines.append(len(out))

    for r, ((gen, disc, fmt, stamped), gap) in enumerate(zip(rows, gaps)):
        step += gap
        when += timedelta(seconds=gap, milliseconds=gap)
        put_junk(2 * r)
        out.append(line_of(step, gen, fmt, when if stamped else None))
        first_line = len(out)
        put_junk(2 * r + 1)  # junk between the generator and the discriminator line
        if disc:
            out.append(line_of(step, disc, fmt, when if stamped else None))
        exp = {"step": step, "line": first_line}
        exp.update({k: float(fmt.format(v)) for k, v in gen.items()})
        exp.update({("lr_disc" if k == "lr" and "lr" in gen else k): float(fmt.format(v)) for k, v in disc.items()})
        expected.append(exp)
    put_junk(2 * len(rows))
    path = tmp_path_factory.mktemp("prop") / "x.log"
    path.write_bytes(b"\n".join(out) + b"\n")

    run = read_run(path)
    assert run.df["step"].tolist() == [e["step"] for e in expected]
    assert sorted(s.line for s in run.skipped) == garbage_lines
    for (_, got), exp in zip(run.df.iterrows(), expected):
        assert got["line"] == exp["line"]
        for key, value in exp.items():
            if key in ("step", "line"):
                continue
            assert (math.isnan(got[key]) and math.isnan(value)) or got[key] == value, (key, got[key], value)
        logged = {k for k in run.logged.columns if run.logged.loc[_, k]}
        assert logged == set(exp) - {"step", "line"}
