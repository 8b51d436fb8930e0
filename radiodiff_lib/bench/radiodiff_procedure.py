"""RadioDiff's ``train_vae.py`` step, as its users run it: the benchmark's baseline.

fp32, PyTorch's default AdamW, the same model. Before ``disc_start`` (gradient_accumulate_every
1) a step is one VAE forward, the discriminator forward and the adaptive weight (two autograd
passes through the decoder's last layer and the discriminator), all multiplied by a GAN factor
of 0, and the backward (through the discriminator too). In the GAN phase RadioDiff users need
gradient_accumulate_every 2 for the discriminator to train at all, which makes a step two VAE
forwards: one for the generator update, one (with its graph, as latent diffusion's
``training_step`` builds it) whose detached output feeds the discriminator update. Gradient
clipping comes after the optimizer steps (where it clips nothing, but costs a norm); EMA every
10 steps. Reference sections 3-6 describe these quirks.
"""
from __future__ import annotations

from typing import Iterator

import torch

from ..model.losses import VAEGANLoss, adaptive_weight, kl_term, nll_terms, reconstruction_loss
from ..training.state import EMA
from .memory import tensor_bytes


class RadioDiffProcedure:
    """One RadioDiff training step per ``step(step)`` call, on its own copy of the model and loss."""

    def __init__(self, model: torch.nn.Module, loss: VAEGANLoss, batches: Iterator[torch.Tensor]):
        self.model, self.loss, self.batches = model.train(), loss.train(), batches
        self.opt_ae = torch.optim.AdamW(model.autoencoder_parameters(), lr=5e-6)
        self.opt_disc = torch.optim.AdamW(loss.discriminator.parameters(), lr=5e-6)
        self.ema = EMA(model, 0.995, 10)

    def generator_loss(self, x: torch.Tensor, step: int) -> torch.Tensor:
        """Latent diffusion's generator loss: the adaptive weight is computed whatever the GAN factor."""
        rec, posterior = self.model(x)
        nll = nll_terms(reconstruction_loss(x, rec, self.loss.perceptual_loss, self.loss.perceptual_weight),
                        self.loss.logvar)
        g_loss = -torch.mean(self.loss.discriminator(rec.contiguous()))
        d_weight = adaptive_weight(nll, g_loss, self.model.get_last_layer(), self.loss.discriminator_weight)
        factor = self.loss.disc_factor_at(step)
        return nll + self.loss.kl_weight * kl_term(posterior) + d_weight * factor * g_loss

    def discriminator_loss(self, x: torch.Tensor, step: int) -> torch.Tensor:
        """A second VAE forward (graph and all), then the discriminator loss on its detached output."""
        rec, _ = self.model(x)
        d_loss, _ = self.loss.discriminator_loss(x, rec.detach(), step)
        return d_loss

    def step(self, step: int) -> None:
        """RadioDiff's optimizer step ``step``: ga 1 before disc_start, ga 2 from it on."""
        accumulate = 1 if self.loss.disc_factor_at(step) == 0 else 2
        for index in range(accumulate):  # RadioDiff's ga index is the optimizer index
            x = next(self.batches)
            if index == 0:
                self.opt_ae.zero_grad()
                self.opt_disc.zero_grad()
                self.generator_loss(x, step).backward()
                self.opt_ae.step()
            else:
                self.opt_disc.zero_grad()
                self.discriminator_loss(x, step).backward()
                self.opt_disc.step()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)  # after the steps: clips nothing
        self.ema.maybe_update(self.model, step + 1)

    def resident_bytes(self) -> int:
        """Bytes it holds between steps: weights, gradients, AdamW moments, EMA."""
        params = list(self.model.parameters()) + list(self.loss.parameters())
        opt_state = [v for opt in (self.opt_ae, self.opt_disc) for s in opt.state.values() for v in s.values()
                     if isinstance(v, torch.Tensor)]
        return tensor_bytes(params + [p.grad for p in params] + opt_state + list(self.ema.shadow.values()))
