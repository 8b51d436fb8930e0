"""What a launch says about its config: an edited config.yaml on resume is listed key by key, its keys taken
except those the checkpoint fixes, and the file kept under a name that says what it is."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from radiodiff_lib.errors import ConfigWarning
from radiodiff_lib.training import resume, train
from tests.helpers.configs import make_tiny_config


@pytest.fixture(scope="module")
def dataset():
    from radiodiff_lib.data import build_dataset

    return build_dataset(make_tiny_config(), "train")


def _edit(folder: Path, section: str, key: str, value, sub: str | None = None) -> None:
    path = folder / "config.yaml"
    data = yaml.safe_load(path.read_text())
    (data[section][sub] if sub else data[section])[key] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _last_launch(folder: Path) -> dict:
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    return [r for r in records if r["kind"] == "launch"][-1]


def test_an_edited_config_is_listed_taken_and_kept_on_resume(dataset, tmp_path: Path):
    train(make_tiny_config(), max_steps=3, results_folder=tmp_path, dataset=dataset, progress=False)
    _edit(tmp_path, "trainer", "train_num_steps", 10)
    _edit(tmp_path, "model", "ch", 64, sub="ddconfig")  # the architecture: the checkpoint's weights decide
    with pytest.warns(ConfigWarning, match="config.yaml was edited"):
        result = resume(tmp_path, max_steps=4, progress=False)
    said = " ".join(result.notes)
    assert "applied trainer.train_num_steps: 8 -> 10" in said
    assert said.count("trainer.train_num_steps: 8 -> 10") == 1  # said once, not again as "config changed"
    assert "the checkpoint overrides model.ddconfig.ch (64 in config.yaml, 32 kept)" in said
    kept = yaml.safe_load((tmp_path / "config-edited-launch-1.yaml").read_text())
    assert kept["model"]["ddconfig"]["ch"] == 64  # the user's file, as edited
    assert not (tmp_path / "config-launch-0.yaml").exists()  # not filed away as the first launch's config
    now = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert now["trainer"]["train_num_steps"] == 10
    assert now["model"]["ddconfig"]["ch"] == 32
    launch = _last_launch(tmp_path)
    assert launch["config"]["trainer"]["train_num_steps"] == 10  # the launch trained with it
    assert any("kept as config-edited-launch-1.yaml" in n for n in launch["notes"])
    assert "config.yaml was edited" in (tmp_path / "train.log").read_text()


def test_an_unedited_config_says_nothing_on_resume(dataset, tmp_path: Path):
    train(make_tiny_config(), max_steps=3, results_folder=tmp_path, dataset=dataset, progress=False)
    result = resume(tmp_path, max_steps=4, progress=False)
    assert not any("edited" in n for n in result.notes)
    assert sorted(p.name for p in tmp_path.glob("config*.yaml")) == ["config.yaml"]


def test_a_later_launchs_config_is_no_edit_of_an_earlier_checkpoint(dataset, tmp_path: Path):
    # config.yaml as the last launch wrote it (another lr) is not an edit: resuming model-1.pt takes its own config
    cfg = make_tiny_config()
    train(cfg, max_steps=3, results_folder=tmp_path, dataset=dataset, progress=False)
    train(make_tiny_config(**{"trainer.lr": 1e-4}), resume="latest", max_steps=5, results_folder=tmp_path,
          dataset=dataset, progress=False)
    result = resume(tmp_path, checkpoint=1, max_steps=4, progress=False)
    assert not any("edited" in n for n in result.notes)
    assert _last_launch(tmp_path)["config"]["trainer"]["lr"] == cfg.trainer.lr
    assert (tmp_path / "config-launch-1.yaml").is_file()  # the later launch's config, kept under its name


def test_an_unreadable_edited_config_is_said_and_kept(dataset, tmp_path: Path):
    train(make_tiny_config(), max_steps=3, results_folder=tmp_path, dataset=dataset, progress=False)
    (tmp_path / "config.yaml").write_text("trainer: {lr: [unclosed\n")
    with pytest.warns(ConfigWarning, match="config.yaml could not be read"):
        result = resume(tmp_path, max_steps=4, progress=False)
    assert result.step == 4  # the checkpoint's config trained
    assert (tmp_path / "config-edited-launch-1.yaml").read_text() == "trainer: {lr: [unclosed\n"


def test_a_resume_reads_metrics_jsonl_once_for_its_number_and_the_kept_name(dataset, tmp_path: Path, monkeypatch):
    from radiodiff_lib.training import api, run_log

    train(make_tiny_config(), max_steps=3, results_folder=tmp_path, dataset=dataset, progress=False)
    _edit(tmp_path, "trainer", "train_num_steps", 10)
    scans, scan = [], run_log.scan_metrics

    def counted(folder):
        scans.append(folder)
        return scan(folder)

    monkeypatch.setattr(api, "scan_metrics", counted)
    monkeypatch.setattr(run_log, "scan_metrics", counted)
    with pytest.warns(ConfigWarning, match="config.yaml was edited"):
        resume(tmp_path, max_steps=4, progress=False)
    assert len(scans) == 1
    assert _last_launch(tmp_path)["launch"] == 1
    assert (tmp_path / "config-edited-launch-1.yaml").is_file()
