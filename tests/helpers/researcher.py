"""The runs a RadioDiff researcher brought (issue 18), rebuilt from the reference log formats.

- ``finetune_then_fresh``: a second-stage folder where a short fine-tuning launch (5,000 total steps,
  loss about 0.2) is followed by a new launch from step 0 with another config (80,000 total steps,
  loss about 2.5): a restart, another experiment in the same folder.
- ``resumed_at_35000``: a first-stage log that begins at step 35,000 with ``resume_milestone: 7`` and
  ``save_and_sample_every: 5000``, LR 5e-6 (printed as 0.00000), gradient_accumulate_every 1 (the
  discriminator is never stepped), logged to the end of its 150,000 steps with a flat rec_loss there.
- ``crashed_then_relaunched``: a first-stage folder where a launch with batch size 4 dies after one
  logged step (a traceback), and the same experiment with batch size 2 is launched again from step 0.
"""
from __future__ import annotations

import copy
import math
import random
from datetime import timedelta
from pathlib import Path

from tests.helpers.ldmfactory import LDM_START, ldm_config, write_ldm_log
from tests.helpers.logfactory import START, radiodiff_config, write_radiodiff_log

FINETUNE_CKPT = "./radiodiff_LDM_pretrained/model-16.pt"


def vae_lr(step: int, lr: float = 5e-6, min_lr: float = 5e-7, total: int = 150000) -> float:
    """train_vae.py's LR at a step, as its text line prints it (before the scheduler steps)."""
    return lr * max((1 - step / total) ** 0.95, min_lr)


def finetune_then_fresh(folder) -> dict:
    """The restart: a fine-tune launch (0..5000, loss ~0.2) then a fresh launch (0..8000, loss ~2.5)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tune = ldm_config(train_num_steps=5000, lr=5e-6)
    tune["finetune"] = {"ckpt_path": FINETUNE_CKPT}
    fresh = ldm_config(train_num_steps=80000, lr=2e-5)
    fresh["finetune"] = {"ckpt_path": None}

    def noisy(level, seed, lr, total):
        def values(step):
            x = level * (1 + 0.05 * random.Random(seed * 7919 + step).gauss(0, 1))
            return {"loss_simple": x, "loss_vlb": 0.0, "total_loss": x,
                    "lr": lr * max((1 - step / total) ** 0.96, 0.1)}
        return values
    a = folder / "2025-10-15-13-07_.log"
    b = folder / "2025-10-16-09-00_.log"
    write_ldm_log(a, range(0, 5001, 100), config=tune, values=noisy(0.2, 1, 5e-6, 5000))
    write_ldm_log(b, range(0, 8001, 100), config=fresh, values=noisy(2.5, 2, 2e-5, 80000),
                  start_time=LDM_START + timedelta(hours=20))
    return {"tune": a, "fresh": b, "ratio": 2.5 / 0.2, "tune_entries": 51, "fresh_entries": 81}


def resumed_at_35000(folder) -> dict:
    """The provenance and LR case: one first-stage log from step 35,000 (resume_milestone 7) to 149,900."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = radiodiff_config(gradient_accumulate_every=1)
    cfg["trainer"].update(resume_milestone=7, min_lr=5e-7)

    def values(step):
        rec = (0.02 + 0.06 * math.exp(-step / 20000.0)) * (1 + 0.02 * random.Random(step).gauss(0, 1))
        nll = rec * 20000.0
        kl = 60000.0 + 0.05 * step
        factor = 1.0 if step >= 50001 else 0.0
        g = -0.4 + 0.001 * ((step // 100) % 7)
        total = nll + 1e-6 * kl + 5000.0 * factor * g
        return ({"train/total_loss": total, "train/logvar": 0.0, "train/kl_loss": kl, "train/nll_loss": nll,
                 "train/rec_loss": rec, "train/d_weight": 5000.0, "train/disc_factor": factor, "train/g_loss": g,
                 "lr": vae_lr(step)}, None)
    path = folder / "2025-03-09-10-00_.log"
    spec = write_radiodiff_log(path, range(35000, 150000, 100), config=cfg, gen_only=True, values=values,
                               start_time=START + timedelta(days=7))
    return {"log": path, "config": cfg, "first": 35000, "latest": 149900, "spec": spec}


def crashed_then_relaunched(folder) -> dict:
    """A launch with batch size 4 dies after one logged step; the same run with batch size 2 starts again."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = radiodiff_config(disc_start=2501, train_num_steps=10000)
    big = copy.deepcopy(cfg)
    big["data"]["batch_size"] = 4
    a = folder / "2025-03-02-09-14_.log"
    b = folder / "2025-03-02-10-00_.log"
    trace = ["Traceback (most recent call last):", '  File "train_vae.py", line 280, in train',
             "    loss.backward()", "RuntimeError: CUDA out of memory. Tried to allocate 1.25 GiB"]
    write_radiodiff_log(a, [0], config=big, disc_start=2501, total_steps=10000, extra_lines={1: trace})
    write_radiodiff_log(b, range(0, 3001, 100), config=cfg, disc_start=2501, total_steps=10000,
                        start_time=START + timedelta(minutes=46))
    return {"crashed": a, "relaunch": b, "error": trace[-1]}
