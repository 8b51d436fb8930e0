"""TensorBoard event files: read back with RadioDiff's names, a cut-off record counted, followed live; fuzzed.
Issue 10, item 5: both TFRecord checksums of every TensorBoard record are verified. A flipped bit
in a value skips that record (it is not read as another number); a flipped bit in a length, or in
its checksum, costs that record only: the reader finds the next good record without reading at the
damaged length. Each is counted."""
from __future__ import annotations

import io
import struct

import pytest
from hypothesis import given, strategies as st
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.record_writer import RecordWriter

from radiodiff_lib.analysis import analyze
from radiodiff_lib.logs import RunReader, read_run
from tests.helpers.fuzz import Case, FAST, SLOW, damage, read_or_none
from tests.helpers.tfrecords import record_spans, write_scalars


STEPS = range(0, 60)


def rec_loss(step: int) -> float:
    return 1.142 * 0.97 ** step  # a falling reconstruction loss: "improving"


def scalars() -> list[tuple[int, str, float]]:
    return [(s, tag, v) for s in STEPS for tag, v in (("rec_loss", rec_loss(s)), ("total_loss", 100.0 - s))]


def flip(path, byte: int, bit: int = 6) -> None:
    data = bytearray(path.read_bytes())
    data[byte] ^= 1 << bit
    path.write_bytes(bytes(data))


def test_flipped_bit_in_a_value_skips_that_record(tmp_path):
    path = write_scalars(tmp_path, scalars())
    data = path.read_bytes()
    first = data.find(struct.pack("<f", 1.142))  # the first rec_loss, inside record 1
    flip(path, first + 3)  # the exponent: 1.142 read as 2.66e-10 without the check
    run = read_run(path)
    assert run.skipped_counts() == {"bad record checksum": 1}
    assert run.df["step"].tolist() == list(STEPS)
    assert not run.logged["train/rec_loss"].iloc[0]  # step 0 lost its rec_loss, kept its total_loss
    assert run.df["train/rec_loss"].iloc[1:].tolist() == pytest.approx([rec_loss(s) for s in STEPS[1:]], rel=1e-6)
    assert analyze(run, window=50).metrics["train/rec_loss"].status == "improving"


@pytest.mark.parametrize("field", ["length", "length checksum"])
def test_flipped_bit_in_a_length_costs_one_record(tmp_path, field):
    path = write_scalars(tmp_path, scalars())
    start, _ = record_spans(path.read_bytes())[7]  # step 3's rec_loss
    flip(path, start + (2 if field == "length" else 9))
    run = read_run(path)
    assert run.skipped_counts() == {"bad record length": 1}
    assert run.df["step"].tolist() == list(STEPS)
    logged = run.logged["train/rec_loss"].tolist()
    assert logged == [s != 3 for s in STEPS]
    assert run.df["train/total_loss"].tolist() == [100.0 - s for s in STEPS]


def test_bad_length_in_a_live_file_waits_for_the_next_record(tmp_path):
    """While the file grows, bytes after a damaged length are not given up until a good record follows."""
    full = write_scalars(tmp_path / "full", scalars()[:20])
    data = bytearray(full.read_bytes())
    spans = record_spans(bytes(data))
    start, end = spans[5]
    data[start + 1] ^= 0x10
    live = tmp_path / "live" / full.name
    live.parent.mkdir()
    live.write_bytes(bytes(data[:end]))  # the damaged record is the last one written so far
    reader = RunReader(live)
    assert reader.update().skipped == []
    assert len(reader.run.df) == 2  # steps 0, 1 (record 5 is step 2's)
    with open(live, "ab") as fh:
        fh.write(bytes(data[end:]))
    run = reader.update(final=True)
    assert run.skipped_counts() == {"bad record length": 1}
    assert run.df["step"].tolist() == list(range(10))
    assert run.logged["train/rec_loss"].tolist()[2] is False


