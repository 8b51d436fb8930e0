"""Two CPU processes (gloo, DDP) via torchrun and via accelerate launch: identical weights on both ranks,
equal to one process accumulating the same micro-batches, logged values the mean over ranks, only
rank 0 writes, a bitwise exact two-process resume, and the checkpoint resumes in a single process."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from radiodiff_lib import checkpoints as ckpt
from radiodiff_lib.config import save_config
from tests.helpers.configs import make_tiny_config
from tests.helpers.training import assert_checkpoints_equal, current_steps, metric_values

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

SCRIPT = """
import sys, torch
from radiodiff_lib.config import load_config
from radiodiff_lib.checkpoints import model_state
from radiodiff_lib.model.losses import build_loss
from radiodiff_lib.model import build_model
from radiodiff_lib.training import train
from radiodiff_lib.training.distributed import Dist
cfg = load_config(sys.argv[1])
max_steps = int(sys.argv[4]) if len(sys.argv) > 4 else None
resume = "latest" if len(sys.argv) > 5 else None
torch.manual_seed(0)
model, loss = build_model(cfg), build_loss(cfg)
result = train(cfg, results_folder=sys.argv[2], model=model, loss=loss, progress=False, max_steps=max_steps,
               resume=resume)
rank = Dist().rank
torch.save({"state": model_state(model, loss), "world": Dist().world, "step": result.step},
           f"{sys.argv[2]}/../rank{rank}-{sys.argv[3]}.pt")
"""


def _torchrun(port: int) -> list[str]:
    return [str(BIN / "torchrun"), "--nproc_per_node", "2", "--master_port", str(port)]


def _run(cmd: list[str], tmp_path: Path) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.parametrize("launcher", ["torchrun", "accelerate"])
def test_two_process_gloo_run(tmp_path: Path, launcher: str):
    cfg = make_tiny_config(**{"trainer.train_num_steps": 6, "model.lossconfig.disc_start": 3,
                              "trainer.save_and_sample_every": 2})
    cfg_path = save_config(cfg, tmp_path / "tiny.yaml")
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    folder = tmp_path / "run"
    if launcher == "torchrun":
        head = _torchrun(29517)
    else:
        head = [str(BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29518"]
    _run(head + [str(script), str(cfg_path), str(folder), launcher], tmp_path)
    r0 = torch.load(tmp_path / f"rank0-{launcher}.pt", weights_only=True)
    r1 = torch.load(tmp_path / f"rank1-{launcher}.pt", weights_only=True)
    assert r0["world"] == r1["world"] == 2
    assert r0["step"] == r1["step"] == 6
    for k, v in r0["state"].items():
        assert torch.equal(v, r1["state"][k]), f"{k} differs between ranks"
    # only rank 0 wrote: one launch, each step logged once, one TensorBoard file
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in records].count("launch") == 1
    assert [r["step"] for r in records if r["kind"] == "step"] == list(range(6))
    assert len(list(folder.glob("events.out.tfevents.*"))) == 1
    final = ckpt.load_checkpoint(folder / "model-3.pt")
    assert len(final["rng"]) == 2
    assert final["data_state"]["world"] == 2
    assert all(torch.equal(final["model"][k], v) for k, v in r0["state"].items())
    if launcher == "torchrun":
        _assert_equal_to_one_process(cfg, folder, r0["state"], tmp_path)
    # the two-process checkpoint resumes in this single process
    from radiodiff_lib.data import build_dataset
    from radiodiff_lib.training import train

    result = train(cfg, resume=2, max_steps=5, results_folder=folder, dataset=build_dataset(cfg, "train"), progress=False)
    assert result.step == 5
    assert result.resumed_from.endswith("model-2.pt")
    rewound = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert rewound[-1]["kind"] == "step"
    assert rewound[-1]["step"] == 4
    assert rewound[-1]["launch"] == 1


def _assert_equal_to_one_process(cfg, folder: Path, state: dict, tmp_path: Path) -> None:
    """One process accumulating the two ranks' micro-batches (same samples, same noise, same BatchNorm
    batches) ends with the same weights and logs the same values, to float tolerance."""
    from radiodiff_lib.checkpoints import model_state
    from radiodiff_lib.data import build_dataset
    from radiodiff_lib.model import build_loss, build_model
    from radiodiff_lib.training import train

    one = make_tiny_config(**{"trainer.train_num_steps": 6, "model.lossconfig.disc_start": 3,
                              "trainer.save_and_sample_every": 2, "trainer.gradient_accumulate_every": 2})
    torch.manual_seed(0)
    model, loss = build_model(one), build_loss(one)
    train(one, results_folder=tmp_path / "one", model=model, loss=loss, dataset=build_dataset(one, "train"),
          progress=False)
    single = model_state(model, loss)
    weights = [k for k in state if "running_" not in k and "num_batches" not in k]  # BatchNorm statistics: rank 0's
    worst = max((state[k] - single[k]).abs().max().item() for k in weights)
    assert worst < 1e-5, f"two processes differ from one by {worst}"
    # (here even bitwise: halving the loss scales every gradient exactly, as DDP's division by 2 does)
    layouts = [(c["data_state"]["world"], c["config"]["trainer"]["gradient_accumulate_every"])
               for c in (ckpt.load_checkpoint(folder / "model-3.pt"), ckpt.load_checkpoint(tmp_path / "one" / "model-3.pt"))]
    assert layouts == [(2, 1), (1, 2)]
    two_rows, one_rows = (current_steps(f) for f in (folder, tmp_path / "one"))
    assert sorted(two_rows) == sorted(one_rows) == list(range(6))
    for step, row in two_rows.items():
        for key, value in row.items():
            if key.startswith("train/"):
                assert value == pytest.approx(one_rows[step][key], rel=1e-4, abs=1e-6), (step, key)


def test_two_process_resume_is_bitwise(tmp_path: Path):
    cfg = make_tiny_config(**{"trainer.train_num_steps": 6, "model.lossconfig.disc_start": 3,
                              "trainer.save_and_sample_every": 2})
    cfg_path = save_config(cfg, tmp_path / "tiny.yaml")
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    _run(_torchrun(29521) + [str(script), str(cfg_path), str(tmp_path / "straight"), "straight"], tmp_path)
    _run(_torchrun(29522) + [str(script), str(cfg_path), str(tmp_path / "run"), "first", "3"], tmp_path)
    _run(_torchrun(29523) + [str(script), str(cfg_path), str(tmp_path / "run"), "second", "6", "resume"], tmp_path)
    assert assert_checkpoints_equal(tmp_path / "straight" / "model-3.pt", tmp_path / "run" / "model-3.pt") > 100
    assert metric_values(current_steps(tmp_path / "run")) == metric_values(current_steps(tmp_path / "straight"))
