"""One training launch of the two-phase VAE-GAN: exact resume, atomic checkpoints, RadioDiff-shaped logs.

``Trainer.__init__`` sets a launch up: the process group and runtime, what it says about its config, the
``TrainState`` (fresh, or restored from a checkpoint: ``state.py`` says what a checkpoint holds) and the
step engine. ``Trainer.train`` is the loop, top to bottom: the records opened, the data from the state's
position, then per optimizer step ``StepEngine.step`` (``engine.py``: the order inside a step), its log,
the non-finite report and, at a milestone, at the end or on a signal, a checkpoint. Phases: the VAE alone
while ``step < disc_start``, then the discriminator every step. Only the main process writes the folder.
"""
from __future__ import annotations

import os
import signal
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import torch

from .. import checkpoints as ckpt
from ..config import Config, config_to_dict, config_warnings, dump_config
from ..data import split_change, split_record
from ..errors import ConfigWarning
from ..vocabulary import D_WEIGHT, DISCRIMINATOR_METRICS, G_LOSS, GENERATOR_METRICS, PHASE_GAN, PHASE_VAE, SPLIT_RECORD
from .distributed import Dist
from .engine import StepEngine
from .health import N_GENERATOR, NonFiniteWatch
from .notes import ConfigEdit, radiodiff_differences, resume_config_notes
from .run_log import MetricsScan, NullLogger, RunLogger
from .runtime import Runtime, determinism
from .state import (
    ResumableBatchSampler, capture_rng, checkpoint_dict, load_weights, new_state, restore_state, samples_per_step,
    seed_everything,
)


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


