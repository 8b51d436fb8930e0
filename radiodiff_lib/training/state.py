"""The training state: everything a checkpoint holds, and how it is written and restored.

``TrainState`` names it once: the model, the loss (the discriminator and ``logvar``), both AdamW
optimizers, both LR schedulers, both GradScalers, the EMA, the step count and the position in the
data stream. The RNG states are not kept in it: they live in Python, NumPy and torch, and
``capture_rng`` reads them when a checkpoint is written. ``checkpoint_dict`` writes a state,
``restore_state`` reads one back (ours exactly, RadioDiff's in part). Below them, the pieces:
RNG states, the resumable data order, the EMA, the LR schedule and the optimizers.

Everything a checkpoint holds serialises to tensors and plain Python values, so that
``torch.load(weights_only=True)`` accepts it.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch import nn

from .. import checkpoints as ckpt
from ..config import Config, config_to_dict
from ..vocabulary import FP16
from .runtime import Runtime


@dataclass
class TrainState:
    """What a checkpoint restores (and, with the RNG states, all that exact resume needs)."""

    model: nn.Module  # the VAE
    loss: nn.Module  # the VAE-GAN loss: its discriminator and logvar are stored, LPIPS never
    opt_ae: torch.optim.AdamW  # encoder, decoder, quant convs (RadioDiff's opt_ae order)
    opt_disc: torch.optim.AdamW  # the discriminator
    sched_ae: torch.optim.lr_scheduler.LambdaLR
    sched_disc: torch.optim.lr_scheduler.LambdaLR
    scaler_ae: torch.amp.GradScaler  # enabled in fp16 only
    scaler_disc: torch.amp.GradScaler
    ema: EMA | None  # kept by the main process only
    step: int = 0  # optimizer steps taken
    data_position: int = 0  # samples drawn from the data stream (ResumableBatchSampler)
    ae_params: list[nn.Parameter] = field(init=False, repr=False)  # what opt_ae trains, in its order
    disc_params: list[nn.Parameter] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.ae_params = [p for group in self.opt_ae.param_groups for p in group["params"]]
        self.disc_params = [p for group in self.opt_disc.param_groups for p in group["params"]]


def new_state(config: Config, model: nn.Module, loss: nn.Module, runtime: Runtime, with_ema: bool) -> TrainState:
    """A fresh state at step 0: model and loss on the device in training mode, new optimizers,
    schedulers, scalers and (``with_ema``) an EMA of the model."""
    tr, fmt = config.trainer, runtime.memory_format
    model, loss = model.to(runtime.device, memory_format=fmt), loss.to(runtime.device, memory_format=fmt)
    model.train(), loss.train()
    loss.logvar.requires_grad_(False)  # not optimised (as in latent diffusion): no gradient to compute
    opt_ae = make_adamw(model.autoencoder_parameters(), tr.lr, runtime.fused)
    opt_disc = make_adamw(list(loss.discriminator.parameters()), tr.lr, runtime.fused)
    use_scaler = runtime.precision == FP16
    return TrainState(
        model=model, loss=loss, opt_ae=opt_ae, opt_disc=opt_disc,
        sched_ae=torch.optim.lr_scheduler.LambdaLR(opt_ae, LRMultiplier(tr.lr, tr.min_lr, tr.train_num_steps)),
        sched_disc=torch.optim.lr_scheduler.LambdaLR(opt_disc, LRMultiplier(tr.lr, tr.min_lr, tr.train_num_steps)),
        scaler_ae=torch.amp.GradScaler(runtime.device.type, enabled=use_scaler),
        scaler_disc=torch.amp.GradScaler(runtime.device.type, enabled=use_scaler),
        ema=EMA(model, tr.ema_decay, tr.ema_update_every) if with_ema else None,
    )


def samples_per_step(config: Config, world: int) -> int:
    """How far one optimizer step moves the data position: micro-batches x processes x batch size."""
    return config.trainer.gradient_accumulate_every * world * config.data.batch_size


# --- a checkpoint, written and restored --------------------------------------------------------

def checkpoint_dict(state: TrainState, config: Config, *, rng: list[dict], num_items: int, world: int,
                    run: dict) -> dict:
    """The checkpoint of ``state``: its parts, the RNG states of every process (``rng``, by rank) and the
    config; ``run`` is the run's metadata (how it was computed, where its logs stand), stored as it is."""
    return {
        "format": ckpt.FORMAT, "format_version": ckpt.FORMAT_VERSION,
        "config": config_to_dict(config), "step": state.step,
        "model": ckpt.model_state(state.model, state.loss),
        "opt_ae": state.opt_ae.state_dict(), "opt_disc": state.opt_disc.state_dict(),
        "lr_scheduler_ae": state.sched_ae.state_dict(), "lr_scheduler_disc": state.sched_disc.state_dict(),
        "ema": state.ema.state_dict() if state.ema is not None else None,
        "scaler": {"ae": state.scaler_ae.state_dict(), "disc": state.scaler_disc.state_dict()},
        "rng": rng,
        "data_state": {"seed": config.trainer.seed, "position": state.data_position, "num_items": num_items,
                       "batch_size": config.data.batch_size, "world": world},
        # the run's metadata, not restored: e.g. "runtime", "metrics_offset", "launch"
        **run, "written_at": time.time(),
    }


