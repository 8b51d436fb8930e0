"""Benchmark of the trainer against RadioDiff's procedure, per phase, timed interleaved in one process.

The trainer runs a shortened schedule of the config (``steps`` timed steps before ``disc_start``
and as many after, each phase after warm-up steps that allocate optimizer state or compile) and
is timed from outside, through a ``StepHook``: right after each of its steps the hook runs one
step of the RadioDiff procedure (``radiodiff_procedure.py``: fp32, the same architecture, its
own weights) in the same phase, so that load changes on a shared machine hit both alike. Per
phase: median seconds per step, steps/s, images/s (batch size / step time: one generator batch a
step), peak memory (resident weights, gradients, optimizer state and EMA, plus the step's
transient peak), the speedup, and the ETA of a 150,000-step run at those speeds.

The step after the timed ones of each phase measures peak memory instead (untimed). Times are
process CPU seconds on a CPU (robust on a shared machine; wall beside them) and wall
seconds with a synchronised GPU. Default config: RadioDiff's own (``radiodiff``, 320 x 320, ch
128, batch 2); ``bench`` is the small CPU one. Without LPIPS weights, a config with
``perceptual_weight > 0`` gets a randomly initialised LPIPS network (the same cost, for timing).
"""
from __future__ import annotations

import itertools
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch

from ..checkpoints import save_checkpoint
from ..config import Config, replace, resolve_config
from ..data import build_dataset
from ..hardware import describe
from ..model import LPIPS, VAEGANLoss, build_loss, build_model
from ..training import StepHook, Trainer, TrainState, capture_rng, checkpoint_dict, seed_everything
from .memory import MB, PeakMemory, tensor_bytes
from .radiodiff_procedure import RadioDiffProcedure

RADIODIFF_CHECKPOINT_MB = 1327.0
ETA_STEPS = 150_000


