"""Encoder, Decoder and the diagonal Gaussian posterior of RadioDiff's first-stage VAE.

Module names reproduce RadioDiff's state dict exactly (``encoder.down.0.block.0.norm1.weight``,
``decoder.up.2.block.0.conv1.weight``, ...), so its checkpoints load with no renaming. Shapes in
comments: B batch, C channels, H x W the image size, L = len(ch_mult) - 1 halvings.
"""
from __future__ import annotations

import torch
from torch import nn

from ..config import DDConfig
from .blocks import AttnBlock, Downsample, Normalize, ResnetBlock, Upsample, swish


def _level_module() -> nn.Module:
    m = nn.Module()
    m.block = nn.ModuleList()
    m.attn = nn.ModuleList()
    return m


def _mid(channels: int, dropout: float) -> nn.Module:
    mid = nn.Module()
    mid.block_1 = ResnetBlock(channels, channels, dropout)
    mid.attn_1 = AttnBlock(channels)
    mid.block_2 = ResnetBlock(channels, channels, dropout)
    return mid


def _run_mid(mid: nn.Module, h: torch.Tensor) -> torch.Tensor:
    return mid.block_2(mid.attn_1(mid.block_1(h)))


class Encoder(nn.Module):
    """x [B, in_channels, H, W] -> moments [B, 2*z_channels, H/2^L, W/2^L] (L = len(ch_mult)-1)."""

    def __init__(self, dd: DDConfig):
        super().__init__()
        self.num_resolutions = len(dd.ch_mult)
        self.num_res_blocks = dd.num_res_blocks
        self.conv_in = nn.Conv2d(dd.in_channels, dd.ch, 3, stride=1, padding=1)
        curr_res = dd.resolution[0]  # LDM tracks one side only, halving it per level
        in_ch_mult = (1, *dd.ch_mult)
        self.down = nn.ModuleList()
        block_in = dd.ch
        for i_level in range(self.num_resolutions):
            level = _level_module()
            block_in = dd.ch * in_ch_mult[i_level]
            block_out = dd.ch * dd.ch_mult[i_level]
            for _ in range(dd.num_res_blocks):
                level.block.append(ResnetBlock(block_in, block_out, dd.dropout))
                block_in = block_out
                if curr_res in dd.attn_resolutions:
                    level.attn.append(AttnBlock(block_in))
            if i_level != self.num_resolutions - 1:
                level.downsample = Downsample(block_in)
                curr_res = curr_res // 2
            self.down.append(level)
        self.mid = _mid(block_in, dd.dropout)
        self.norm_out = Normalize(block_in)
        z_out = 2 * dd.z_channels if dd.double_z else dd.z_channels
        self.conv_out = nn.Conv2d(block_in, z_out, 3, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)  # [B, ch, H, W]
        for i_level, level in enumerate(self.down):
            for i_block in range(self.num_res_blocks):
                h = level.block[i_block](h)  # [B, ch*ch_mult[i], H/2^i, W/2^i]
                if len(level.attn) > 0:
                    h = level.attn[i_block](h)
            if i_level != self.num_resolutions - 1:
                h = level.downsample(h)  # halve H and W
        h = _run_mid(self.mid, h)  # [B, ch*ch_mult[-1], H/2^L, W/2^L]
        return self.conv_out(swish(self.norm_out(h)))  # [B, 2*z_channels, H/2^L, W/2^L]


class Decoder(nn.Module):
    """z [B, z_channels, h, w] -> x [B, out_ch, h*2^L, w*2^L]; no final tanh (as RadioDiff)."""

    def __init__(self, dd: DDConfig):
        super().__init__()
        self.num_resolutions = len(dd.ch_mult)
        self.num_res_blocks = dd.num_res_blocks
        block_in = dd.ch * dd.ch_mult[-1]
        curr_res = dd.resolution[0] // 2 ** (self.num_resolutions - 1)
        self.conv_in = nn.Conv2d(dd.z_channels, block_in, 3, stride=1, padding=1)
        self.mid = _mid(block_in, dd.dropout)
        levels: list[nn.Module] = []
        for i_level in reversed(range(self.num_resolutions)):
            level = _level_module()
            block_out = dd.ch * dd.ch_mult[i_level]
            for _ in range(dd.num_res_blocks + 1):
                level.block.append(ResnetBlock(block_in, block_out, dd.dropout))
                block_in = block_out
                if curr_res in dd.attn_resolutions:
                    level.attn.append(AttnBlock(block_in))
            if i_level != 0:
                level.upsample = Upsample(block_in)
                curr_res = curr_res * 2
            levels.insert(0, level)  # stored in level order: up.0 is the highest resolution
        self.up = nn.ModuleList(levels)
        self.norm_out = Normalize(block_in)
        self.conv_out = nn.Conv2d(block_in, dd.out_ch, 3, stride=1, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.conv_out(self.features(z))  # [B, out_ch, H, W]

    def features(self, z: torch.Tensor) -> torch.Tensor:
        """Everything before ``conv_out`` [B, ch, H, W]: the part ``trainer.compile`` compiles, so that
        the adaptive weight's gradients at ``conv_out.weight`` never run a compiled backward."""
        h = self.conv_in(z)  # [B, ch*ch_mult[-1], h, w]
        h = _run_mid(self.mid, h)
        for i_level in reversed(range(self.num_resolutions)):
            level = self.up[i_level]
            for i_block in range(self.num_res_blocks + 1):
                h = level.block[i_block](h)  # [B, ch*ch_mult[i], ...]
                if len(level.attn) > 0:
                    h = level.attn[i_block](h)
            if i_level != 0:
                h = level.upsample(h)  # double H and W
        return swish(self.norm_out(h))


class DiagonalGaussianDistribution:
    """The posterior N(mean, exp(logvar)) from moments [B, 2*E, h, w] (mean and logvar halves)."""

    def __init__(self, parameters: torch.Tensor, deterministic: bool = False):
        self.parameters = parameters
        self.mean, logvar = torch.chunk(parameters, 2, dim=1)  # each [B, E, h, w]
        self.logvar = torch.clamp(logvar, -30.0, 20.0)  # keeps exp() finite, as LDM does
        self.deterministic = deterministic
        self.std = torch.exp(0.5 * self.logvar)
        self.var = torch.exp(self.logvar)
        if deterministic:
            self.var = self.std = torch.zeros_like(self.mean)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """mean + std * N(0, 1), drawn from ``generator`` when given."""
        noise = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + self.std * noise

    def mode(self) -> torch.Tensor:
        """The mean (the posterior's mode)."""
        return self.mean

    def kl(self) -> torch.Tensor:
        """KL(posterior || N(0, I)) per sample [B]: 0.5 * sum_{C,H,W}(mean^2 + var - 1 - logvar)."""
        if self.deterministic:
            return torch.zeros(self.mean.shape[0], device=self.mean.device)
        # float32 even when the moments come out of bf16/fp16 autocast (a sum over C*H*W terms).
        mean, var, logvar = self.mean.float(), self.var.float(), self.logvar.float()
        return 0.5 * torch.sum(mean.pow(2) + var - 1.0 - logvar, dim=[1, 2, 3])