def restore_state(state: TrainState, obj: dict, fmt: str, path: Path, *, config: Config, num_items: int,
                  rank: int, samples_per_step: int) -> list[str]:
    """Restore ``state`` from a loaded checkpoint: ours exactly (RNG included), RadioDiff's in part (weights,
    optimizers, schedulers, EMA). Returns what the launch should say about it."""
    if fmt != ckpt.WORKBENCH_CHECKPOINT:
        return _restore_radiodiff(state, obj, path, config=config, rank=rank, samples_per_step=samples_per_step)
    ckpt.load_model_state(state.model, state.loss, obj["model"], where=str(path))
    load_optimizer_state(state.opt_ae, obj["opt_ae"])
    load_optimizer_state(state.opt_disc, obj["opt_disc"])
    state.sched_ae.load_state_dict(obj["lr_scheduler_ae"])
    state.sched_disc.load_state_dict(obj["lr_scheduler_disc"])
    notes = _follow_schedule_config(state, config)
    if state.ema is not None and obj.get("ema") is not None:
        state.ema.load_state_dict(obj["ema"])
    for scaler, saved in ((state.scaler_ae, obj["scaler"]["ae"]), (state.scaler_disc, obj["scaler"]["disc"])):
        if saved:
            scaler.load_state_dict(saved)
    state.step = int(obj["step"])
    data = obj["data_state"]
    state.data_position = int(data["position"])
    if data["seed"] != config.trainer.seed or data["num_items"] != num_items:
        notes.append(f"data order differs from the checkpoint's (seed {data['seed']}, {data['num_items']} items); "
                     "the continuation is not exact.")
    if rank < len(obj["rng"]):
        restore_rng(obj["rng"][rank])
    else:
        seed_everything(config.trainer.seed + rank + state.step)
        notes.append(f"the checkpoint holds no RNG state for rank {rank}; that rank is reseeded.")
    return notes


def _follow_schedule_config(state: TrainState, config: Config) -> list[str]:
    """The LR schedule follows the config given now (e.g. a longer train_num_steps), noted when it changed
    (loading a LambdaLR state restores its multiplier's fields too)."""
    tr, notes = config.trainer, []
    for sched in (state.sched_ae, state.sched_disc):
        before, now = vars(sched.lr_lambdas[0]), LRMultiplier(tr.lr, tr.min_lr, tr.train_num_steps)
        if vars(now) != before and sched is state.sched_ae:
            notes.append(f"LR schedule changed on resume ({before} -> {vars(now)}); the continuation "
                         "differs from the original run's.")
        sched.lr_lambdas[0], sched.base_lrs = now, [tr.lr]
    return notes