def checkpoint_megabytes(config_name: str = "radiodiff") -> float:
    """MB (1e6 bytes) of one of our checkpoints for ``config_name``, Adam state included (zero-initialised)."""
    cfg = resolve_config(config_name)
    cfg = replace(cfg, **{"model.lossconfig.perceptual_weight": 0.0,  # LPIPS is never stored
                          "data.image_size": cfg.model.ddconfig.resolution[0]})
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, build_model(cfg), build_loss(cfg), [None], results_folder=tmp, progress=False,
                          device="cpu")
        state = trainer.state
        for opt, params in ((state.opt_ae, state.ae_params), (state.opt_disc, state.disc_params)):
            for p in params:  # the state AdamW holds after its first step, with zeros
                opt.state[p] = {"step": torch.tensor(1.0), "exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.zeros_like(p)}
        checkpoint = checkpoint_dict(state, cfg, rng=[capture_rng()], num_items=1, world=1,
                                     run={"runtime": trainer.runtime.record(), "metrics_offset": 0, "launch": 0})
        path = save_checkpoint(Path(tmp) / "model-1.pt", checkpoint)
        size = path.stat().st_size
        del trainer
    return size / 1e6


class StepTimer(StepHook):
    """Times our training steps (CPU and wall seconds; checkpoint writes excluded) and runs one ``baseline(step)``
    after each, timed the same way, so that both see the same machine load. On ``memory_steps`` it measures
    the transient peak memory of both instead (not timed: the CPU measurement trims the heap first)."""

    def __init__(self, baseline: Callable[[int], None], device: torch.device, memory_steps: set[int]) -> None:
        self.baseline, self.device, self.memory_steps = baseline, device, memory_steps
        self.ours: dict[int, tuple[float, float]] = {}  # step -> (CPU s, wall s)
        self.theirs: dict[int, tuple[float, float]] = {}
        self.memory: dict[int, tuple[int, int]] = {}  # step -> (our transient bytes, theirs)
        self._memory = PeakMemory(device)
        self._start = (0.0, 0.0)
        self._step = -1

    @property
    def memory_exact(self) -> bool:
        """False when the CPU peak could only be read as the process's lifetime peak."""
        return self._memory.exact

    def _begin(self) -> None:
        if self._step in self.memory_steps:
            self._memory.start()
        elif self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self._start = (time.process_time(), time.perf_counter())

    def _end(self) -> tuple[float, float] | int:
        if self._step in self.memory_steps:
            return self._memory.stop()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.process_time() - self._start[0], time.perf_counter() - self._start[1]

    def before_step(self, step: int) -> None:
        """Start timing (or measuring) our step."""
        self._step = step
        self._begin()

    def after_step(self, step: int) -> None:
        """Stop, then time (or measure) one step of the baseline in the same phase."""
        ours = self._end()
        self._begin()
        self.baseline(step)
        theirs = self._end()
        if step in self.memory_steps:
            self.memory[step] = (ours, theirs)
        else:
            self.ours[step], self.theirs[step] = ours, theirs


def _loss_for_timing(cfg: Config) -> VAEGANLoss:
    """The config's loss; with LPIPS on but no weights file, a randomly initialised LPIPS (same cost)."""
    lc = cfg.model.lossconfig
    if lc.perceptual_weight > 0 and not lc.lpips_weights:
        return VAEGANLoss(lc, LPIPS())
    return build_loss(cfg)


def bench_config(config: str | Path | Config, precision: str, compile: bool, deterministic: bool,
                 steps: int, warmup: int, channels_last: bool = False) -> Config:
    """``config`` shortened to ``warmup + steps + 1`` steps a phase (the last one measures memory), on
    synthetic maps of its resolution."""
    cfg = resolve_config(config)
    size = cfg.model.ddconfig.resolution[0]
    per_phase = warmup + steps + 1
    return replace(cfg, **{
        "model.lossconfig.disc_start": per_phase, "trainer.train_num_steps": 2 * per_phase,
        "trainer.save_and_sample_every": 10**9, "trainer.log_freq": 10**9, "trainer.mixed_precision": precision,
        "trainer.compile": compile, "trainer.deterministic": deterministic, "trainer.channels_last": channels_last,
        "trainer.gradient_accumulate_every": 1,
        "data.name": "synthetic", "data.image_size": size, "data.num_maps": 8 * cfg.data.batch_size,
        "data.val_fraction": 0.0, "data.test_fraction": 0.0,
    })


def _phase(timer: StepTimer, first: int, steps: int, batch: int, resident: tuple[int, int], cpu: bool) -> dict:
    """Medians over steps ``first .. first + steps - 1``; memory of step ``first + steps``."""
    col, timed, out = (0 if cpu else 1), range(first, first + steps), {}
    for who, rows in enumerate((timer.ours, timer.theirs)):
        t = statistics.median(rows[s][col] for s in timed)
        out[("ours", "radiodiff_procedure")[who]] = {
            "seconds_per_step": t, "steps_per_second": 1 / t, "images_per_second": batch / t,
            "wall_seconds_per_step": statistics.median(rows[s][1] for s in timed),
            "peak_memory_mb": (resident[who] + timer.memory[first + steps][who]) / MB}
    out["speedup"] = out["radiodiff_procedure"]["seconds_per_step"] / out["ours"]["seconds_per_step"]
    out["steps_timed"] = steps
    return out


def _eta_hours(pre: float, gan: float, disc_start: int) -> float:
    before = min(max(disc_start, 0), ETA_STEPS)
    return (before * pre + (ETA_STEPS - before) * gan) / 3600


def _resident(state: TrainState) -> int:
    """Bytes the training state keeps between steps: weights, gradients, optimizer moments, EMA."""
    params = list(state.model.parameters()) + list(state.loss.parameters())
    moments = [v for opt in (state.opt_ae, state.opt_disc) for s in opt.state.values() for v in s.values()
               if isinstance(v, torch.Tensor)]
    shadow = list(state.ema.shadow.values()) if state.ema is not None else []
    return tensor_bytes(params + [p.grad for p in params] + moments + shadow)


def _build(cfg: Config, device: str | None, folder: str) -> tuple[Trainer, RadioDiffProcedure]:
    dataset = build_dataset(cfg, "train")
    cached = [dataset[i] for i in range(len(dataset))]  # map generation is not what is timed, on either side
    seed_everything(cfg.trainer.seed)
    trainer = Trainer(cfg, build_model(cfg), _loss_for_timing(cfg), cached, results_folder=folder, progress=False,
                      device=device)
    batches = [torch.stack([cached[i]["image"] for i in range(j, j + cfg.data.batch_size)]).to(trainer.device)
               for j in range(0, len(cached) - cfg.data.batch_size + 1, cfg.data.batch_size)]
    baseline = RadioDiffProcedure(build_model(cfg).to(trainer.device), _loss_for_timing(cfg).to(trainer.device),
                                  itertools.cycle(batches))
    return trainer, baseline


def run(config: str | Path = "radiodiff", device: str | None = None, precision: str = "no", compile: bool = False,
        deterministic: bool = True, steps: int = 5, threads: int | None = 1, channels_last: bool = False,
        with_checkpoint_size: bool = False) -> dict:
    """Per-phase speed and memory of our trainer and of RadioDiff's procedure, interleaved (see the module doc)."""
    old_threads = torch.get_num_threads()
    warmup = 2 if compile else 1
    cfg = bench_config(config, precision, compile, deterministic, steps, warmup, channels_last)
    original_disc_start = resolve_config(config).model.lossconfig.disc_start
    try:
        with tempfile.TemporaryDirectory() as tmp:
            trainer, baseline = _build(cfg, device, tmp)
            if threads and trainer.device.type == "cpu":
                torch.set_num_threads(threads)
            start = cfg.model.lossconfig.disc_start
            timer = StepTimer(baseline.step, trainer.device, {warmup + steps, start + warmup + steps})
            trainer.hooks.append(timer)
            trainer.train()
            resident = (_resident(trainer.state), baseline.resident_bytes())
            out = _report(cfg, trainer, timer, resident, warmup, steps, original_disc_start)
        if with_checkpoint_size:
            mb = checkpoint_megabytes("radiodiff")
            out["checkpoint_mb_radiodiff_config"] = mb
            out["checkpoint_fraction_of_radiodiff"] = mb / RADIODIFF_CHECKPOINT_MB
        return out
    finally:
        torch.set_num_threads(old_threads)


def _report(cfg: Config, trainer: Trainer, timer: StepTimer, resident: tuple[int, int], warmup: int, steps: int,
            original_disc_start: int) -> dict[str, Any]:
    cpu = trainer.device.type == "cpu"
    start = cfg.model.lossconfig.disc_start
    phases = {"pre_disc": _phase(timer, warmup, steps, cfg.data.batch_size, resident, cpu),
              "gan": _phase(timer, start + warmup, steps, cfg.data.batch_size, resident, cpu)}
    eta = {who: _eta_hours(phases["pre_disc"][who]["seconds_per_step"], phases["gan"][who]["seconds_per_step"],
                           original_disc_start) for who in ("ours", "radiodiff_procedure")}
    runtime = trainer.runtime
    return {
        # the precision that ran (bf16 asked for on hardware without bf16 units runs fp32: runtime.notes says so)
        "hardware": describe(trainer.device, runtime.precision), "precision_asked": cfg.trainer.mixed_precision,
        "notes": list(runtime.notes),
        "config": cfg.source, "runtime": runtime.record(), "batch_size": cfg.data.batch_size,
        "resolution": cfg.model.ddconfig.resolution, "ch": cfg.model.ddconfig.ch,
        "timing": ("median process CPU seconds per step" if cpu else "median wall seconds per step (GPU synchronised)")
                  + "; the RadioDiff procedure is fp32 and eager, timed right after each of our steps",
        "memory": "resident weights, gradients, optimizer state and EMA + the step's transient peak"
                  + ("" if timer.memory_exact else " (process lifetime peak: VmHWM could not be reset)"),
        "phases": phases,
        "eta_hours_150k_steps": {**eta, "disc_start": original_disc_start},
    }
