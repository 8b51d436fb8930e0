"""One optimizer step of the VAE-GAN, computed without a host round trip.

The generator loss (VAE forward, then the loss with its adaptive weight) and the discriminator
loss are each a module's forward, so that with several processes DistributedDataParallel wraps
them and all-reduces gradients in buckets while the backward still runs. The discriminator
pass uses the reconstructions of the generator pass (detached, no second VAE forward) and runs
before either optimizer steps, so one all-reduce of the logged values serves the logs (mean over
processes) and the non-finite checks (the same flags on every process). A bad step is skipped on
the device: the fused AdamW kernel takes a ``found_inf`` flag and then leaves weights, moments and
step count untouched.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager, nullcontext
from typing import Any, Iterable, Iterator

import torch
from torch import nn

from ..config import Config
from ..errors import TrainingError
from ..vocabulary import DISCRIMINATOR_METRICS, GENERATOR_METRICS
from .distributed import Dist
from .health import N_GENERATOR, NonFiniteWatch, logs_vector
from .runtime import Runtime
from .state import TrainState


class GeneratorForward(nn.Module):
    """x -> (total_loss, logs, detached reconstruction): the VAE and the generator loss as one forward.

    The loss (and its discriminator) is referenced, not registered: DDP syncs the VAE's gradients only.
    """

    def __init__(self, model: nn.Module, loss: nn.Module):
        super().__init__()
        self.vae = model
        self._loss = (loss,)  # a tuple is not registered as a submodule

    def forward(self, x: torch.Tensor, step: int, noise: torch.Generator) -> tuple[torch.Tensor, dict, torch.Tensor]:
        rec, posterior = self.vae(x, generator=noise)
        total, logs = self._loss[0].generator_loss(x, rec, posterior, step, self.vae.get_last_layer())
        return total, logs, rec.detach()


class DiscriminatorForward(nn.Module):
    """(x, detached reconstruction) -> (disc_loss, logs): the discriminator loss as one forward."""

    def __init__(self, loss: nn.Module):
        super().__init__()
        self.discriminator = loss.discriminator
        self._loss = (loss,)

    def forward(self, x: torch.Tensor, rec: torch.Tensor, step: int) -> tuple[torch.Tensor, dict]:
        return self._loss[0].discriminator_loss(x, rec, step)


def compile_parts(model: nn.Module, loss: nn.Module) -> None:
    """torch.compile the encoder, the decoder before ``conv_out`` and the discriminator, in place (state-dict
    names unchanged). ``conv_out`` stays eager: the adaptive weight takes gradients at its weight, and a
    compiled backward would compute every gradient of the decoder for that."""
    model.encoder.compile()
    if "features" not in vars(model.decoder):  # a second launch on the same model: compiled already
        model.decoder.features = torch.compile(model.decoder.features)
    loss.discriminator.compile()


@contextmanager
def frozen(params: Iterable[nn.Parameter]) -> Iterator[None]:
    """``requires_grad`` off for ``params`` inside (the discriminator during the generator pass: its input
    gradient is needed, its weight gradients are not, and a compiled discriminator would compute them)."""
    params = list(params)
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def add_found_inf(scaler: torch.amp.GradScaler, opt: torch.optim.Optimizer, skip: torch.Tensor) -> None:
    """Make GradScaler skip ``opt``'s step when ``skip`` (a device bool) is set, as it does for an
    overflow (after ``unscale_``)."""
    # GradScaler keeps its per-device overflow flags in this private dict (PyTorch 2.x); it has no public
    # way to add a reason to skip, and reading the flag on the host would cost a device sync per step. If
    # the dict is renamed or reshaped, fp16 training fails here with a KeyError or AttributeError at its
    # first step (tests/training/test_engine.py covers the GradScaler path on CPU).
    for found in scaler._per_optimizer_states[id(opt)]["found_inf_per_device"].values():
        torch.maximum(found, skip.to(found.dtype), out=found)


def optimizer_step(opt: torch.optim.Optimizer, params: list[nn.Parameter], scaler: torch.amp.GradScaler,
                   max_norm: float, skip: torch.Tensor) -> torch.Tensor:
    """Clip and step ``opt`` unless ``skip`` or a non-finite gradient norm says no (on the device when the
    optimizer is fused); returns the device flag 'gradient norm not finite' (always False under GradScaler,
    whose overflow skips are routine)."""
    scaled = scaler.is_enabled()
    if scaled:
        scaler.unscale_(opt)
    fused = not scaled and opt.defaults.get("fused")
    norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None], foreach=True)
    if max_norm > 0 and not fused:
        torch.nn.utils.clip_grads_with_norm_(params, max_norm, norm, foreach=True)
    bad_norm = torch.zeros_like(skip) if scaled else ~torch.isfinite(norm)
    if scaled:
        add_found_inf(scaler, opt, skip)
        scaler.step(opt)
        scaler.update()
    elif fused:
        # The clip happens in the kernel, which divides each gradient by grad_scale (1 when nothing is clipped):
        # one pass over the gradients fewer. found_inf is its skip flag (0 or 1).
        opt.grad_scale = 1 / torch.clamp(max_norm / (norm + 1e-6), max=1.0) if max_norm > 0 else None
        opt.found_inf = (skip | bad_norm).float()
        opt.step()
        opt.grad_scale = opt.found_inf = None
    elif not bool(skip | bad_norm):  # no device-side skip without the fused kernel: one host round trip
        opt.step()
    return bad_norm


class BufferGuard:
    """Undoes a skipped step's effect on the discriminator's BatchNorm statistics (a bad batch makes them NaN)."""

    def __init__(self, module: nn.Module):
        self.buffers = [b for b in module.buffers() if b.is_floating_point()]
        self.saved: list[torch.Tensor] = []

    def save(self) -> None:
        """Remember the current statistics."""
        self.saved = [b.clone() for b in self.buffers]

    def restore_if(self, bad: torch.Tensor) -> None:
        """Put the remembered statistics back where ``bad`` (a device bool) is set."""
        for buf, old in zip(self.buffers, self.saved):
            buf.copy_(torch.where(bad, old, buf))


class StepEngine:
    """Computes optimizer steps of a ``TrainState``: it holds the step's machinery (the loss modules, wrapped in
    DDP with several processes; the BatchNorm guard; the non-finite watch), never the state itself."""

    def __init__(self, state: TrainState, config: Config, runtime: Runtime, dist: Dist, watch: NonFiniteWatch,
                 samples_per_step: int):
        tr = config.trainer
        self.runtime, self.dist, self.watch = runtime, dist, watch
        self.accum, self.max_grad_norm = tr.gradient_accumulate_every, tr.max_grad_norm
        self.seed, self.batch_size = tr.seed, config.data.batch_size
        self.samples_per_step = samples_per_step  # how far one step moves the data position
        if runtime.compile:
            compile_parts(state.model, state.loss)
        gen, disc = GeneratorForward(state.model, state.loss), DiscriminatorForward(state.loss)  # for this state
        self.bn_guard = BufferGuard(state.loss.discriminator)
        # every process starts from rank 0's weights; with several, DDP all-reduces each forward's gradients
        dist.broadcast_state(state.model)
        dist.broadcast_state(state.loss)
        self.gen, self.disc = dist.wrap(gen), dist.wrap(disc)

    def step(self, state: TrainState, batches: Iterator[dict]) -> tuple[torch.Tensor, bool]:
        """Optimizer step ``state.step``, in this order: gradients cleared; the generator pass over the micro-batches
        (VAE forward, generator loss, backward); from disc_start the discriminator pass on the same inputs and
        reconstructions; the logged values averaged over processes; the autoencoder optimizer, then the
        discriminator's (a step with a non-finite value is skipped on the device); then the LR schedulers, the step
        count, the data position and the EMA advance. Returns (the logged values as one device vector,
        ``GENERATOR_METRICS + DISCRIMINATOR_METRICS``, whether the discriminator trained)."""
        step, position = state.step, state.data_position
        with _deterministic_kernels_explained(self.runtime.device):
            gan = state.loss.disc_factor_at(step) > 0
            for p in state.ae_params + state.disc_params:
                p.grad = None
            if gan:
                self.bn_guard.save()
            gen_values, pairs = self._generator_pass(state, batches, step, position, keep=gan)
            disc_values = self._discriminator_pass(state, pairs, step) if gan else torch.zeros_like(gen_values[:3])
            values = self.dist.mean(torch.cat([gen_values, disc_values]))
            bad = ~torch.isfinite(values)
            gen_bad = bad[:N_GENERATOR].any() | self.watch.blocked
            ae_norm_bad = optimizer_step(state.opt_ae, state.ae_params, state.scaler_ae, self.max_grad_norm, gen_bad)
            disc_norm_bad = torch.zeros_like(ae_norm_bad)
            if gan:
                disc_skip = gen_bad | bad[N_GENERATOR:].any()
                disc_norm_bad = optimizer_step(state.opt_disc, state.disc_params, state.scaler_disc,
                                               self.max_grad_norm, disc_skip)
                self.bn_guard.restore_if(disc_skip | disc_norm_bad)
            self.watch.record(step, torch.cat([bad, ae_norm_bad.reshape(1), disc_norm_bad.reshape(1)]))
        self._advance(state)
        return values, gan

    def _advance(self, state: TrainState) -> None:
        """LR schedulers, step count, data position and EMA after an optimizer step."""
        with warnings.catch_warnings():
            # before disc_start opt_disc is idle on purpose; its LR still follows the schedule
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step", category=UserWarning)
            state.sched_ae.step()
            state.sched_disc.step()
        state.step += 1
        state.data_position += self.samples_per_step
        if state.ema is not None:
            state.ema.maybe_update(state.model, state.step)

    def _sync(self, module: nn.Module, last: bool) -> Any:
        """DDP all-reduces on the last micro-batch only (accumulation); a no-op in one process."""
        return nullcontext() if last or not hasattr(module, "no_sync") else module.no_sync()

    def _input(self, batches: Iterator[dict]) -> torch.Tensor:
        x = next(batches)["image"].to(self.runtime.device, non_blocking=True)
        return x.contiguous(memory_format=self.runtime.memory_format)

    def _noise(self, position: int, micro: int) -> torch.Generator:
        """The posterior-sampling generator of a micro-batch, seeded by its position in the data stream:
        the noise of a sample does not depend on the number of processes or on what ran before."""
        first = position + (micro * self.dist.world + self.dist.rank) * self.batch_size
        return torch.Generator(device=self.runtime.device).manual_seed((self.seed * 1_000_003 + first) % 2**63)

    def _generator_pass(self, state: TrainState, batches: Iterator[dict], step: int, position: int,
                        keep: bool) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        total_values, pairs = None, []
        with frozen(state.disc_params):
            for m in range(self.accum):
                x = self._input(batches)
                with self._sync(self.gen, last=m == self.accum - 1):
                    with self.runtime.autocast():
                        total, logs, rec = self.gen(x, step, self._noise(position, m))
                    state.scaler_ae.scale(total / self.accum).backward()
                values = logs_vector(logs, GENERATOR_METRICS)
                total_values = values if total_values is None else total_values + values
                if keep:
                    pairs.append((x, rec))
        return total_values / self.accum, pairs

    def _discriminator_pass(self, state: TrainState, pairs: list[tuple[torch.Tensor, torch.Tensor]],
                            step: int) -> torch.Tensor:
        total_values = None
        for m, (x, rec) in enumerate(pairs):
            with self._sync(self.disc, last=m == len(pairs) - 1):
                with self.runtime.autocast():
                    d_loss, logs = self.disc(x, rec, step)
                state.scaler_disc.scale(d_loss / self.accum).backward()
            values = logs_vector(logs, DISCRIMINATOR_METRICS)
            total_values = values if total_values is None else total_values + values
        return total_values / self.accum


@contextmanager
def _deterministic_kernels_explained(device: torch.device) -> Iterator[None]:
    """A kernel that deterministic mode forbids becomes a TrainingError that says what to do."""
    try:
        yield
    except RuntimeError as exc:
        if "deterministic" not in str(exc):
            raise
        raise TrainingError(
            f"an operation has no deterministic kernel on {device.type} ({str(exc).splitlines()[0]}). "
            "Set trainer.deterministic: false to train with it (resume is then exact but not bitwise)."
        ) from None
