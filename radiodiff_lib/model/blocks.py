"""Building blocks of the latent-diffusion autoencoder: GroupNorm, ResNet block, attention, resampling.

Module and parameter names reproduce RadioDiff's state dict (``norm1``, ``conv1``, ``nin_shortcut``,
``q``/``k``/``v``/``proj_out``, ``conv``). Shapes in comments: B batch, C channels, H x W the image size.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def Normalize(channels: int) -> nn.GroupNorm:
    """GroupNorm(32) with eps 1e-6, as latent diffusion uses everywhere."""
    return nn.GroupNorm(num_groups=32, num_channels=channels, eps=1e-6, affine=True)


def swish(x: torch.Tensor) -> torch.Tensor:
    """x * sigmoid(x) (SiLU)."""
    return F.silu(x)


class ResnetBlock(nn.Module):
    """GN -> swish -> conv3x3 -> GN -> swish -> dropout -> conv3x3, plus a 1x1 shortcut when C changes."""

    def __init__(self, in_channels: int, out_channels: int, dropout: float = 0.0):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.norm1 = Normalize(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=1, padding=1)
        self.norm2 = Normalize(out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1)
        if in_channels != out_channels:
            # RadioDiff uses the 1x1 "nin" shortcut (conv_shortcut=False).
            self.nin_shortcut = nn.Conv2d(in_channels, out_channels, 1, stride=1, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(swish(self.norm1(x)))  # [B, Cout, H, W]
        h = self.conv2(self.dropout(swish(self.norm2(h))))  # [B, Cout, H, W]
        if self.in_channels != self.out_channels:
            x = self.nin_shortcut(x)
        return x + h


class AttnBlock(nn.Module):
    """Single-head self-attention over all H*W positions with 1x1 q, k, v and proj_out."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = Normalize(channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        # Tokens [B, HW, C] made contiguous once; the 1x1 convs are the same matmuls as linear layers on
        # them, so q, k and v come out contiguous and SDPA can pick its fused (flash / memory-efficient)
        # kernels instead of materialising the [HW, HW] matrix (6,400 x 6,400 at 320 x 320).
        tokens = self.norm(x).flatten(2).transpose(1, 2).contiguous()
        q, k, v = (F.linear(tokens, m.weight.reshape(c, c), m.bias).unsqueeze(1) for m in (self.q, self.k, self.v))
        out = F.scaled_dot_product_attention(q, k, v).squeeze(1)  # [B, HW, C]; one head, scale C^-0.5
        out = F.linear(out, self.proj_out.weight.reshape(c, c), self.proj_out.bias)
        return x + out.transpose(1, 2).reshape(b, c, h, w)


class Downsample(nn.Module):
    """Pad right/bottom by 1, then conv3x3 stride 2: H x W -> H/2 x W/2."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1), mode="constant", value=0.0))


class Upsample(nn.Module):
    """Nearest-neighbour x2, then conv3x3: H x W -> 2H x 2W, computed as one transposed conv at H x W.

    A 3x3 window over the nearest-upsampled map covers only 2 x 2 distinct input pixels, and the taps
    that fall on the same pixel can be summed first: along each axis an output at an even position
    takes w0 * x[i-1] + (w1 + w2) * x[i], at an odd one (w0 + w1) * x[i] + w2 * x[i+1]. That is a
    transposed conv with stride 2, padding 1 and the 4-tap kernel [w2, w1 + w2, w0 + w1, w0] per axis:
    16 instead of 36 multiply-adds per input pixel and channel pair, the same function (to fp32
    rounding) of the same parameter (RadioDiff's ``conv``), and no 4x larger intermediate map.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose2d(x, transposed_kernel(self.conv.weight), self.conv.bias, stride=2, padding=1)


def _four_taps(w: torch.Tensor, dim: int) -> torch.Tensor:
    """[w2, w1 + w2, w0 + w1, w0] along ``dim`` (3 taps -> 4); sums, not a matmul: fp32 under autocast too."""
    w0, w1, w2 = w.unbind(dim)
    return torch.stack([w2, w1 + w2, w0 + w1, w0], dim)


def transposed_kernel(weight: torch.Tensor) -> torch.Tensor:
    """The [C_in, C_out, 4, 4] conv_transpose2d kernel equal to ``weight`` [C_out, C_in, 3, 3] applied after
    nearest-neighbour x2 upsampling (see ``Upsample``)."""
    return _four_taps(_four_taps(weight, 2), 3).transpose(0, 1)
