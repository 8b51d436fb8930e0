"""The two-phase VAE-GAN trainer: exact resume, atomic checkpoints, RadioDiff-shaped logs.

Phases: VAE only while ``step < disc_start``, then the discriminator is trained every step.
``gradient_accumulate_every`` is real accumulation over micro-batches. A step is computed by
``engine.StepEngine`` (DDP with several processes, no host round trip); this module runs the
loop: logging, non-finite reports, checkpoints, signals. Only the main process writes logs and
checkpoints.
"""
from __future__ import annotations

import os
import signal
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import torch

from .. import checkpoints as ckpt
from ..config import Config, config_to_dict, dump_config, save_config
from ..config_checks import config_warnings
from ..errors import ConfigWarning, TrainingError
from ..vocabulary import CONFIG_FILE, D_WEIGHT, DISCRIMINATOR_METRICS, G_LOSS, GENERATOR_METRICS
from .checkpointing import TrainerCheckpoints
from .distributed import Dist
from .engine import StepEngine, make_adamw
from .health import N_GENERATOR, NonFiniteWatch
from .notes import keep_previous_config, radiodiff_differences
from .run_log import NullLogger, RunLogger
from .runtime import Runtime, determinism
from .state import EMA, LRMultiplier, ResumableBatchSampler, seed_everything


