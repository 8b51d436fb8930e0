"""One trainer per results folder, in real processes: a second `radiodiff train` on a folder in use
exits at once naming the folder and the holder's pid, the first completes undisturbed, and a lock left
by a killed process does not block the next start."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from radiodiff_lib import checkpoints as ckpt
from radiodiff_lib.config import save_config
from radiodiff_lib.vocabulary import LOCK_FILE
from tests.helpers.configs import make_tiny_config

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _train(config: Path, folder: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "radiodiff_lib.cli", "train", "--config", str(config), "--results-folder",
           str(folder), "--no-progress", *extra]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_until(condition, proc: subprocess.Popen, timeout: float = 120) -> None:
    t0 = time.time()
    while not condition():
        assert proc.poll() is None, f"the first trainer ended early:\n{proc.stdout.read()}"
        assert time.time() - t0 < timeout, "timed out"
        time.sleep(0.05)


def test_second_trainer_is_refused_and_the_first_completes(tmp_path: Path):
    steps = 40
    config = save_config(make_tiny_config(**{"trainer.train_num_steps": steps, "trainer.save_and_sample_every": 10}),
                         tmp_path / "tiny.yaml")
    folder = tmp_path / "run"
    first = _train(config, folder)
    _wait_until(lambda: (folder / "metrics.jsonl").is_file(), first)  # the first one holds the folder
    t0 = time.time()
    second = _train(config, folder)
    out, _ = second.communicate(timeout=120)
    assert second.returncode != 0, out
    assert str(folder) in out
    assert f"pid {first.pid}" in out
    assert "another training process" in out
    assert time.time() - t0 < 60  # it did not train: it stopped at the start
    assert len(out.strip().splitlines()) <= 3, out  # a message, not a traceback
    first_out, _ = first.communicate(timeout=600)
    assert first.returncode == 0, first_out
    assert [p.name for p in ckpt.list_checkpoints(folder)][-1] == "model-4.pt"
    assert ckpt.load_checkpoint(folder / "model-4.pt")["step"] == steps


def test_lock_of_a_killed_trainer_does_not_block_the_next_start(tmp_path: Path):
    config = save_config(make_tiny_config(**{"trainer.train_num_steps": 400, "trainer.save_and_sample_every": 1}),
                         tmp_path / "tiny.yaml")
    folder = tmp_path / "run"
    victim = _train(config, folder)
    _wait_until(lambda: len(ckpt.list_checkpoints(folder)) >= 2, victim)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert re.search(rf"pid {victim.pid}\b", (folder / LOCK_FILE).read_text())  # the dead holder's record stays
    reached = ckpt.load_checkpoint(ckpt.find_resume_checkpoint(folder, "latest"))["step"]
    again = _train(config, folder, "--resume", "latest", "--max-steps", str(reached + 1))
    out, _ = again.communicate(timeout=600)
    assert again.returncode == 0, out
    assert ckpt.load_checkpoint(ckpt.find_resume_checkpoint(folder, "latest"))["step"] == reached + 1
