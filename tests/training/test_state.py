"""The training state: what a checkpoint holds (main's layout, so that its checkpoints still resume), and
restoring a checkpoint gives back the state it was written from."""
from __future__ import annotations

from pathlib import Path

import torch

from radiodiff_lib import checkpoints as ckpt
from radiodiff_lib.model import build_loss, build_model
from radiodiff_lib.training import train
from radiodiff_lib.training.runtime import Runtime
from radiodiff_lib.training.state import capture_rng, checkpoint_dict, new_state, restore_state, seed_everything
from tests.helpers.configs import make_tiny_config
from tests.helpers.training import assert_checkpoints_equal

# The entries of a checkpoint as the trainer before TrainState wrote them: a change here breaks the resume
# of every checkpoint written so far.
CHECKPOINT_KEYS = {"format", "format_version", "config", "step", "model", "opt_ae", "opt_disc", "lr_scheduler_ae",
                   "lr_scheduler_disc", "ema", "scaler", "rng", "data_state", "runtime", "metrics_offset", "launch",
                   "written_at", "checksum", "data_split"}


def test_a_checkpoint_keeps_the_layout_earlier_checkpoints_have(tmp_path: Path):
    result = train(make_tiny_config(), max_steps=1, results_folder=tmp_path, progress=False)
    obj = ckpt.load_checkpoint(result.last_checkpoint)
    assert set(obj) == CHECKPOINT_KEYS
    assert set(obj["data_state"]) == {"seed", "position", "num_items", "batch_size", "world"}
    assert set(obj["scaler"]) == {"ae", "disc"}


def test_restoring_a_checkpoint_gives_back_the_state_it_was_written_from(tmp_path: Path):
    cfg = make_tiny_config()
    result = train(cfg, max_steps=5, results_folder=tmp_path, progress=False)  # past disc_start: both optimizers
    saved = ckpt.load_checkpoint(result.last_checkpoint)
    seed_everything(12345)  # other initial weights and RNG states than the run's
    state = new_state(cfg, build_model(cfg), build_loss(cfg), Runtime.resolve(cfg, torch.device("cpu"), 1),
                      with_ema=True)
    num_items = saved["data_state"]["num_items"]
    notes = restore_state(state, saved, ckpt.WORKBENCH_CHECKPOINT, result.last_checkpoint, config=cfg,
                          num_items=num_items, rank=0, samples_per_step=2)
    assert notes == []  # same config, same data: nothing to say
    assert state.step == 5
    assert state.data_position == 5 * 2
    run = {key: saved[key] for key in ("runtime", "metrics_offset", "launch", "data_split")}
    again = ckpt.save_checkpoint(tmp_path / "again" / "model-1-step5.pt",
                                 checkpoint_dict(state, cfg, rng=[capture_rng()], num_items=num_items, world=1, run=run))
    assert assert_checkpoints_equal(result.last_checkpoint, again) > 100
