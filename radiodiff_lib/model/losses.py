"""RadioDiff's VAE-GAN loss (latent diffusion's LPIPSWithDiscriminator plus RadioDiff's L2 term).

The math lives in small pure functions (``reconstruction_loss``, ``nll_terms``, ``kl_term``,
``adaptive_weight`` (the reference form), ``adversarial_term`` (what the loss uses: the same weight,
one pass back through the discriminator), ``hinge_d_loss``, ``vanilla_d_loss``, ``disc_factor_at``)
that ``VAEGANLoss`` strings together; the trainer calls ``generator_loss`` then
``discriminator_loss``. Logged quantities carry RadioDiff's names (``train/total_loss``, ...).

Checkpointing: ``VAEGANLoss.state_dict()`` holds exactly ``logvar`` and ``discriminator.*``
(RadioDiff's ``loss.logvar`` / ``loss.discriminator.*`` once the trainer prefixes ``loss.``).
The frozen LPIPS network keeps its weights in non-persistent buffers, so it is never part of a
state dict; it is rebuilt from ``lossconfig.lpips_weights`` when the loss is built.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import Config, LossConfig
from ..errors import ConfigError
from ..vocabulary import (
    D_WEIGHT, DISC_FACTOR, DISC_LOSS, G_LOSS, KL_LOSS, LOGITS_FAKE, LOGITS_REAL, LOGVAR, NLL_LOSS, REC_LOSS, TOTAL_LOSS,
)
from .discriminator import NLayerDiscriminator
from .lpips import LPIPS, load_lpips
from .vae import DiagonalGaussianDistribution

# --- pure functions of tensors ----------------------------------------------------------------


def disc_factor_at(step: int, disc_start: int, factor: float) -> float:
    """The GAN factor at ``step``: 0 while step < disc_start, ``factor`` from disc_start on."""
    return 0.0 if step < disc_start else float(factor)


def reconstruction_loss(
    inputs: torch.Tensor, reconstructions: torch.Tensor,
    perceptual: LPIPS | None = None, perceptual_weight: float = 0.0,
) -> torch.Tensor:
    """Per-pixel rec = |x - x'| + (x - x')^2 (+ perceptual_weight * LPIPS(x, x'), broadcast) [B, C, H, W]."""
    # float32 even under bf16/fp16 autocast: nll_loss sums ~1e5 pixels, too many for half precision.
    diff = inputs.float() - reconstructions.float()
    rec = diff.abs() + diff.pow(2)
    if perceptual is not None and perceptual_weight > 0:
        rec = rec + perceptual_weight * perceptual(inputs.contiguous(), reconstructions.contiguous())
    return rec


def nll_terms(rec: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """nll_loss = sum(rec / exp(logvar) + logvar) / B (a sum over pixels, hence large values)."""
    nll = rec / torch.exp(logvar) + logvar
    return torch.sum(nll) / nll.shape[0]


def kl_term(posterior: DiagonalGaussianDistribution) -> torch.Tensor:
    """kl_loss = sum over the batch of the per-sample KL, divided by B."""
    kl = posterior.kl()
    return torch.sum(kl) / kl.shape[0]


def adaptive_weight(
    nll_loss: torch.Tensor, g_loss: torch.Tensor, last_layer: torch.Tensor, disc_weight: float
) -> torch.Tensor:
    """clamp(||d nll/d last|| / (||d g/d last|| + 1e-4), 0, 1e4) * disc_weight, detached (0-dim)."""
    nll_grads = torch.autograd.grad(nll_loss, last_layer, retain_graph=True)[0]
    g_grads = torch.autograd.grad(g_loss, last_layer, retain_graph=True)[0]
    d_weight = torch.norm(nll_grads) / (torch.norm(g_grads) + 1e-4)
    return torch.clamp(d_weight, 0.0, 1e4).detach() * disc_weight


def adversarial_term(
    nll_loss: torch.Tensor, g_loss: torch.Tensor, reconstructions: torch.Tensor, last_layer: torch.Tensor,
    disc_weight: float, disc_factor: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(d_weight * disc_factor * g_loss, d_weight) with the adaptive weight of ``adaptive_weight``, going
    back through the discriminator once.

    d g_loss / d x' is computed once (an input-gradient pass through D) and serves both the weight
    (its image at ``last_layer``) and the backward of the returned term, whose value is the plain
    product and whose gradient w.r.t. x' is d_weight * disc_factor * d g_loss / d x' (nothing flows
    into the discriminator's parameters; its graph is freed here).
    """
    g_rec = torch.autograd.grad(g_loss, reconstructions)[0]
    g_last = torch.autograd.grad(reconstructions, last_layer, grad_outputs=g_rec, retain_graph=True)[0]
    nll_last = torch.autograd.grad(nll_loss, last_layer, retain_graph=True)[0]
    d_weight = torch.clamp(torch.norm(nll_last) / (torch.norm(g_last) + 1e-4), 0.0, 1e4).detach() * disc_weight
    scale = d_weight * disc_factor
    push = torch.sum(reconstructions * (scale * g_rec).to(reconstructions.dtype))
    return scale * g_loss.detach() + (push - push.detach()), d_weight


def hinge_d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """0.5 * (mean(relu(1 - D(x))) + mean(relu(1 + D(x'))))."""
    return 0.5 * (torch.mean(F.relu(1.0 - logits_real)) + torch.mean(F.relu(1.0 + logits_fake)))


def vanilla_d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """0.5 * (mean(softplus(-D(x))) + mean(softplus(D(x')))) (the non-saturating BCE loss)."""
    return 0.5 * (torch.mean(F.softplus(-logits_real)) + torch.mean(F.softplus(logits_fake)))


D_LOSSES = {"hinge": hinge_d_loss, "vanilla": vanilla_d_loss}


# --- the module ---------------------------------------------------------------------------------


class VAEGANLoss(nn.Module):
    """RadioDiff's loss: ``logvar`` (scalar parameter), ``discriminator`` and optional ``perceptual_loss``.

    ``pixelloss_weight`` and ``disc_conditional`` are accepted for config compatibility;
    as in latent diffusion, the pixel weight is stored but not applied.
    """

    def __init__(self, lossconfig: LossConfig, perceptual_loss: LPIPS | None = None):
        super().__init__()
        lc = lossconfig
        if lc.disc_loss not in D_LOSSES:
            raise ConfigError(f"model.lossconfig.disc_loss must be 'hinge' or 'vanilla', got '{lc.disc_loss}'")
        if lc.perceptual_weight > 0 and perceptual_loss is None:
            raise ConfigError("perceptual_weight > 0 needs an LPIPS network: build the loss with build_loss(config).")
        self.config = lc
        self.kl_weight = lc.kl_weight
        self.pixel_weight = lc.pixelloss_weight
        self.perceptual_weight = lc.perceptual_weight
        self.disc_start = lc.disc_start
        self.disc_factor = lc.disc_factor
        self.discriminator_weight = lc.disc_weight
        self.d_loss_fn = D_LOSSES[lc.disc_loss]
        self.logvar = nn.Parameter(torch.ones(()) * lc.logvar_init)  # 0-dim, as RadioDiff's loss.logvar
        self.discriminator = NLayerDiscriminator(
            input_nc=lc.disc_in_channels, n_layers=lc.disc_num_layers, use_actnorm=lc.use_actnorm
        )
        # Frozen and never in state_dict() (see lpips.py); None when perceptual_weight == 0.
        self.perceptual_loss = perceptual_loss if lc.perceptual_weight > 0 else None

    def disc_factor_at(self, step: int) -> float:
        """The GAN factor at ``step`` for this loss's disc_start and disc_factor."""
        return disc_factor_at(step, self.disc_start, self.disc_factor)

    def generator_loss(
        self, inputs: torch.Tensor, reconstructions: torch.Tensor,
        posterior: DiagonalGaussianDistribution, step: int, last_layer: torch.Tensor | None,
    ) -> tuple[torch.Tensor, dict]:
        """(total_loss, logs) for the autoencoder step; no discriminator work while disc_factor is 0."""
        rec = reconstruction_loss(inputs, reconstructions, self.perceptual_loss, self.perceptual_weight)
        nll_loss = nll_terms(rec, self.logvar)
        kl_loss = kl_term(posterior)
        disc_factor = self.disc_factor_at(step)
        total = nll_loss + self.kl_weight * kl_loss
        logs = {
            TOTAL_LOSS: None,
            LOGVAR: self.logvar.detach().clone(),
            KL_LOSS: kl_loss.detach(),
            NLL_LOSS: nll_loss.detach(),
            REC_LOSS: rec.detach().mean(),
        }
        if disc_factor > 0:
            logits_fake = self.discriminator(reconstructions.contiguous())  # [B, 1, h, w]
            g_loss = -torch.mean(logits_fake)
            if last_layer is not None and torch.is_grad_enabled() and nll_loss.requires_grad:
                adversarial, d_weight = adversarial_term(nll_loss, g_loss, reconstructions, last_layer,
                                                         self.discriminator_weight, disc_factor)
            else:
                # Evaluation without a graph: as latent diffusion, the weight is 0 there.
                d_weight = torch.zeros((), device=inputs.device)
                adversarial = d_weight * disc_factor * g_loss
            total = total + adversarial
            logs[D_WEIGHT] = d_weight.detach()
        # on the loss's device: the trainer stacks the logs there without a host round trip
        logs[DISC_FACTOR] = torch.full((), disc_factor, device=inputs.device)
        if disc_factor > 0:
            logs[G_LOSS] = g_loss.detach()
        logs[TOTAL_LOSS] = total.detach()  # RadioDiff's key order, total first
        return total, logs

    def discriminator_loss(
        self, inputs: torch.Tensor, reconstructions_detached: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, dict]:
        """(disc_loss, logs) from the generator step's reconstruction (detached: no second VAE forward)."""
        logits_real = self.discriminator(inputs.contiguous().detach())
        logits_fake = self.discriminator(reconstructions_detached.contiguous().detach())
        d_loss = self.disc_factor_at(step) * self.d_loss_fn(logits_real, logits_fake)
        logs = {
            DISC_LOSS: d_loss.detach(),
            LOGITS_REAL: logits_real.detach().mean(),
            LOGITS_FAKE: logits_fake.detach().mean(),
        }
        return d_loss, logs


def build_loss(config: Config | LossConfig) -> VAEGANLoss:
    """The loss of ``config.model.lossconfig``; ConfigError now if LPIPS is asked for without weights."""
    lc = config if isinstance(config, LossConfig) else config.model.lossconfig
    if lc.disc_conditional:
        raise ConfigError(
            "model.lossconfig.disc_conditional: true is not supported: the radio-map VAE has no "
            "conditioning input. Set disc_conditional: false (RadioDiff's default)."
        )
    perceptual = load_lpips(lc.lpips_weights) if lc.perceptual_weight > 0 else None
    return VAEGANLoss(lc, perceptual)
