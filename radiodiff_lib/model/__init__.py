"""The first-stage model: the AutoencoderKL, its PatchGAN discriminator, the VAE-GAN loss and LPIPS.

Parameter names reproduce RadioDiff's state dict, so its checkpoints load without renaming.
"""
from .autoencoder import AutoencoderKL, build_model, count_parameters
from .discriminator import NLayerDiscriminator
from .losses import VAEGANLoss, build_loss, disc_factor_at
from .lpips import LPIPS, load_lpips
from .vae import Decoder, DiagonalGaussianDistribution, Encoder

__all__ = ["AutoencoderKL", "Decoder", "DiagonalGaussianDistribution", "Encoder", "LPIPS", "NLayerDiscriminator",
           "VAEGANLoss", "build_loss", "build_model", "count_parameters", "disc_factor_at", "load_lpips"]
