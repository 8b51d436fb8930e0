"""Issue 10, item 5: both TFRecord checksums of every TensorBoard record are verified. A flipped bit
in a value skips that record (it is not read as another number); a flipped bit in a length, or in
its checksum, costs that record only: the reader finds the next good record without reading at the
damaged length. Each is counted."""
from __future__ import annotations

import struct

import pytest

from radiodiff_lib.analysis import analyze
from radiodiff_lib.logs import RunReader, read_run
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
