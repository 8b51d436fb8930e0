"""What the trainer writes into a checkpoint and how it restores from one (ours exactly, RadioDiff's in part).

``TrainerCheckpoints`` is a part of ``Trainer``: it reads and sets the trainer's model, loss,
optimizers, schedulers, scalers, EMA, step, data position and notes.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterable

from .. import checkpoints as ckpt
from ..config import config_to_dict
from ..data import RECORD_KEY, split_record
from .engine import load_optimizer_state
from .notes import resume_config_notes
from .state import capture_rng, restore_rng, seed_everything


class TrainerCheckpoints:
    """The checkpoint side of ``Trainer`` (a mixin: it uses the trainer's attributes)."""

    def state_dict(self, rng: list[dict], metrics_offset: int) -> dict:
        """The checkpoint dict (everything exact resume needs, and how it was computed)."""
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
            "runtime": self.runtime.record(),
            "metrics_offset": metrics_offset, "launch": self.launch, "written_at": time.time(),
            RECORD_KEY: split_record(self.dataset),  # which maps it trains on: protocol, map count, list hash
        }

    def load_state(self, obj: dict, fmt: str, path: Path, skipped: Iterable[str] = ()) -> None:
        """Restore from a workbench checkpoint (exactly) or a RadioDiff one (weights, optimizers, EMA);
        ``skipped`` says why newer checkpoints were not used (each becomes a note of this launch)."""
        self.notes.extend(f"skipped an unusable newer checkpoint: {p}" for p in skipped)
        self.resumed_from = str(path)
        if fmt != "workbench":
            self._load_radiodiff(obj, path)
            return
        self.from_workbench_checkpoint = True
        self.notes += resume_config_notes(obj["config"], config_to_dict(self.config))
        ckpt.load_model_state(self.model, self.loss, obj["model"], where=str(path))
        load_optimizer_state(self.opt_ae, obj["opt_ae"])
        load_optimizer_state(self.opt_disc, obj["opt_disc"])
        self.sched_ae.load_state_dict(obj["lr_scheduler_ae"])
        self.sched_disc.load_state_dict(obj["lr_scheduler_disc"])
        self._apply_schedule_config()
        if self.ema is not None and obj.get("ema") is not None:
            self.ema.load_state_dict(obj["ema"])
        for scaler, saved in ((self.scaler_ae, obj["scaler"]["ae"]), (self.scaler_disc, obj["scaler"]["disc"])):
            if saved:
                scaler.load_state_dict(saved)
        self.step = int(obj["step"])
        self._restore_data_and_rng(obj)
        self.notes.extend(self.runtime.changes(obj.get("runtime")))

    def _restore_data_and_rng(self, obj: dict) -> None:
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
                if name.startswith("opt_"):
                    load_optimizer_state(target, obj[name])
                else:
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

    def save(self, logger: Any) -> Path | None:
        """Write a checkpoint for the current step (all ranks call this; the main one writes)."""
        self.dist.broadcast_buffers(self.loss.discriminator)  # rank 0's BatchNorm statistics, as DDP would
        rng = self.dist.gather_object(capture_rng())
        path = self.folder / ckpt.checkpoint_name(self.step, self.tr.save_and_sample_every)
        if self.dist.is_main:
            ckpt.save_checkpoint(path, self.state_dict(rng, logger.metrics_offset()))
            ckpt.record_checkpoint(self.folder, path, self.step)
            deleted = ckpt.prune_checkpoints(self.folder, self.tr.keep_last, self.tr.keep_every)
            logger.note(f"[Checkpoint] step {self.step}: {path.name}" + (f" (removed {', '.join(p.name for p in deleted)})" if deleted else ""))
        self.dist.barrier()
        return path