def _restore_radiodiff(state: TrainState, obj: dict, path: Path, *, config: Config, rank: int,
                       samples_per_step: int) -> list[str]:
    """Weights, optimizers, schedulers and EMA of a RadioDiff checkpoint (each part that fits); it holds no RNG
    or data-order state, so the data position is where its step puts it and the RNGs are reseeded."""
    ckpt.load_radiodiff_weights(state.model, obj, loss=state.loss)
    state.step = int(obj.get("step", 0))
    notes = []
    for name, target in (("opt_ae", state.opt_ae), ("opt_disc", state.opt_disc),
                         ("lr_scheduler_ae", state.sched_ae), ("lr_scheduler_disc", state.sched_disc)):
        try:
            if name.startswith("opt_"):
                load_optimizer_state(target, obj[name])
            else:
                target.load_state_dict(obj[name])
        except Exception as exc:  # a mismatching RadioDiff optimizer: start that part fresh, say so
            notes.append(f"{name} of {path.name} not loaded ({type(exc).__name__}: {exc}); it starts fresh.")
    if state.ema is not None and isinstance(obj.get("ema"), dict):
        shadow = {k[len("ema_model."):]: v for k, v in obj["ema"].items() if k.startswith("ema_model.")}
        if all(k in shadow for k in state.ema.shadow):
            state.ema.load_state_dict({"num_updates": 0, "shadow": {k: shadow[k] for k in state.ema.shadow}})
    state.data_position = state.step * samples_per_step
    seed_everything(config.trainer.seed + rank + state.step)
    notes.append(f"resumed from the RadioDiff checkpoint {path}: it holds no RNG or data-order state, so this "
                 "continuation is not exact (weights, optimizers, schedulers and EMA are restored).")
    return notes


def load_weights(state: TrainState, path: str | Path) -> str:
    """Load only the weights of a checkpoint (ours or RadioDiff's) into ``state``: ``model.ckpt_path``, a fresh
    start. Returns the note that says so."""
    path = Path(path)
    obj, fmt = ckpt.load_any(path)
    if fmt == ckpt.WORKBENCH_CHECKPOINT:
        ckpt.load_model_state(state.model, state.loss, obj["model"], where=str(path))
    else:
        ckpt.load_radiodiff_weights(state.model, obj, loss=state.loss)
    return f"started from the weights of {path} (model.ckpt_path); optimizers and step start fresh."


# --- optimizers ---------------------------------------------------------------------------

def make_adamw(params: list[nn.Parameter], lr: float, fused: bool) -> torch.optim.AdamW:
    """AdamW (PyTorch's defaults, as RadioDiff), with the fused kernel when the device has one."""
    return torch.optim.AdamW(params, lr=lr, fused=True) if fused else torch.optim.AdamW(params, lr=lr)


def load_optimizer_state(opt: torch.optim.Optimizer, state: dict) -> None:
    """Load ``state`` but keep this optimizer's kernel (fused/foreach): ``load_state_dict`` would take the
    checkpoint's choice, e.g. not fused from an older checkpoint, and with it the host-synced step."""
    kernel = {k: opt.param_groups[0][k] for k in ("fused", "foreach") if k in opt.param_groups[0]}
    opt.load_state_dict({**state, "param_groups": [{**g, **kernel} for g in state["param_groups"]]})


# --- RNG states ---------------------------------------------------------------------------

