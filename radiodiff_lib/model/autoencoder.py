"""RadioDiff's first-stage VAE: the latent-diffusion AutoencoderKL (encoder, quant convs, decoder).

The pieces live in ``vae.py`` (Encoder, Decoder, posterior) and ``blocks.py``; this module holds the
model class that strings them together and the builder from a config.
"""
from __future__ import annotations

import torch
from torch import nn

from ..config import Config, DDConfig
from ..errors import ConfigError
from .vae import Decoder, DiagonalGaussianDistribution, Encoder


class AutoencoderKL(nn.Module):
    """RadioDiff's first-stage KL autoencoder: encoder, quant_conv, post_quant_conv, decoder."""

    def __init__(self, ddconfig: DDConfig, embed_dim: int):
        super().__init__()
        if not ddconfig.double_z:
            raise ConfigError(
                "model.ddconfig.double_z must be true: the KL autoencoder needs a mean and a logvar "
                "per latent channel (as in RadioDiff)."
            )
        self.ddconfig, self.embed_dim = ddconfig, embed_dim
        self.encoder = Encoder(ddconfig)
        self.decoder = Decoder(ddconfig)
        self.quant_conv = nn.Conv2d(2 * ddconfig.z_channels, 2 * embed_dim, 1)  # moments -> 2E
        self.post_quant_conv = nn.Conv2d(embed_dim, ddconfig.z_channels, 1)  # E -> z_channels

    def encode(self, x: torch.Tensor) -> DiagonalGaussianDistribution:
        """x [B, in_channels, H, W] -> posterior over latents [B, E, H/2^L, W/2^L]."""
        return DiagonalGaussianDistribution(self.quant_conv(self.encoder(x)))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z [B, E, h, w] -> reconstruction [B, out_ch, h*2^L, w*2^L]."""
        return self.decoder(self.post_quant_conv(z))

    def forward(
        self, x: torch.Tensor, sample_posterior: bool = True, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, DiagonalGaussianDistribution]:
        """(reconstruction, posterior); decodes a sample or, with sample_posterior=False, the mode."""
        posterior = self.encode(x)
        z = posterior.sample(generator) if sample_posterior else posterior.mode()
        return self.decode(z), posterior

    def autoencoder_parameters(self) -> list[nn.Parameter]:
        """What the autoencoder optimizer trains, in RadioDiff's ``opt_ae`` order: encoder, decoder,
        quant_conv, post_quant_conv (the loss's ``logvar`` is not among them, as in latent diffusion)."""
        parts = (self.encoder, self.decoder, self.quant_conv, self.post_quant_conv)
        return [p for part in parts for p in part.parameters()]

    def get_last_layer(self) -> torch.Tensor:
        """The decoder's last conv weight: the adaptive GAN weight balances gradients here."""
        return self.decoder.conv_out.weight


def build_model(config: Config) -> AutoencoderKL:
    """The AutoencoderKL of ``config.model`` (ddconfig and embed_dim)."""
    return AutoencoderKL(config.model.ddconfig, config.model.embed_dim)


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (elements) in ``module``; works on meta-device modules too."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
