"""Exact-resume check on any device: a run stopped half-way and resumed must end bitwise equal to one that
never stopped (weights, optimizers, EMA, RNG, data position). ``gpu_check.sh`` runs it on CUDA in
deterministic mode, and under ``torchrun`` with two GPUs.

    python -m radiodiff_lib.bench.resume_check [--config radiodiff] [--device cuda] [--steps 6] [--json F]
    torchrun --nproc_per_node 2 -m radiodiff_lib.bench.resume_check --out NEW_FOLDER ...
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from ..checkpoints import checkpoint_differences, load_checkpoint
from ..config import Config, replace, resolve_config
from ..data import build_dataset
from ..formatting import to_jsonable
from ..hardware import describe
from ..vocabulary import PRECISIONS
from ..model import LPIPS, VAEGANLoss, build_loss, build_model
from ..training import seed_everything, train


def check_config(config: str | Path, steps: int, precision: str, compile: bool) -> Config:
    """``config`` cut to ``steps`` steps (the discriminator from the middle on), synthetic maps, deterministic."""
    cfg = resolve_config(config)
    half = steps // 2
    return replace(cfg, **{
        "model.lossconfig.disc_start": half, "trainer.train_num_steps": steps, "trainer.save_and_sample_every": half,
        "trainer.log_freq": 1, "trainer.mixed_precision": precision, "trainer.compile": compile,
        "trainer.deterministic": True, "trainer.ema_update_every": 2, "data.name": "synthetic",
        "data.image_size": cfg.model.ddconfig.resolution[0], "data.num_maps": 16 * cfg.data.batch_size,
    })


def _loss(cfg: Config) -> VAEGANLoss:
    """The config's loss; LPIPS without a weights file gets fixed random weights (the same in every launch)."""
    lc = cfg.model.lossconfig
    if lc.perceptual_weight > 0 and not lc.lpips_weights:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(1234)
            return VAEGANLoss(lc, LPIPS())
    return build_loss(cfg)


def _launch(cfg: Config, folder: Path, device: str | None, dataset: Any, **kwargs: Any) -> Any:
    seed_everything(cfg.trainer.seed)
    model, loss = build_model(cfg), _loss(cfg)
    return train(cfg, results_folder=folder, model=model, loss=loss, dataset=dataset, progress=False,
                 device=device, **kwargs)


def run(config: str | Path = "radiodiff", device: str | None = None, steps: int = 6, precision: str = "no",
        compile: bool = False, out: str | Path | None = None) -> dict:
    """Train ``steps`` straight, and ``steps // 2`` + a resume to ``steps``; compare the last checkpoints bitwise."""
    cfg = check_config(config, steps, precision, compile)
    dataset = build_dataset(cfg, "train")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(out) if out else Path(tmp)
        straight = _launch(cfg, root / "straight", device, dataset)
        _launch(cfg, root / "resumed", device, dataset, max_steps=steps // 2)
        resumed = _launch(cfg, root / "resumed", device, dataset, resume="latest")
        diffs, tensors = checkpoint_differences(straight.last_checkpoint, resumed.last_checkpoint)
        runtime = load_checkpoint(resumed.last_checkpoint)["runtime"]
    return {"hardware": describe(runtime["device"], runtime["precision"]),
            "bitwise_equal": not diffs and tensors > 0, "tensors_compared": tensors, "differences": diffs[:20],
            "steps": steps, "stopped_at": steps // 2, "runtime": runtime}


def main(argv: list[str] | None = None) -> int:
    """Command line: run the check, print (and write) the result; exit 1 when the runs differ."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="radiodiff")
    p.add_argument("--device", choices=["cpu", "cuda"])
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--precision", choices=PRECISIONS, default="no")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--out", help="keep the two runs' folders here")
    p.add_argument("--json", help="write the result here")
    args = p.parse_args(argv)
    main_rank = int(os.environ.get("RANK", "0")) == 0
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not args.out:
        p.error("with several processes give --out (a new folder all of them share)")
    result = run(args.config, args.device, args.steps, args.precision, args.compile, args.out)
    text = json.dumps(to_jsonable(result), indent=2)
    if main_rank:
        print(text)
    if args.json and main_rank:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text + "\n")
    return 0 if result["bitwise_equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
