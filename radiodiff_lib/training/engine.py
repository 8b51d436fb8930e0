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

from contextlib import contextmanager, nullcontext
from typing import Any, Iterable, Iterator

import torch
from torch import nn

from ..vocabulary import DISCRIMINATOR_METRICS, GENERATOR_METRICS
from .health import N_GENERATOR, NonFiniteWatch, logs_vector


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


def make_adamw(params: list[nn.Parameter], lr: float, fused: bool) -> torch.optim.AdamW:
    """AdamW (PyTorch's defaults, as RadioDiff), with the fused kernel when the device has one."""
    return torch.optim.AdamW(params, lr=lr, fused=True) if fused else torch.optim.AdamW(params, lr=lr)


def load_optimizer_state(opt: torch.optim.Optimizer, state: dict) -> None:
    """Load ``state`` but keep this optimizer's kernel (fused/foreach): ``load_state_dict`` would take the
    checkpoint's choice, e.g. not fused from an older checkpoint, and with it the host-synced step."""
    kernel = {k: opt.param_groups[0][k] for k in ("fused", "foreach") if k in opt.param_groups[0]}
    opt.load_state_dict({**state, "param_groups": [{**g, **kernel} for g in state["param_groups"]]})


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
    overflow (after ``unscale_``; GradScaler keeps its per-device flags in this private dict)."""
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
    """Computes optimizer steps for a Trainer: its model, loss, optimizers, scalers and process group."""

    def __init__(self, trainer: Any, watch: NonFiniteWatch):
        t = trainer
        self.t, self.watch, self.runtime = t, watch, t.runtime
        self.accum = t.tr.gradient_accumulate_every
        if self.runtime.compile:
            compile_parts(t.model, t.loss)
        self.gen = t.dist.wrap(GeneratorForward(t.model, t.loss))
        self.disc = t.dist.wrap(DiscriminatorForward(t.loss))
        self.bn_guard = BufferGuard(t.loss.discriminator)

    def step(self, batches: Iterator[dict], step: int, position: int) -> tuple[torch.Tensor, bool]:
        """Run optimizer step ``step`` from data position ``position``; returns (logged values as one device
        vector, mean over micro-batches and processes in ``GENERATOR_METRICS + DISCRIMINATOR_METRICS`` order,
        whether the discriminator trained)."""
        t = self.t
        gan = t.loss.disc_factor_at(step) > 0
        for p in t.ae_params + t.disc_params:
            p.grad = None
        if gan:
            self.bn_guard.save()
        gen_values, pairs = self._generator_pass(batches, step, position, keep=gan)
        disc_values = self._discriminator_pass(pairs, step) if gan else torch.zeros_like(gen_values[:3])
        values = t.dist.mean(torch.cat([gen_values, disc_values]))
        bad = ~torch.isfinite(values)
        gen_bad = bad[:N_GENERATOR].any() | self.watch.blocked
        ae_norm_bad = optimizer_step(t.opt_ae, t.ae_params, t.scaler_ae, t.tr.max_grad_norm, gen_bad)
        disc_norm_bad = torch.zeros_like(ae_norm_bad)
        if gan:
            disc_skip = gen_bad | bad[N_GENERATOR:].any()
            disc_norm_bad = optimizer_step(t.opt_disc, t.disc_params, t.scaler_disc, t.tr.max_grad_norm, disc_skip)
            self.bn_guard.restore_if(disc_skip | disc_norm_bad)
        self.watch.record(step, torch.cat([bad, ae_norm_bad.reshape(1), disc_norm_bad.reshape(1)]))
        return values, gan

    def _sync(self, module: nn.Module, last: bool) -> Any:
        """DDP all-reduces on the last micro-batch only (accumulation); a no-op in one process."""
        return nullcontext() if last or not hasattr(module, "no_sync") else module.no_sync()

    def _input(self, batches: Iterator[dict]) -> torch.Tensor:
        x = next(batches)["image"].to(self.t.device, non_blocking=True)
        return x.contiguous(memory_format=self.runtime.memory_format)

    def _noise(self, position: int, micro: int) -> torch.Generator:
        """The posterior-sampling generator of a micro-batch, seeded by its position in the data stream:
        the noise of a sample does not depend on the number of processes or on what ran before."""
        t = self.t
        first = position + (micro * t.dist.world + t.dist.rank) * t.config.data.batch_size
        return torch.Generator(device=t.device).manual_seed((t.tr.seed * 1_000_003 + first) % 2**63)

    def _generator_pass(self, batches: Iterator[dict], step: int, position: int,
                        keep: bool) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        t, total_values, pairs = self.t, None, []
        with frozen(t.disc_params):
            for m in range(self.accum):
                x = self._input(batches)
                with self._sync(self.gen, last=m == self.accum - 1):
                    with self.runtime.autocast():
                        total, logs, rec = self.gen(x, step, self._noise(position, m))
                    t.scaler_ae.scale(total / self.accum).backward()
                values = logs_vector(logs, GENERATOR_METRICS)
                total_values = values if total_values is None else total_values + values
                if keep:
                    pairs.append((x, rec))
        return total_values / self.accum, pairs

    def _discriminator_pass(self, pairs: list[tuple[torch.Tensor, torch.Tensor]], step: int) -> torch.Tensor:
        total_values = None
        for m, (x, rec) in enumerate(pairs):
            with self._sync(self.disc, last=m == len(pairs) - 1):
                with self.runtime.autocast():
                    d_loss, logs = self.disc(x, rec, step)
                self.t.scaler_disc.scale(d_loss / self.accum).backward()
            values = logs_vector(logs, DISCRIMINATOR_METRICS)
            total_values = values if total_values is None else total_values + values
        return total_values / self.accum