class Trainer:
    """One training launch: trains ``model`` with ``loss`` on ``dataset`` as ``config`` says (all given ready-made),
    continuing from ``checkpoint`` (path, loaded dict, format, problems with newer files) when given.

    What a checkpoint restores is ``self.state`` (a ``TrainState``, see ``state.py``); the rest belongs to this
    launch: the process group, the runtime, the step engine and the notes. ``device`` ('cpu' or 'cuda')
    overrides the automatic choice (CUDA when PyTorch sees a GPU). ``config_edit`` is the edited config.yaml a
    resume took keys from, and ``metrics_before`` what metrics.jsonl said when it was read (read by the
    launch's RunLogger when not given).
    """

    def __init__(self, config: Config, model: torch.nn.Module, loss: torch.nn.Module, dataset: Any, *,
                 results_folder: str | Path | None = None, checkpoint: tuple[Path, dict, str, list[str]] | None = None,
                 config_edit: ConfigEdit | None = None, metrics_before: MetricsScan | None = None,
                 callbacks: Iterable[Callable[[dict], None]] = (), hooks: Iterable[StepHook] = (),
                 progress: bool = True, device: str | None = None):
        tr = config.trainer
        self.config, self.dataset, self.config_edit = config, dataset, config_edit
        self.metrics_before = metrics_before
        self.folder = Path(results_folder or tr.results_folder)
        self.callbacks, self.hooks, self.show_progress = list(callbacks), list(hooks), progress
        path, obj, fmt, skipped = checkpoint if checkpoint is not None else (None, {}, None, [])
        self.resumed_from: Path | None = Path(path) if path is not None else None
        self.from_workbench_checkpoint = fmt == ckpt.WORKBENCH_CHECKPOINT  # not fresh, not RadioDiff's

        # How this launch computes: processes, device, precision, determinism (recorded in every checkpoint).
        self.dist = Dist(device)
        self.device = self.dist.device
        self.runtime = Runtime.resolve(config, self.device, self.dist.world)
        self.runtime.prepare_process()
        self.config_dict, self.config_text = config_to_dict(config), dump_config(config)

        # What it says about its config and the precision that runs (at start as Python warnings, and in train.log).
        self.notes: list[str] = (config_warnings(config) + list(self.runtime.notes)
                                 + (config_edit.notes() if config_edit else []))
        for line in self.notes:
            warnings.warn(line, ConfigWarning, stacklevel=2)
        self.notes += [f"skipped an unusable newer checkpoint: {p}" for p in skipped]
        # said once per run: by a fresh launch and by one from a RadioDiff checkpoint
        self.run_notes = [] if self.from_workbench_checkpoint else radiodiff_differences(config)

        # The state: fresh, then restored from the checkpoint (ours exactly, RadioDiff's in part) or given weights.
        seed_everything(tr.seed + self.dist.rank)
        self.state = new_state(config, model, loss, self.runtime, with_ema=self.dist.is_main)
        per_step = samples_per_step(config, self.dist.world)
        self.split = split_record(dataset)  # which maps this launch trains on, kept in every checkpoint
        if checkpoint is not None:
            self.notes += restore_state(self.state, obj, fmt, self.resumed_from, config=config,
                                        num_items=len(dataset), rank=self.dist.rank, samples_per_step=per_step)
        elif config.model.ckpt_path:
            self.notes.append(load_weights(self.state, config.model.ckpt_path))
        if self.from_workbench_checkpoint:  # what differs from the launch that wrote the checkpoint
            split_changed = split_change(obj.get(SPLIT_RECORD), self.split)
            self.notes += (resume_config_notes(obj["config"], self.config_dict, config_edit)
                           + ([split_changed] if split_changed else []) + self.runtime.changes(obj.get("runtime")))
        # The data from the state's position on: this process's share of each step, in the sampler's order.
        self.sampler = ResumableBatchSampler(len(dataset), config.data.batch_size, tr.seed,
                                             start=self.state.data_position, rank=self.dist.rank, world=self.dist.world)

        # What computes a step: the loss modules in the process group, the non-finite watch.
        self.watch = NonFiniteWatch(self.device, sticky=tr.on_nonfinite == "stop")
        self.engine = StepEngine(self.state, config, self.runtime, self.dist, self.watch, per_step)

    def train(self, max_steps: int | None = None) -> TrainResult:
        """The launch, top to bottom: its records opened, then steps to ``max_steps`` (default train_num_steps),
        each logged and checkpointed as the config says; returns what happened."""
        t0 = time.time()
        config, tr, state, dist = self.config, self.config.trainer, self.state, self.dist
        target = max_steps if max_steps is not None else tr.train_num_steps
        start = self.resumed_from  # the checkpoint this launch continues from, once it is in the folder
        resumed_from = str(self.resumed_from) if self.resumed_from else None  # as the records name it

        # 1. The records, written by the main process only: half-written files cleared, the checkpoint resumed
        #    from made the newest of the folder (nothing deleted), the logs opened, config.yaml written.
        logger: Any = NullLogger()
        if dist.is_main:
            ckpt.remove_stale_temporaries(self.folder)
            notes = self.run_notes + self.notes
            if self.resumed_from is not None:
                line = ckpt.start_line_at(self.folder, self.resumed_from,
                                          ckpt.checkpoint_name(state.step, tr.save_and_sample_every))
                start, notes = line.checkpoint, notes + line.notes()
            logger = RunLogger(self.folder, config_dict=self.config_dict, config_text=self.config_text,
                               start_step=state.step, total_steps=tr.train_num_steps, target_step=target,
                               resumed_from=resumed_from, notes=notes,
                               edited_config_name=self.config_edit.keep_as if self.config_edit else None,
                               before=self.metrics_before, callbacks=self.callbacks, progress=self.show_progress)

        # 2. The data, in the order of the sampler set at the state's position (``__init__``); worker processes by
        #    default only where they feed a GPU (on a CPU they would take its cores).
        workers = config.data.num_workers
        if workers is None:
            per_process = (os.cpu_count() or 2) // max(1, torch.cuda.device_count())
            workers = max(1, min(4, per_process - 1)) if self.device.type == "cuda" else 0
        batches = iter(torch.utils.data.DataLoader(
            self.dataset, batch_sampler=self.sampler, num_workers=workers,
            # a dedicated generator: creating the loader's iterator must not draw from the global RNG
            generator=torch.Generator().manual_seed(tr.seed + state.data_position),
            worker_init_fn=_worker_ignores_sigint if workers else None,
            pin_memory=self.device.type == "cuda", persistent_workers=workers > 0))

        # 3. The loop: an optimizer step; at a log point its values; the non-finite flags read back (at a log
        #    point, before a checkpoint, or when many wait); a checkpoint at a milestone, at the end or on a signal.
        last_path: Path | None = None  # the newest checkpoint this launch wrote
        interrupted = False
        with logger, _StopRequest() as stop, determinism(self.runtime):
            while state.step < target:
                s = state.step
                for hook in self.hooks:
                    hook.before_step(s)
                lr = state.opt_ae.param_groups[0]["lr"]
                values, gan = self.engine.step(state, batches)  # the order inside a step: StepEngine.step
                logger.progress(state.step)
                if s % tr.log_freq == 0 and dist.is_main:
                    vals = values.tolist()
                    gen = {k: v for k, v in zip(GENERATOR_METRICS, vals) if gan or k not in (D_WEIGHT, G_LOSS)}
                    disc = dict(zip(DISCRIMINATOR_METRICS, vals[N_GENERATOR:])) if gan else None
                    logger.log_step(s, PHASE_GAN if gan else PHASE_VAE, lr, gen, disc)
                for hook in self.hooks:
                    hook.after_step(s)
                stop_now = dist.any_flag(stop.signal is not None)
                save_now = state.step % tr.save_and_sample_every == 0 or state.step == target or stop_now
                if s % tr.log_freq == 0 or save_now or self.watch.full:
                    self.watch.report(logger, last_path)  # so that no checkpoint is written past a bad step
                if save_now:
                    last_path = self.save(logger)
                if stop_now and state.step < target:
                    interrupted = True
                    logger.note(f"[Interrupted] {stop.signal or 'signal on another process'} at step "
                                f"{state.step}; checkpoint written, resume with --resume latest")
                    break
        return TrainResult(step=state.step, target_step=target, results_folder=self.folder,
                           last_checkpoint=last_path or start,  # none written: resumed at or past the target
                           interrupted=interrupted, resumed_from=resumed_from,
                           seconds=time.time() - t0, launch=logger.launch, notes=self.notes)

    def save(self, logger: Any) -> Path:
        """Write the checkpoint of the current step (every process calls this; the main one writes), then retention."""
        tr, state = self.config.trainer, self.state
        self.dist.broadcast_buffers(state.loss.discriminator)  # rank 0's BatchNorm statistics, as DDP would
        rng = self.dist.gather_object(capture_rng())
        path = self.folder / ckpt.checkpoint_name(state.step, tr.save_and_sample_every)
        if self.dist.is_main:
            # the run's metadata beside the state (never restored); further run metadata goes here
            run = {"runtime": self.runtime.record(), "metrics_offset": logger.metrics_offset(), "launch": logger.launch,
                   SPLIT_RECORD: self.split}
            ckpt.save_checkpoint(path, checkpoint_dict(state, self.config, rng=rng, num_items=len(self.dataset),
                                                       world=self.dist.world, run=run))
            ckpt.record_checkpoint(self.folder, path, state.step)
            deleted = ckpt.prune_checkpoints(self.folder, tr.keep_last, tr.keep_every)
            logger.note(f"[Checkpoint] step {state.step}: {path.name}"
                        + (f" (removed {', '.join(p.name for p in deleted)})" if deleted else ""))
        self.dist.barrier()
        return path


def _worker_ignores_sigint(worker_id: int) -> None:
    """Ctrl-C reaches the data workers too; only the main process reacts (it finishes the step and saves)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