def test_negative_step_is_skipped_not_a_restart(tmp_path):
    path = write_scalars(tmp_path, [(0, "rec_loss", 1.0), (1, "rec_loss", 0.9), (-4, "rec_loss", 5.0),
                                    (2, "rec_loss", 0.8)])
    run = read_run(path)
    assert run.df["step"].tolist() == [0, 1, 2]
    assert len(run.superseded) == 0
    assert run.skipped_counts() == {"step out of range": 1}


def framed(payload: bytes) -> bytes:
    """One TFRecord as TensorBoard's own RecordWriter frames it."""
    buf = io.BytesIO()
    RecordWriter(buf).write(payload)
    return buf.getvalue()


def scalar_event(step: int, tag: str, value: float, t: float) -> bytes:
    summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
    return event_pb2.Event(wall_time=t, step=step, summary=summary).SerializeToString()


def _nested_groups(depth: int) -> bytes:
    start, end = bytes([0xA3, 0x06]), bytes([0xA4, 0x06])  # field 100, start / end group
    return start * depth + end * depth


@st.composite
def event_file(draw) -> Case:
    n = draw(st.integers(1, 20))
    steps = sorted(draw(st.sets(st.integers(0, 10_000), min_size=n, max_size=n)))
    version = event_pb2.Event(wall_time=1.75e9, file_version="brain.Event:2").SerializeToString()
    case = Case([framed(version)], {}, {})
    r = 0
    for step in steps:
        for tag in draw(st.lists(st.sampled_from(["rec_loss", "total_loss", "kl_loss"]), min_size=1, max_size=3,
                                 unique=True)):
            value = draw(st.sampled_from([1.142, -2292.5, 3.4e38, float("inf"), 0.0]))
            case.row_chunks[r] = [len(case.chunks)]
            case.chunks.append(framed(scalar_event(step, tag, value, 1.75e9 + step)))
            case.rows[r] = {"step": step, "tag": tag, "value": value}
            r += 1
    bad = [framed(scalar_event(-7, "rec_loss", 1.0, 1.75e9)), framed(_nested_groups(20_000)),
           b"\x00\x01garbage that is no record\xff" * 3]
    return draw(damage(case, bad, newline_free=False))


def _check_events(tmp_path_factory, case: Case) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "events.out.tfevents.1.host"
    path.write_bytes(b"".join(case.chunks))
    run = read_or_none(path, case)
    names = {"rec_loss": "train/rec_loss", "total_loss": "train/total_loss", "kl_loss": "train/kl_loss"}
    expected: dict[int, dict] = {}
    for rec in case.intact_rows().values():
        expected.setdefault(rec["step"], {})[names[rec["tag"]]] = rec["value"]
    if run is None:
        return
    got = {}
    for k, (_, row) in enumerate(run.df.iterrows()):
        got[int(row["step"])] = {m: row[m] for m in names.values()
                                 if m in run.logged.columns and run.logged[m].iloc[k]}
    # every intact scalar is back with its float32 value, and nothing else (a damaged record never reads)
    assert {s: got.get(s) for s in expected} == {s: {m: pytest.approx(v, rel=1e-6) for m, v in d.items()}
                                                for s, d in expected.items()}
    assert set(got) <= set(expected)
    assert len(run.superseded) == 0
    # each skip covers at least one bad record (a search past a bad length may cover several)
    bad = case.inserted | case.damaged
    visible = bad - ({len(case.chunks) - 1} if not case.chunks[-1] else set())  # a cut at a record boundary
    assert len(run.skipped) <= len(bad), (run.skipped, bad)
    assert bool(run.skipped) == bool(visible), (run.skipped, bad)


@FAST
@given(event_file())
def test_event_file_fuzz(tmp_path_factory, case):
    _check_events(tmp_path_factory, case)


@pytest.mark.slow
@SLOW
@given(event_file())
def test_event_file_fuzz_long(tmp_path_factory, case):
    _check_events(tmp_path_factory, case)


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
