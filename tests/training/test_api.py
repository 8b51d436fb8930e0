"""train and resume: what a launch says when the user's disk, folder or config gets in the way: one line, the path, and
nothing written before is lost."""
from __future__ import annotations

import errno
import os
import warnings
from pathlib import Path

import pytest
import yaml

from radiodiff_lib import checkpoints as ckpt
from radiodiff_lib.checkpoints import workbench
from radiodiff_lib.cli import main
from radiodiff_lib.config import save_config
from radiodiff_lib.data import build_dataset
from radiodiff_lib.errors import ConfigWarning, TrainingError
from radiodiff_lib.training import train
from tests.helpers.configs import make_tiny_config


@pytest.fixture(scope="module")
def dataset():
    return build_dataset(make_tiny_config(), "train")


def test_full_disk_is_one_line_and_the_last_checkpoint_stays(dataset, tmp_path: Path, monkeypatch):
    cfg = make_tiny_config()
    train(cfg, max_steps=3, results_folder=tmp_path, dataset=dataset, progress=False)  # model-1.pt
    good = (tmp_path / "model-1.pt").read_bytes()

    def no_space(obj, f, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(f.name))

    monkeypatch.setattr(workbench.torch, "save", no_space)
    with pytest.raises(TrainingError) as caught:
        train(cfg, resume="latest", results_folder=tmp_path, dataset=dataset, progress=False)
    msg = str(caught.value)
    assert "\n" not in msg
    assert "No space left on device" in msg
    assert str(tmp_path) in msg
    assert "model-1.pt, is intact" in msg
    assert (tmp_path / "model-1.pt").read_bytes() == good
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []  # no half-written file left


def test_unwritable_results_folder_is_one_line(dataset, capsys, tmp_path: Path):
    target = Path("/sys/radiodiff-results")  # sysfs: nobody may create folders there, root included
    try:
        os.makedirs(target)
    except OSError:
        pass
    else:  # pragma: no cover - a machine where it is writable
        os.rmdir(target)
        pytest.skip("/sys is writable here")
    config = save_config(make_tiny_config(), tmp_path / "tiny.yaml")
    code = main(["train", "--config", str(config), "--results-folder", str(target), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1
    assert err.startswith("radiodiff train: error: cannot write /sys/radiodiff-results")
    assert "writable" in err


def test_changed_config_on_resume_is_kept_said_and_judged(dataset, tmp_path: Path):
    cfg = make_tiny_config()
    train(cfg, max_steps=3, results_folder=tmp_path, dataset=dataset, progress=False)
    first = (tmp_path / "config.yaml").read_text()
    changed = make_tiny_config(**{"trainer.lr": 1e-4, "data.batch_size": 4})
    result = train(changed, resume="latest", max_steps=5, results_folder=tmp_path, dataset=dataset, progress=False)
    assert (tmp_path / "config-launch-0.yaml").read_text() == first  # the first launch's config is kept
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["trainer"]["lr"] == 1e-4
    said = " ".join(result.notes)
    assert f"config changed on resume: data.batch_size: 2 -> 4; trainer.lr: {cfg.trainer.lr!r} -> 0.0001" in said
    assert "data.batch_size changed: the batches differ" in said
    assert "not exact" in said
    assert "config changed on resume" in (tmp_path / "train.log").read_text()


def test_unchanged_resume_keeps_one_config_and_says_nothing(dataset, tmp_path: Path):
    cfg = make_tiny_config()
    train(cfg, max_steps=3, results_folder=tmp_path, dataset=dataset, progress=False)
    result = train(cfg, resume="latest", max_steps=5, results_folder=tmp_path, dataset=dataset, progress=False)
    assert not any("config changed" in n for n in result.notes)
    assert sorted(p.name for p in tmp_path.glob("config*.yaml")) == ["config.yaml"]


def test_probable_config_mistakes_are_warned_at_start(dataset, tmp_path: Path):
    cfg = make_tiny_config(**{"model.lossconfig.disc_start": 50, "trainer.train_num_steps": 4})
    with pytest.warns(ConfigWarning, match="disc_start 50 is not below trainer.train_num_steps 4"):
        train(cfg, results_folder=tmp_path, dataset=dataset, progress=False)
    assert "the discriminator never starts" in (tmp_path / "train.log").read_text()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConfigWarning)  # an ordinary config says nothing
        train(make_tiny_config(), max_steps=1, results_folder=tmp_path / "ok", dataset=dataset, progress=False)
    assert ckpt.list_checkpoints(tmp_path / "ok")
