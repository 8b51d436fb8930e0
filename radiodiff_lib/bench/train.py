"""Benchmark of the trainer: seconds per step in each phase, step efficiency, peak memory, checkpoint size.

Config ``resolve_config("bench")`` (1 channel, ch 64, ch_mult [1, 2, 4], 2 res blocks, 128 x 128,
batch 2, no LPIPS; disc_start 11). Efficiency = median time of a bare VAE forward + backward +
AdamW step on one batch / median time of a full training step of the phase (everything the loop
does per step except writing checkpoints). A bare step runs right after every training step
(untimed by the trainer), so that load changes on a shared machine hit both alike; the
efficiency of a phase pairs its steps with the bare steps run beside them. Also reports the bytes of one exact-resume
checkpoint for RadioDiff's ch=128 config (vs the 1,327 MB RadioDiff writes for that model).
"""
from __future__ import annotations

import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch

from ..checkpoints import save_checkpoint
from ..config import replace, resolve_config
from ..data import build_dataset
from ..model import build_loss, build_model
from ..training import StepHook, Trainer, capture_rng, seed_everything

RADIODIFF_CHECKPOINT_MB = 1327.0


def _bare_step(model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor) -> tuple[float, float]:
    """(wall, CPU) seconds of one plain VAE step: forward, L1+L2 and KL loss, backward, AdamW."""
    t0, c0 = time.perf_counter(), time.process_time()
    opt.zero_grad(set_to_none=True)
    rec, posterior = model(x)
    loss = ((x - rec).abs() + (x - rec) ** 2).sum() / x.shape[0] + 1e-6 * posterior.kl().sum() / x.shape[0]
    loss.backward()
    opt.step()
    return time.perf_counter() - t0, time.process_time() - c0


def checkpoint_megabytes(config_name: str = "radiodiff") -> float:
    """MB (1e6 bytes) of one of our checkpoints for ``config_name``, Adam state included (zero-initialised)."""
    cfg = replace(resolve_config(config_name), **{"model.lossconfig.perceptual_weight": 0.0})  # LPIPS is never stored
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, build_model(cfg), build_loss(cfg), [None], results_folder=tmp, progress=False)
        for opt, params in ((trainer.opt_ae, trainer.ae_params), (trainer.opt_disc, trainer.disc_params)):
            for p in params:  # the state AdamW holds after its first step, with zeros
                opt.state[p] = {"step": torch.tensor(1.0), "exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.zeros_like(p)}
        path = save_checkpoint(Path(tmp) / "model-1.pt", trainer.state_dict([capture_rng()], 0))
        size = path.stat().st_size
        del trainer
    return size / 1e6


class StepTimer(StepHook):
    """Times every training step (wall and process CPU seconds, checkpoint writes excluded) and runs
    one bare VAE step after each, untimed by the trainer, so that both see the same machine load."""

    def __init__(self, bare_step) -> None:
        self.bare_step = bare_step
        self.steps: list[tuple[int, float, float]] = []  # (step, wall, CPU)
        self.bare: dict[int, tuple[float, float]] = {}
        self._start = (0.0, 0.0)

    def before_step(self, step: int) -> None:
        self._start = (time.perf_counter(), time.process_time())

    def after_step(self, step: int) -> None:
        self.steps.append((step, time.perf_counter() - self._start[0], time.process_time() - self._start[1]))
        self.bare[step] = self.bare_step()


def _median(rows: list[tuple[float, float]], col: int) -> float:
    return statistics.median(r[col] for r in rows)


def run(threads: int | None = 1, disc_start: int = 6, steps: int = 12,
        with_checkpoint_size: bool = True) -> dict:
    """``{"seconds_per_step": {"pre_disc", "gan"}, "efficiency": {...}, "peak_rss_mb", "checkpoint_mb_radiodiff_config"}``.

    Times are process CPU seconds with one thread (robust on a shared machine; wall seconds are
    reported beside them). ``disc_start``/``steps`` shorten the bench config's schedule so that
    each phase gets ``disc_start - 1`` timed steps.
    """
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        cfg = replace(resolve_config("bench"), **{"model.lossconfig.disc_start": disc_start,
                                                  "trainer.train_num_steps": steps})
        dataset = build_dataset(cfg, "train")
        x = torch.stack([dataset[i]["image"] for i in range(cfg.data.batch_size)])
        seed_everything(0)
        bare_model = build_model(cfg)
        bare_opt = torch.optim.AdamW(bare_model.parameters(), lr=cfg.trainer.lr)
        _bare_step(bare_model, bare_opt, x)  # warm-up: allocates the optimizer state
        timer = StepTimer(lambda: _bare_step(bare_model, bare_opt, x))
        seed_everything(cfg.trainer.seed)
        with tempfile.TemporaryDirectory() as tmp:
            trainer = Trainer(cfg, build_model(cfg), build_loss(cfg), dataset, results_folder=tmp, progress=False,
                              hooks=[timer])
            trainer.train(max_steps=steps)
        timed, bare_by_step = timer.steps, timer.bare
        # the first step of each phase allocates optimizer state: leave it out
        pre = [(w, c) for s, w, c in timed if 0 < s < disc_start]
        gan = [(w, c) for s, w, c in timed if s > disc_start]
        bare = [bare_by_step[s] for s, _, _ in timed if s > 0 and s != disc_start]
        bare_pre = [bare_by_step[s] for s, _, _ in timed if 0 < s < disc_start]
        bare_gan = [bare_by_step[s] for s, _, _ in timed if s > disc_start]
        c_bare, c_pre, c_gan = _median(bare, 1), _median(pre, 1), _median(gan, 1)
        out = {
            "seconds_per_step": {"pre_disc": c_pre, "gan": c_gan},
            "efficiency": {"pre_disc": _median(bare_pre, 1) / c_pre, "gan": _median(bare_gan, 1) / c_gan},
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            "bare_vae_step_seconds": c_bare,
            "wall_seconds_per_step": {"pre_disc": _median(pre, 0), "gan": _median(gan, 0), "bare": _median(bare, 0)},
            "timing": "median process CPU seconds per step, 1 thread",
            "steps_timed": {"pre_disc": len(pre), "gan": len(gan), "bare": len(bare)},
            "threads": torch.get_num_threads(),
        }
        if with_checkpoint_size:
            mb = checkpoint_megabytes("radiodiff")
            out["checkpoint_mb_radiodiff_config"] = mb
            out["checkpoint_fraction_of_radiodiff"] = mb / RADIODIFF_CHECKPOINT_MB
        return out
    finally:
        torch.set_num_threads(old_threads)
