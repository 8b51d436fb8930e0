"""The ledger of written checkpoints: retention deletes only what the run wrote, and a resume from an
earlier checkpoint sets the later ones aside so that `latest` means the current line of the run."""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest

from radiodiff_lib import checkpoints as ckpt
from radiodiff_lib.data import build_dataset
from radiodiff_lib.training import resume, train
from tests.helpers.configs import make_tiny_config


@pytest.fixture(scope="module")
def dataset():
    return build_dataset(make_tiny_config(), "train")


def names(folder: Path) -> list[str]:
    return [p.name for p in ckpt.list_checkpoints(folder)]


def drop_at(step: int, action):
    """A training callback that runs ``action`` once, at the log step ``step``."""
    def callback(record: dict) -> None:
        if record["step"] == step:
            action()
    return callback


def test_stray_empty_newer_file_costs_no_real_checkpoint(dataset, tmp_path: Path):
    # the reproduction: with keep_last 1, a stray 0-byte model-9.pt made the trainer delete every
    # checkpoint it wrote, the one it had just written included
    stray = tmp_path / "model-9.pt"
    cfg = make_tiny_config(**{"trainer.keep_last": 1})
    train(cfg, results_folder=tmp_path, dataset=dataset, progress=False,
          callbacks=[drop_at(4, lambda: stray.write_bytes(b""))])
    assert names(tmp_path) == ["model-2-step8.pt", "model-9.pt"]  # ours: only the newest; the stray untouched
    assert stray.read_bytes() == b""
    assert [p.name for p in ckpt.owned_checkpoints(tmp_path)] == ["model-2-step8.pt"]


def test_foreign_checkpoint_is_neither_counted_nor_deleted(dataset, tmp_path: Path):
    # with the default keep_last 3, a foreign model-5.pt used to cost real checkpoints
    other = tmp_path / "other"
    train(make_tiny_config(), max_steps=3, results_folder=other, dataset=dataset, progress=False)
    run = tmp_path / "run"
    foreign = run / "model-5.pt"
    train(make_tiny_config(**{"trainer.keep_last": 3}), results_folder=run, dataset=dataset, progress=False,
          callbacks=[drop_at(4, lambda: shutil.copy(other / "model-1.pt", foreign))])
    assert names(run) == ["model-1.pt", "model-2.pt", "model-2-step8.pt", "model-5.pt"]
    assert foreign.read_bytes() == (other / "model-1.pt").read_bytes()


def test_resume_from_an_earlier_milestone_sets_the_later_ones_aside(dataset, tmp_path: Path):
    cfg = make_tiny_config()
    train(cfg, results_folder=tmp_path, dataset=dataset, progress=False)  # model-1 (3), model-2 (6), -step8
    assert names(tmp_path) == ["model-1.pt", "model-2.pt", "model-2-step8.pt"]
    result = train(cfg, resume=1, max_steps=5, results_folder=tmp_path, dataset=dataset, progress=False)
    assert result.step == 5
    assert names(tmp_path) == ["model-1.pt", "model-1-step5.pt"]
    aside = ckpt.set_aside_checkpoints(tmp_path)
    assert [p.name for p in aside] == ["model-2.pt", "model-2-step8.pt"]
    assert aside[0].parent.parent == tmp_path / "set-aside"
    assert "after-model-1" in aside[0].parent.name
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing unusable is left in the way
        assert ckpt.find_resume_checkpoint(tmp_path, "latest").name == "model-1-step5.pt"
    log = (tmp_path / "train.log").read_text()
    assert "set aside 2 later checkpoint(s)" in log
    assert "model-2-step8.pt" in log
    table = ckpt.inspect_checkpoints(tmp_path)
    set_aside_rows = table[table["path"].str.contains("set-aside")]
    assert len(set_aside_rows) == 2
    assert set(set_aside_rows["note"].str.contains("set aside"))  == {True}
    assert resume(tmp_path, progress=False).step == 8  # the new line of the run continues to the end


def test_resume_from_another_folder_keeps_what_it_writes_and_sets_the_old_line_aside(dataset, tmp_path: Path):
    # the reproduction: a resume into a folder whose checkpoints sort after the resumed one deleted the new
    # checkpoint as soon as it was written ("model-0-step2.pt (removed model-0-step2.pt)"), and 'latest'
    # stayed on the folder's older line
    cfg = make_tiny_config(**{"trainer.keep_last": 3})
    run, other = tmp_path / "run", tmp_path / "other"
    train(cfg, results_folder=run, dataset=dataset, progress=False)  # model-1 (3), model-2 (6), model-2-step8
    train(cfg, max_steps=1, results_folder=other, dataset=dataset, progress=False)  # model-0-step1
    source = other / "model-0-step1.pt"
    result = train(cfg, resume=source, max_steps=2, results_folder=run, dataset=dataset, progress=False)
    assert result.last_checkpoint == run / "model-0-step2.pt"
    assert result.last_checkpoint.is_file()
    assert names(run) == ["model-0-step1.pt", "model-0-step2.pt"]  # the resumed one brought in, the new one kept
    assert ckpt.find_resume_checkpoint(run, "latest").name == "model-0-step2.pt"
    assert [p.name for p in ckpt.set_aside_checkpoints(run)] == ["model-1.pt", "model-2.pt", "model-2-step8.pt"]
    assert (run / "model-0-step1.pt").read_bytes() == source.read_bytes()
    assert names(other) == ["model-0-step1.pt"]  # the other folder is left as it was
    assert "(removed" not in (run / "train.log").read_text()
    assert "is outside this results folder" in (run / "train.log").read_text()


def test_the_line_resumed_from_another_folder_continues_exactly(dataset, tmp_path: Path):
    # both runs share config and seed, so the line continued from the other folder's step 1 must end where the
    # folder's own first line ended, bitwise; the brought-in checkpoint outlives retention
    from tests.helpers.training import assert_checkpoints_equal

    cfg = make_tiny_config(**{"trainer.keep_last": 1})
    run, other = tmp_path / "run", tmp_path / "other"
    train(cfg, results_folder=run, dataset=dataset, progress=False)
    train(cfg, max_steps=1, results_folder=other, dataset=dataset, progress=False)
    train(cfg, resume=other / "model-0-step1.pt", results_folder=run, dataset=dataset, progress=False)
    aside = {p.name: p for p in ckpt.set_aside_checkpoints(run)}
    assert assert_checkpoints_equal(aside["model-2-step8.pt"], run / "model-2-step8.pt") > 100
    assert names(run) == ["model-0-step1.pt", "model-2-step8.pt"]  # keep_last 1 counts only what was written here


def test_retention_keeps_last_k_and_every_m(tmp_path: Path):
    for step, name in enumerate(["model-1.pt", "model-2.pt", "model-3.pt", "model-4.pt", "model-4-step9.pt",
                                 "model-5.pt"]):
        (tmp_path / name).write_bytes(b"x")
        ckpt.record_checkpoint(tmp_path, tmp_path / name, step)
    deleted = ckpt.prune_checkpoints(tmp_path, keep_last=2, keep_every=2)
    assert sorted(p.name for p in deleted) == ["model-1.pt", "model-3.pt"]
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["model-2.pt", "model-4.pt", "model-4-step9.pt", "model-5.pt"]
