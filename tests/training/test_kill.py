"""Crash safety in real processes: SIGTERM stops cleanly, SIGKILL at random moments (and in the
middle of a checkpoint write) followed by ``--resume latest`` ends in the straight run's state."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from radiodiff_lib import checkpoints as ckpt
from radiodiff_lib.config import save_config
from tests.helpers.configs import make_tiny_config
from tests.helpers.training import assert_checkpoints_equal, current_steps, metric_values

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
STEPS = 16

# Kills itself with SIGKILL halfway through writing its N-th checkpoint file.
KILL_IN_WRITE = """
import os, signal, sys, torch
n_calls = int(os.environ["KILL_AT_SAVE"])
real_save = torch.save
def save(obj, f, *a, **k):
    global n_calls
    n_calls -= 1
    if n_calls == 0:
        import io
        buf = io.BytesIO(); real_save(obj, buf, *a, **k)
        f.write(buf.getvalue()[: len(buf.getvalue()) // 2]); f.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    return real_save(obj, f, *a, **k)
torch.save = save
from radiodiff_lib.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _config(tmp_path: Path) -> Path:
    cfg = make_tiny_config(**{"trainer.train_num_steps": STEPS, "trainer.save_and_sample_every": 1,
                               "model.lossconfig.disc_start": 5, "trainer.keep_last": 3})
    return save_config(cfg, tmp_path / "tiny.yaml")


def _launch(args: list[str], folder: Path, env_extra: dict | None = None, script: str | None = None) -> subprocess.Popen:
    resume = ["--resume", "latest"] if ckpt.list_checkpoints(folder) else []
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), **(env_extra or {})}
    head = [sys.executable, "-c", script] if script else [sys.executable, "-m", "radiodiff_lib.cli"]
    return subprocess.Popen(head + args + resume, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _wait_for_step(folder: Path, step: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        rows = current_steps(folder) if (folder / "metrics.jsonl").exists() else {}
        if rows and max(rows) >= step:
            return
        if proc.poll() is not None:
            raise AssertionError(f"training ended early: {proc.stdout.read()}")
        time.sleep(0.05)
    raise AssertionError("training did not reach the step in time")


def test_sigterm_then_sigkill_anywhere_then_resume_is_exact(tmp_path: Path):
    from radiodiff_lib.data import build_dataset
    from radiodiff_lib.training import train

    cfg_path = _config(tmp_path)
    args = ["train", "--config", str(cfg_path), "--no-progress"]
    straight = tmp_path / "straight"
    from radiodiff_lib.config import load_config

    cfg = load_config(cfg_path)
    train(cfg, results_folder=straight, dataset=build_dataset(cfg, "train"), progress=False)

    run = tmp_path / "run"
    run_args = args + ["--results-folder", str(run)]
    # 1. SIGTERM: finish the step, checkpoint, exit 0
    proc = _launch(run_args, run)
    _wait_for_step(run, 1, proc)
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0, out
    assert "training interrupted at step" in out
    stopped = ckpt.load_checkpoint(ckpt.list_checkpoints(run)[-1])["step"]
    assert "[Interrupted] SIGTERM" in (run / "train.log").read_text()

    # 2. SIGKILL in the middle of the second checkpoint write of the next launch
    proc = _launch(run_args, run, {"KILL_AT_SAVE": "2"}, script=KILL_IN_WRITE)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == -signal.SIGKILL, out
    assert list(run.glob(".model-*.tmp-*")), "the kill should leave a half-written temporary file"
    assert ckpt.load_checkpoint(ckpt.list_checkpoints(run)[-1])["step"] == stopped + 1  # the first save survived

    # 3. SIGKILL at random moments after training started (a launch may get far: steps take ~50 ms)
    rng = random.Random(1234)
    for _ in range(2):
        start = max(current_steps(run)) + 1
        if start >= STEPS - 1:
            break  # too little left to kill a launch in the middle of it
        proc = _launch(run_args, run)
        _wait_for_step(run, start, proc)
        time.sleep(rng.uniform(0.0, 0.6))
        proc.kill()
        proc.wait(timeout=60)
    # 4. resume to the end
    proc = _launch(run_args, run)
    out = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, out
    assert not list(run.glob(".model-*.tmp-*"))  # stale temporaries cleaned up
    final = ckpt.list_checkpoints(run)[-1]
    assert final.name == f"model-{STEPS}.pt"
    assert_checkpoints_equal(straight / final.name, final)
    assert metric_values(current_steps(run)) == metric_values(current_steps(straight))
