"""The two-phase VAE-GAN trainer: exact resume, atomic checkpoints, RadioDiff-shaped logs.

Phases: VAE only while ``step < disc_start``, then the discriminator is trained every step.
``gradient_accumulate_every`` is real accumulation over micro-batches. Gradients are all-reduced
by hand (not DDP), because the loss calls the discriminator outside any module's forward; that
also makes accumulation a plain loop. Only the main process writes logs and checkpoints.
"""
from __future__ import annotations

import signal
import threading
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import torch

from .. import checkpoints as ckpt
from ..config import Config, config_to_dict, dump_config, mixed_precision, save_config
from ..config_checks import config_warnings
from ..errors import ConfigWarning, TrainingError
from ..vocabulary import CONFIG_FILE, DISC_LOSS, GENERATOR_METRICS, LOGITS_FAKE, LOGITS_REAL, TOTAL_LOSS
from .distributed import Dist
from .notes import keep_previous_config, radiodiff_differences, resume_config_notes
from .run_log import NullLogger, RunLogger, is_finite
from .state import EMA, LRMultiplier, ResumableBatchSampler, capture_rng, restore_rng, seed_everything


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
    """Trains ``model`` with ``loss`` on ``dataset`` as ``config`` says; takes them ready-made."""

    def __init__(self, config: Config, model: torch.nn.Module, loss: torch.nn.Module, dataset: Any, *,
                 results_folder: str | Path | None = None, callbacks: Iterable[Callable[[dict], None]] = (),
                 hooks: Iterable[StepHook] = (), progress: bool = True):
        self.config, self.dataset = config, dataset
        self.tr = config.trainer
        self.folder = Path(results_folder or self.tr.results_folder)
        self.callbacks, self.hooks, self.show_progress = list(callbacks), list(hooks), progress
        self.dist = Dist()
        self.device = self.dist.device
        self.notes: list[str] = config_warnings(config)  # said at start (Python warnings) and in train.log
        for line in self.notes:
            warnings.warn(line, ConfigWarning, stacklevel=2)
        mp = mixed_precision(config)
        if mp != "no" and self.device.type != "cuda":
            self.notes.append(f"mixed_precision={mp} needs CUDA; training in full precision on {self.device.type}.")
            mp = "no"
        self.mp = mp
        self.model, self.loss = model.to(self.device), loss.to(self.device)
        self.model.train(), self.loss.train()
        self.dist.broadcast_state(self.model)  # every rank starts from rank 0's weights
        self.dist.broadcast_state(self.loss)
        # RadioDiff's opt_ae order; the loss's logvar stays fixed, as there
        self.ae_params, self.disc_params = self.model.autoencoder_parameters(), list(self.loss.discriminator.parameters())
        self.opt_ae = torch.optim.AdamW(self.ae_params, lr=self.tr.lr)
        self.opt_disc = torch.optim.AdamW(self.disc_params, lr=self.tr.lr)
        mult = LRMultiplier(self.tr.lr, self.tr.min_lr, self.tr.train_num_steps)
        self.sched_ae = torch.optim.lr_scheduler.LambdaLR(self.opt_ae, mult)
        self.sched_disc = torch.optim.lr_scheduler.LambdaLR(self.opt_disc, LRMultiplier(self.tr.lr, self.tr.min_lr, self.tr.train_num_steps))
        use_scaler = mp == "fp16"
        self.scaler_ae = torch.amp.GradScaler("cuda", enabled=use_scaler)
        self.scaler_disc = torch.amp.GradScaler("cuda", enabled=use_scaler)
        self.ema = EMA(self.model, self.tr.ema_decay, self.tr.ema_update_every) if self.dist.is_main else None
        self.step = 0
        self.data_position = 0
        self.launch = 0
        self.resumed_from: str | None = None
        self.from_workbench_checkpoint = False  # resumed from one of ours (not fresh, not RadioDiff's)
        seed_everything(self.tr.seed + self.dist.rank)

    # --- state -----------------------------------------------------------------------------

    def state_dict(self, rng: list[dict], metrics_offset: int) -> dict:
        """The checkpoint dict (everything exact resume needs)."""
        return {
            "format": ckpt.FORMAT, "format_version": ckpt.FORMAT_VERSION,
            "config": config_to_dict(self.config), "step": self.step,
            "model": ckpt.model_state(self.model, self.loss),
            "opt_ae": self.opt_ae.state_dict(), "opt_disc": self.opt_disc.state_dict(),
            "lr_scheduler_ae": self.sched_ae.state_dict(), "lr_scheduler_disc": self.sched_disc.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "scaler": {"ae": self.scaler_ae.state_dict(), "disc": self.scaler_disc.state_dict()},
            "rng": rng,
            "data_state": {"seed": self.tr.seed, "position": self.data_position, "num_items": len(self.dataset),
                           "batch_size": self.config.data.batch_size, "world": self.dist.world},
            "metrics_offset": metrics_offset, "launch": self.launch, "written_at": time.time(),
        }

    def load_state(self, obj: dict, fmt: str, path: Path, skipped: Iterable[str] = ()) -> None:
        """Restore from a workbench checkpoint (exactly) or a RadioDiff one (weights, optimizers, EMA);
        ``skipped`` says why newer checkpoints were not used (each becomes a note of this launch)."""
        self.notes.extend(f"skipped an unusable newer checkpoint: {p}" for p in skipped)
        self.resumed_from = str(path)
        if fmt == "workbench":
            self.from_workbench_checkpoint = True
            self.notes += resume_config_notes(obj["config"], config_to_dict(self.config))
            ckpt.load_model_state(self.model, self.loss, obj["model"], where=str(path))
            self.opt_ae.load_state_dict(obj["opt_ae"])
            self.opt_disc.load_state_dict(obj["opt_disc"])
            self.sched_ae.load_state_dict(obj["lr_scheduler_ae"])
            self.sched_disc.load_state_dict(obj["lr_scheduler_disc"])
            self._apply_schedule_config()
            if self.ema is not None and obj.get("ema") is not None:
                self.ema.load_state_dict(obj["ema"])
            self.scaler_ae.load_state_dict(obj["scaler"]["ae"]) if obj["scaler"]["ae"] else None
            self.scaler_disc.load_state_dict(obj["scaler"]["disc"]) if obj["scaler"]["disc"] else None
            self.step = int(obj["step"])
            ds = obj["data_state"]
            self.data_position = int(ds["position"])
            if ds["seed"] != self.tr.seed or ds["num_items"] != len(self.dataset):
                self.notes.append(f"data order differs from the checkpoint's (seed {ds['seed']}, {ds['num_items']} items); "
                                  "the continuation is not exact.")
            rng = obj["rng"]
            if self.dist.rank < len(rng):
                restore_rng(rng[self.dist.rank])
            else:
                seed_everything(self.tr.seed + self.dist.rank + self.step)
                self.notes.append(f"the checkpoint holds no RNG state for rank {self.dist.rank}; that rank is reseeded.")
            return
        self._load_radiodiff(obj, path)

    def _apply_schedule_config(self) -> None:
        """The LR schedule follows the config given now (e.g. a longer train_num_steps), noted when it changed."""
        for sched in (self.sched_ae, self.sched_disc):
            mult, before = sched.lr_lambdas[0], dict(vars(sched.lr_lambdas[0]))
            mult.__init__(self.tr.lr, self.tr.min_lr, self.tr.train_num_steps)
            sched.base_lrs = [self.tr.lr]
            if vars(mult) != before and sched is self.sched_ae:
                self.notes.append(f"LR schedule changed on resume ({before} -> {vars(mult)}); the continuation "
                                  "differs from the original run's.")

    def start_from_weights(self, path: str | Path) -> None:
        """Load only the weights of a checkpoint (ours or RadioDiff's): ``model.ckpt_path``, a fresh start."""
        path = Path(path)
        obj, fmt = ckpt.load_any(path)
        if fmt == "workbench":
            ckpt.load_model_state(self.model, self.loss, obj["model"], where=str(path))
        else:
            ckpt.load_radiodiff_weights(self.model, obj, loss=self.loss)
        self.notes.append(f"started from the weights of {path} (model.ckpt_path); optimizers and step start fresh.")

    def _load_radiodiff(self, obj: dict, path: Path) -> None:
        ckpt.load_radiodiff_weights(self.model, obj, loss=self.loss)
        self.step = int(obj.get("step", 0))
        for name, target in (("opt_ae", self.opt_ae), ("opt_disc", self.opt_disc),
                             ("lr_scheduler_ae", self.sched_ae), ("lr_scheduler_disc", self.sched_disc)):
            try:
                target.load_state_dict(obj[name])
            except Exception as exc:  # a mismatching RadioDiff optimizer: start that part fresh, say so
                self.notes.append(f"{name} of {path.name} not loaded ({type(exc).__name__}: {exc}); it starts fresh.")
        if self.ema is not None and isinstance(obj.get("ema"), dict):
            shadow = {k[len("ema_model."):]: v for k, v in obj["ema"].items() if k.startswith("ema_model.")}
            if all(k in shadow for k in self.ema.shadow):
                self.ema.load_state_dict({"num_updates": 0, "shadow": {k: shadow[k] for k in self.ema.shadow}})
        self.data_position = self.step * self._samples_per_step()
        seed_everything(self.tr.seed + self.dist.rank + self.step)
        self.notes.append(f"resumed from the RadioDiff checkpoint {path}: it holds no RNG or data-order state, so this "
                          "continuation is not exact (weights, optimizers, schedulers and EMA are restored).")

    def _samples_per_step(self) -> int:
        return self.tr.gradient_accumulate_every * self.dist.world * self.config.data.batch_size

    # --- checkpoints -----------------------------------------------------------------------

    def save(self, logger: Any) -> Path | None:
        """Write a checkpoint for the current step (all ranks call this; the main one writes)."""
        rng = self.dist.gather_object(capture_rng())
        path = self.folder / ckpt.checkpoint_name(self.step, self.tr.save_and_sample_every)
        if self.dist.is_main:
            ckpt.save_checkpoint(path, self.state_dict(rng, logger.metrics_offset()))
            ckpt.record_checkpoint(self.folder, path, self.step)
            deleted = ckpt.prune_checkpoints(self.folder, self.tr.keep_last, self.tr.keep_every)
            logger.note(f"[Checkpoint] step {self.step}: {path.name}" + (f" (removed {', '.join(p.name for p in deleted)})" if deleted else ""))
        self.dist.barrier()
        return path

    def _open_launch(self, target: int) -> RunLogger:
        """The main process's start of a launch: clear half-written files, set aside the checkpoints
        after the one resumed from, open the logs (with this launch's notes) and write config.yaml."""
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

    # --- the loop --------------------------------------------------------------------------

    def _loader(self) -> Iterable[dict]:
        sampler = ResumableBatchSampler(len(self.dataset), self.config.data.batch_size, self.tr.seed,
                                        start=self.data_position, rank=self.dist.rank, world=self.dist.world)
        # A dedicated generator: creating the loader's iterator must not draw from the global RNG.
        return iter(torch.utils.data.DataLoader(
            self.dataset, batch_sampler=sampler, num_workers=self.config.data.num_workers,
            generator=torch.Generator().manual_seed(self.tr.seed + self.data_position),
            worker_init_fn=_worker_ignores_sigint if self.config.data.num_workers else None,
            pin_memory=self.device.type == "cuda"))

    def _autocast(self) -> Any:
        if self.mp == "no":
            return nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16 if self.mp == "bf16" else torch.float16)

    def _optimizer_step(self, opt: torch.optim.Optimizer, params: list, scaler: torch.amp.GradScaler) -> None:
        self.dist.all_reduce_grads(params)
        scaler.unscale_(opt)
        if self.tr.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, self.tr.max_grad_norm)
        scaler.step(opt)
        scaler.update()

    @staticmethod
    def _first_nonfinite(logs: dict) -> str | None:
        for key, value in logs.items():
            if not is_finite(value):
                return key
        return None

    def train_step(self, batches: Iterable[dict], log: bool) -> tuple[dict, dict | None, str | None]:
        """One optimizer step (accumulated micro-batches, then the discriminator); returns logs and a bad term."""
        s, accum = self.step, self.tr.gradient_accumulate_every
        gan = self.loss.disc_factor_at(s) > 0
        last_layer = self.model.get_last_layer()
        for p in self.ae_params + self.disc_params + [self.loss.logvar]:
            p.grad = None
        pairs, gen_logs, bad = [], [], None
        for _ in range(accum):
            x = next(batches)["image"].to(self.device, non_blocking=True)
            with self._autocast():
                rec, posterior = self.model(x)
                total, logs = self.loss.generator_loss(x, rec, posterior, s, last_layer)
            if not torch.isfinite(total):
                bad = bad or self._first_nonfinite(logs) or TOTAL_LOSS
                gen_logs.append(logs)  # logged, so the bad values show in the metrics
                break
            self.scaler_ae.scale(total / accum).backward()
            pairs.append((x, rec.detach()))
            gen_logs.append(logs)
        if self.dist.any_flag(bad is not None):
            bad = bad or f"{TOTAL_LOSS} (on another process)"
            return (_mean_logs(gen_logs, GENERATOR_METRICS) if gen_logs and log else {}), None, bad
        self._optimizer_step(self.opt_ae, self.ae_params, self.scaler_ae)
        disc_logs = []
        if gan:
            for p in self.disc_params:
                p.grad = None
            for x, rec in pairs:
                with self._autocast():
                    d_loss, logs = self.loss.discriminator_loss(x, rec, s)
                if not torch.isfinite(d_loss):
                    bad = bad or self._first_nonfinite(logs) or DISC_LOSS
                    disc_logs.append(logs)
                    break
                self.scaler_disc.scale(d_loss / accum).backward()
                disc_logs.append(logs)
            if self.dist.any_flag(bad is not None):
                bad = bad or f"{DISC_LOSS} (on another process)"
                return ((_mean_logs(gen_logs, GENERATOR_METRICS) if log else {}),
                        (_mean_logs(disc_logs, []) if disc_logs and log else None), bad)
            self._optimizer_step(self.opt_disc, self.disc_params, self.scaler_disc)
            self.dist.broadcast_buffers(self.loss.discriminator)
        if not log:
            return {}, None, None
        return _mean_logs(gen_logs, GENERATOR_METRICS), (_mean_logs(disc_logs, []) if gan else None), None

    def train(self, max_steps: int | None = None) -> TrainResult:
        """Train from the current step to ``max_steps`` (default train_num_steps); checkpoint and return."""
        t0 = time.time()
        target = max_steps if max_steps is not None else self.tr.train_num_steps
        logger = self._open_launch(target) if self.dist.is_main else NullLogger()
        last_path, interrupted = None, False
        try:
            with _StopRequest() as stop:
                batches = self._loader()
                while self.step < target:
                    s = self.step
                    for hook in self.hooks:
                        hook.before_step(s)
                    log = s % self.tr.log_freq == 0
                    lr = self.opt_ae.param_groups[0]["lr"]
                    gen, disc, bad = self.train_step(batches, log)
                    self.data_position += self._samples_per_step()
                    if log and gen and self.dist.is_main:
                        logger.log_step(s, "gan" if self.loss.disc_factor_at(s) > 0 else "vae", lr, gen, disc)
                    if bad:
                        if self.tr.on_nonfinite == "stop":
                            msg = (f"non-finite {bad} at step {s}; training stopped. The last good checkpoint "
                                   f"({last_path or 'none written by this launch'}) is untouched. Lower trainer.lr, "
                                   "check the data, or set trainer.on_nonfinite: skip.")
                            logger.note(f"[Error] {msg}")
                            raise TrainingError(msg)
                        part = ("discriminator update" if bad.startswith((DISC_LOSS, LOGITS_REAL, LOGITS_FAKE))
                                else "step (no parameter update)")
                        logger.note(f"[Skip] non-finite {bad} at step {s}: {part} skipped")
                    with warnings.catch_warnings():
                        # before disc_start opt_disc is idle on purpose; its LR still follows the schedule
                        warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step", category=UserWarning)
                        self.sched_ae.step()
                        self.sched_disc.step()
                    self.step += 1
                    if self.ema is not None:
                        self.ema.maybe_update(self.model, self.step)
                    logger.progress(self.step)
                    for hook in self.hooks:
                        hook.after_step(s)
                    stop_now = self.dist.any_flag(stop.signal is not None)
                    if self.step % self.tr.save_and_sample_every == 0 or self.step == target or stop_now:
                        last_path = self.save(logger)
                    if stop_now and self.step < target:
                        interrupted = True
                        logger.note(f"[Interrupted] {stop.signal or 'signal on another process'} at step {self.step}; "
                                    f"checkpoint written, resume with --resume latest")
                        break
                if last_path is None and self.resumed_from is not None:
                    last_path = Path(self.resumed_from)  # resumed at or beyond the target: nothing to do
        finally:
            logger.close()
        return TrainResult(step=self.step, target_step=target, results_folder=self.folder, last_checkpoint=last_path,
                           interrupted=interrupted, resumed_from=self.resumed_from, seconds=time.time() - t0,
                           launch=self.launch, notes=self.notes)


def _worker_ignores_sigint(worker_id: int) -> None:
    """Ctrl-C reaches the data workers too; only the main process reacts (it finishes the step and saves)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _mean_logs(logs: list[dict], order: list[str]) -> dict:
    """Average each logged value over the micro-batches, keys in ``order`` first."""
    keys = [k for k in order if k in logs[0]] + [k for k in logs[0] if k not in order]
    out = {}
    for k in keys:
        vals = [float(d[k]) for d in logs]
        out[k] = vals[0] if len(vals) == 1 else sum(vals) / len(vals)
    return out

