"""Issue 10, item 4: one bad line never loses a whole log. A step above int64, a step that is not a
whole number, a negative step, a JSON line nested too deeply, a value or a config number out of
range: each is skipped and counted with its reason, and every other row is kept (no new segment)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from radiodiff_lib.analysis import analyze
from radiodiff_lib.logs import read_run
from tests.helpers.logfactory import START, asctime, write_radiodiff_log, write_workbench_folder

HUGE = "99999999999999999999"  # above int64's 9223372036854775807


def huge_step_line(total: str = "1000") -> str:
    return f"{asctime(START)} [Train Step] {HUGE}/{total}: train/total_loss: 1.00000, train/rec_loss: 0.50000, "


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
    spec = write_radiodiff_log(tmp_path / "a.log", range(0, 1000, 100), config=None, total_steps=int(HUGE))
    run = read_run(spec.path)
    assert run.df["step"].tolist() == spec.steps
    assert run.total_steps is None
    analyze(run)


def test_config_line_with_out_of_range_numbers_is_read(tmp_path):
    cfg = {"model": {"lossconfig": {"disc_start": float("inf"), "kl_weight": int(HUGE) ** 20}},
           "trainer": {"train_num_steps": float("inf"), "lr": float("nan")}}
    spec = write_radiodiff_log(tmp_path / "a.log", range(0, 1000, 100), config=cfg)
    run = read_run(spec.path)
    assert run.df["step"].tolist() == spec.steps
    a = analyze(run)  # the config's numbers are unusable: the step lines' /TOTAL is the total
    assert a.total_steps == 150000
    assert a.total_steps_source == "step lines"
    assert a.disc_start is None


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

