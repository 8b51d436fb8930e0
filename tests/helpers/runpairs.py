"""Pairs of RadioDiff first-stage runs for comparison tests: the same curve under independent noise, or
one run scaled far beyond its noise; configs that differ in chosen keys; a run restarted in a folder
that holds another experiment."""
from __future__ import annotations

import copy
import random
from datetime import timedelta
from pathlib import Path

from tests.helpers.logfactory import START, default_values, radiodiff_config, write_radiodiff_log

DISC_START = 2501
TOTAL = 10000


def noisy_values(seed: int, scale: float = 1.0, noise: float = 0.1):
    """values(step) for write_radiodiff_log: logfactory's curves, rec_loss (and nll/total with it) times
    ``scale`` and independent gaussian noise of relative size ``noise`` (seeded per run and step)."""
    def values(step: int):
        gen, disc = default_values(step, DISC_START, train_num_steps=TOTAL)
        rnd = random.Random(seed * 1_000_003 + step)
        gen["train/rec_loss"] *= scale * (1 + noise * rnd.gauss(0, 1))
        gen["train/nll_loss"] = gen["train/rec_loss"] * 20000.0
        gen["train/total_loss"] = (gen["train/nll_loss"] + 1e-6 * gen["train/kl_loss"]
                                   + gen["train/d_weight"] * gen["train/disc_factor"] * gen["train/g_loss"])
        return gen, disc
    return values


def write_run(folder, *, seed: int, scale: float = 1.0, every: int = 100, end: int = 5000,
              config: dict | None = None, gen_only: bool = False) -> Path:
    """A results folder holding one RadioDiff text log of steps 0..end every ``every`` steps."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = config if config is not None else radiodiff_config(disc_start=DISC_START, train_num_steps=TOTAL,
                                                             gradient_accumulate_every=1 if gen_only else 2)
    write_radiodiff_log(folder / "2025-03-02-09-14_.log", range(0, end + 1, every), config=cfg, disc_start=DISC_START,
                        total_steps=TOTAL, gen_only=gen_only, values=noisy_values(seed, scale))
    return folder


def restarted_pair(tmp_path) -> tuple[Path, Path]:
    """(a, b): folder a holds another experiment (another data set, rec_loss 3x) logged to step 6000, then a
    restart at step 3000 to 6000 with b's config; b is one run of steps 0..6000. The other experiment's
    rows 0..2900 stay current rows of a's Run, but its analysis sets them aside."""
    cfg = radiodiff_config(disc_start=DISC_START, train_num_steps=TOTAL)
    other = copy.deepcopy(cfg)
    other["data"]["name"] = "IRT4"
    a = Path(tmp_path) / "a"
    a.mkdir(parents=True)
    write_radiodiff_log(a / "2025-03-02-09-14_.log", range(0, 6001, 100), config=other, disc_start=DISC_START,
                        total_steps=TOTAL, values=noisy_values(3, scale=3.0))
    write_radiodiff_log(a / "2025-03-04-09-14_.log", range(3000, 6001, 100), config=cfg, disc_start=DISC_START,
                        total_steps=TOTAL, values=noisy_values(1), start_time=START + timedelta(days=2))
    return a, write_run(Path(tmp_path) / "b", seed=2, end=6000, config=cfg)