@dataclass
class TrainResult:
    """What a training launch did."""

    step: int
    target_step: int
    results_folder: Path
    last_checkpoint: Path | None
    interrupted: bool = False
    resumed_from: str | None = None
    seconds: float = 0.0
    launch: int = 0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A few human-readable lines about the launch."""
        how = "interrupted" if self.interrupted else "finished"
        lines = [f"training {how} at step {self.step}/{self.target_step} in {self.seconds:.1f} s (launch {self.launch})",
                 f"results folder: {self.results_folder}",
                 f"last checkpoint: {self.last_checkpoint or 'none'}"]
        if self.resumed_from:
            lines.append(f"resumed from: {self.resumed_from}")
        if self.interrupted:
            lines.append(f"resume with: radiodiff resume {self.results_folder}")
        return "\n".join(lines)


class StepHook:
    """Called around every optimizer step (e.g. by the benchmark, to time steps); both do nothing here.

    ``before_step`` runs right before the step's first batch is drawn, ``after_step`` right after
    the step (optimizer, schedulers, EMA), before any checkpoint is written.
    """

    def before_step(self, step: int) -> None:
        """Called before optimizer step ``step`` (0-based)."""

    def after_step(self, step: int) -> None:
        """Called after optimizer step ``step`` (0-based)."""


class _StopRequest:
    """SIGINT/SIGTERM handler: remember the signal so the loop finishes the step, saves and exits."""

    def __init__(self) -> None:
        self.signal: str | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> "_StopRequest":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        self.signal = signal.Signals(signum).name

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


class Trainer(TrainerCheckpoints):
    """Trains ``model`` with ``loss`` on ``dataset`` as ``config`` says; takes them ready-made.

    ``device`` ('cpu' or 'cuda') overrides the automatic choice (CUDA when PyTorch sees a GPU).
    """

    def __init__(self, config: Config, model: torch.nn.Module, loss: torch.nn.Module, dataset: Any, *,
                 results_folder: str | Path | None = None, callbacks: Iterable[Callable[[dict], None]] = (),
                 hooks: Iterable[StepHook] = (), progress: bool = True, device: str | None = None):
        self.config, self.dataset = config, dataset
        self.tr = config.trainer
        self.folder = Path(results_folder or self.tr.results_folder)
        self.callbacks, self.hooks, self.show_progress = list(callbacks), list(hooks), progress
        self.dist = Dist(device)
        self.device = self.dist.device
        self.runtime = Runtime.resolve(config, self.device, self.dist.world)
        self.runtime.prepare_process()
        # said at start (Python warnings) and in train.log; the runtime's: a bf16 run that computes in fp32
        self.notes: list[str] = config_warnings(config) + list(self.runtime.notes)
        for line in self.notes:
            warnings.warn(line, ConfigWarning, stacklevel=2)
        self._place(model, loss)
        # RadioDiff's opt_ae order; the loss's logvar stays fixed, as there
        self.ae_params, self.disc_params = self.model.autoencoder_parameters(), list(self.loss.discriminator.parameters())
        self.opt_ae = make_adamw(self.ae_params, self.tr.lr, self.runtime.fused)
        self.opt_disc = make_adamw(self.disc_params, self.tr.lr, self.runtime.fused)
        self.sched_ae = torch.optim.lr_scheduler.LambdaLR(self.opt_ae, self._multiplier())
        self.sched_disc = torch.optim.lr_scheduler.LambdaLR(self.opt_disc, self._multiplier())
        use_scaler = self.runtime.precision == "fp16"
        self.scaler_ae = torch.amp.GradScaler(self.device.type, enabled=use_scaler)
        self.scaler_disc = torch.amp.GradScaler(self.device.type, enabled=use_scaler)
        self.ema = EMA(self.model, self.tr.ema_decay, self.tr.ema_update_every) if self.dist.is_main else None
        self.watch = NonFiniteWatch(self.device, sticky=self.tr.on_nonfinite == "stop")
        self.engine = StepEngine(self, self.watch)
        self.step = 0
        self.data_position = 0
        self.launch = 0
        self.resumed_from: str | None = None
        self.from_workbench_checkpoint = False  # resumed from one of ours (not fresh, not RadioDiff's)
        seed_everything(self.tr.seed + self.dist.rank)

    def _place(self, model: torch.nn.Module, loss: torch.nn.Module) -> None:
        """Model and loss on the device (in the configured memory layout), in training mode, rank 0's weights."""
        fmt = self.runtime.memory_format
        self.model, self.loss = model.to(self.device, memory_format=fmt), loss.to(self.device, memory_format=fmt)
        self.model.train(), self.loss.train()
        self.loss.logvar.requires_grad_(False)  # not optimised (as in latent diffusion): no gradient to compute
        self.dist.broadcast_state(self.model)  # every rank starts from rank 0's weights
        self.dist.broadcast_state(self.loss)

    def _multiplier(self) -> LRMultiplier:
        return LRMultiplier(self.tr.lr, self.tr.min_lr, self.tr.train_num_steps)

    # --- the loop --------------------------------------------------------------------------

    def _num_workers(self) -> int:
        """data.num_workers, or by device: none on a CPU (they would take its cores), up to 4 feeding a GPU."""
        if self.config.data.num_workers is not None:
            return self.config.data.num_workers
        if self.device.type != "cuda":
            return 0
        per_process = (os.cpu_count() or 2) // max(1, torch.cuda.device_count())
        return max(1, min(4, per_process - 1))

    def _loader(self) -> Iterator[dict]:
        sampler = ResumableBatchSampler(len(self.dataset), self.config.data.batch_size, self.tr.seed,
                                        start=self.data_position, rank=self.dist.rank, world=self.dist.world)
        workers = self._num_workers()
        # A dedicated generator: creating the loader's iterator must not draw from the global RNG.
        return iter(torch.utils.data.DataLoader(
            self.dataset, batch_sampler=sampler, num_workers=workers,
            generator=torch.Generator().manual_seed(self.tr.seed + self.data_position),
            worker_init_fn=_worker_ignores_sigint if workers else None,
            pin_memory=self.device.type == "cuda", persistent_workers=workers > 0))

    def _open_launch(self, target: int) -> Any:
        """The start of a launch: on the main process clear half-written files, set aside the checkpoints after
        the one resumed from, open the logs (with this launch's notes) and write config.yaml."""
        if not self.dist.is_main:
            return NullLogger()
        ckpt.remove_stale_temporaries(self.folder)
        notes = list(self.notes)
        if not self.from_workbench_checkpoint:  # a fresh launch or a RadioDiff checkpoint: say how we differ
            notes = radiodiff_differences(self.config) + notes
        if self.resumed_from is not None:
            aside, moved = ckpt.set_aside_after(self.folder, self.resumed_from)
            if moved:
                notes.append(f"set aside {len(moved)} later checkpoint(s) ({', '.join(p.name for p in moved)}) in "
                             f"{aside}: this launch continues from {Path(self.resumed_from).name}, so 'latest' "
                             "now means its line; nothing was deleted.")
        logger = RunLogger(self.folder, start_step=self.step, total_steps=self.tr.train_num_steps,
                           target_step=target, config_dict=config_to_dict(self.config),
                           resumed_from=self.resumed_from, notes=notes, callbacks=self.callbacks,
                           progress=self.show_progress)
        self.launch = logger.launch
        keep_previous_config(self.folder, dump_config(self.config), self.launch)
        save_config(self.config, self.folder / CONFIG_FILE)
        return logger

    def train(self, max_steps: int | None = None) -> TrainResult:
        """Train from the current step to ``max_steps`` (default train_num_steps); checkpoint and return."""
        t0 = time.time()
        target = max_steps if max_steps is not None else self.tr.train_num_steps
        logger = self._open_launch(target)
        launch = _Launch()
        try:
            with _StopRequest() as stop, determinism(self.runtime):
                self._loop(target, logger, stop, launch)
        finally:
            logger.close()
        return TrainResult(step=self.step, target_step=target, results_folder=self.folder,
                           last_checkpoint=launch.last_path, interrupted=launch.interrupted,
                           resumed_from=self.resumed_from, seconds=time.time() - t0, launch=self.launch,
                           notes=self.notes)

    def _loop(self, target: int, logger: Any, stop: "_StopRequest", launch: "_Launch") -> None:
        batches = self._loader()
        while self.step < target:
            s = self.step
            for hook in self.hooks:
                hook.before_step(s)
            lr = self.opt_ae.param_groups[0]["lr"]
            values, gan = self._compute_step(batches)
            self._advance()
            logger.progress(self.step)
            if s % self.tr.log_freq == 0:
                self._log(logger, s, lr, values, gan)
            if s % self.tr.log_freq == 0 or self.watch.full:
                self._report_nonfinite(logger, launch)
            for hook in self.hooks:
                hook.after_step(s)
            stop_now = self.dist.any_flag(stop.signal is not None)
            if self.step % self.tr.save_and_sample_every == 0 or self.step == target or stop_now:
                self._report_nonfinite(logger, launch)  # never a checkpoint past a step that went bad
                launch.last_path = self.save(logger)
            if stop_now and self.step < target:
                launch.interrupted = True
                logger.note(f"[Interrupted] {stop.signal or 'signal on another process'} at step {self.step}; "
                            f"checkpoint written, resume with --resume latest")
                break
        self._report_nonfinite(logger, launch)
        if launch.last_path is None and self.resumed_from is not None:
            launch.last_path = Path(self.resumed_from)  # resumed at or beyond the target: nothing to do

    def _compute_step(self, batches: Iterator[dict]) -> tuple[torch.Tensor, bool]:
        """One optimizer step through the engine; a kernel that deterministic mode forbids is a TrainingError."""
        try:
            out = self.engine.step(batches, self.step, self.data_position)
        except RuntimeError as exc:
            if "deterministic" not in str(exc):
                raise
            raise TrainingError(
                f"an operation has no deterministic kernel on {self.device.type} ({str(exc).splitlines()[0]}). "
                "Set trainer.deterministic: false to train with it (resume is then exact but not bitwise)."
            ) from None
        self.data_position += self._samples_per_step()
        return out

    def _advance(self) -> None:
        """Schedulers, step count and EMA after an optimizer step."""
        with warnings.catch_warnings():
            # before disc_start opt_disc is idle on purpose; its LR still follows the schedule
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step", category=UserWarning)
            self.sched_ae.step()
            self.sched_disc.step()
        self.step += 1
        if self.ema is not None:
            self.ema.maybe_update(self.model, self.step)

    def _log(self, logger: Any, step: int, lr: float, values: torch.Tensor, gan: bool) -> None:
        """One step record from the step's device values (read back here, at a log point only)."""
        if not self.dist.is_main:
            return
        vals = values.tolist()
        gen = {k: vals[i] for i, k in enumerate(GENERATOR_METRICS) if gan or k not in (D_WEIGHT, G_LOSS)}
        disc = {k: vals[N_GENERATOR + i] for i, k in enumerate(DISCRIMINATOR_METRICS)} if gan else None
        logger.log_step(step, "gan" if gan else "vae", lr, gen, disc)

    def _report_nonfinite(self, logger: Any, launch: "_Launch") -> None:
        """Read back the non-finite flags: name each bad step; with on_nonfinite stop, stop at the first."""
        for bad in self.watch.take():
            if self.tr.on_nonfinite == "stop":
                msg = (f"non-finite {bad.term} at step {bad.step}; training stopped (no parameter update from that "
                       f"step on). The last good checkpoint ({launch.last_path or 'none written by this launch'}) is "
                       "untouched. Lower trainer.lr, check the data, or set trainer.on_nonfinite: skip.")
                logger.note(f"[Error] {msg}")
                raise TrainingError(msg)
            logger.note(f"[Skip] non-finite {bad.term} at step {bad.step}: {bad.skipped} skipped")


@dataclass
class _Launch:
    """What the loop of one launch leaves behind."""

    last_path: Path | None = None
    interrupted: bool = False


def _worker_ignores_sigint(worker_id: int) -> None:
    """Ctrl-C reaches the data workers too; only the main process reacts (it finishes the step and saves)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