def capture_rng() -> dict:
    """Python, NumPy, torch (and CUDA when present) RNG states as tensors and plain values."""
    version, internal, gauss = random.getstate()
    np_state = np.random.get_state()
    state = {
        "python": {"version": version, "state": torch.tensor(internal, dtype=torch.int64), "gauss": gauss},
        "numpy": {"name": np_state[0], "keys": torch.from_numpy(np_state[1].astype(np.int64)),
                  "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "cached": float(np_state[4])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = [s.cpu() for s in torch.cuda.get_rng_state_all()]
    return state


def restore_rng(state: dict) -> None:
    """Restore the states written by ``capture_rng``."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(x) for x in py["state"].tolist()), py["gauss"]))
    npst = state["numpy"]
    np.random.set_state((npst["name"], npst["keys"].numpy().astype(np.uint32), npst["pos"],
                         npst["has_gauss"], npst["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) from one integer."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# --- data order ---------------------------------------------------------------------------

class ResumableBatchSampler(torch.utils.data.Sampler[list[int]]):
    """An endless, seeded stream of batches whose position is a sample count.

    The stream is the concatenation of per-epoch permutations of the data set (epoch e uses
    seed ``seed`` and ``e``); every step consumes ``world * batch_size`` consecutive stream
    entries and rank r takes its own slice, so any position can be restarted exactly, even with a
    different number of processes.
    """

    def __init__(self, num_items: int, batch_size: int, seed: int, start: int = 0, rank: int = 0, world: int = 1):
        if num_items < 1:
            raise ValueError("the data set is empty")
        self.num_items, self.batch_size, self.seed = num_items, batch_size, seed
        self.start, self.rank, self.world = start, rank, world

    def _permutation(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed((self.seed * 1_000_003 + epoch) % 2**63)
        return torch.randperm(self.num_items, generator=g)

    def stream(self, start: int) -> Iterator[int]:
        """Data-set indices from stream position ``start`` on."""
        epoch, offset = divmod(start, self.num_items)
        while True:
            perm = self._permutation(epoch).tolist()
            yield from perm[offset:]
            epoch, offset = epoch + 1, 0

    def __iter__(self) -> Iterator[list[int]]:
        it = self.stream(self.start)
        while True:
            chunk = [next(it) for _ in range(self.world * self.batch_size)]
            yield chunk[self.rank * self.batch_size:(self.rank + 1) * self.batch_size]

    def __len__(self) -> int:  # endless; DataLoader only needs a number for its bookkeeping
        return 2**62


# --- EMA ----------------------------------------------------------------------------------

class EMA:
    """Exponential moving average of a model's state (floating tensors averaged, others copied)."""

    def __init__(self, model: torch.nn.Module, decay: float, update_every: int):
        self.decay, self.update_every, self.num_updates = decay, update_every, 0
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def maybe_update(self, model: torch.nn.Module, step: int) -> bool:
        """Update after optimizer step number ``step`` (1-based count) when it is a multiple of update_every."""
        if step % self.update_every:
            return False
        current = model.state_dict()
        floats = [(self.shadow[k], v) for k, v in current.items() if v.is_floating_point()]
        if floats:
            shadow, live = zip(*floats)
            # PyTorch's multi-tensor lerp (underscored, yet what torch.optim and torch.optim.swa_utils use for
            # their own averages): one kernel launch for all tensors instead of one per tensor. If it goes, this
            # line fails at the first EMA update; ``s.lerp_(v, 1 - decay)`` per tensor gives the same values.
            torch._foreach_lerp_(list(shadow), list(live), 1.0 - self.decay)
        for k, v in current.items():
            if not v.is_floating_point():
                self.shadow[k].copy_(v)
        self.num_updates += 1
        return True

    def state_dict(self) -> dict:
        """Shadow weights and counters."""
        return {"decay": self.decay, "update_every": self.update_every, "num_updates": self.num_updates,
                "shadow": {k: v.detach().clone() for k, v in self.shadow.items()}}

    def load_state_dict(self, state: dict) -> None:
        """Restore from ``state_dict()``."""
        self.num_updates = int(state["num_updates"])
        for k, v in state["shadow"].items():
            self.shadow[k].copy_(v)


# --- LR schedule --------------------------------------------------------------------------

class LRMultiplier:
    """LambdaLR multiplier: max((1 - it/T)^0.95, min_lr/lr), i.e. RadioDiff's decay with a true LR floor."""

    def __init__(self, lr: float, min_lr: float, total_steps: int):
        self.lr, self.min_lr, self.total_steps = float(lr), float(min_lr), int(total_steps)

    def __call__(self, it: int) -> float:
        frac = max(0.0, 1.0 - it / self.total_steps)
        return max(frac ** 0.95, self.min_lr / self.lr)


def lr_at(step: int, lr: float, min_lr: float, total_steps: int) -> float:
    """The learning rate used at optimizer step ``step`` (0-based)."""
    return lr * LRMultiplier(lr, min_lr, total_steps)(step)
