"""The building blocks: attention as RadioDiff's softmax on the fused kernel, Downsample's padding, Upsample as nearest x2 + conv3x3."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from radiodiff_lib.model.blocks import AttnBlock, Upsample


def test_attention_matches_explicit_softmax():
    torch.manual_seed(1)
    blk = AttnBlock(32).eval()
    x = torch.randn(2, 32, 3, 4)
    with torch.no_grad():
        h = blk.norm(x)
        q, k, v = (m(h).reshape(2, 32, 12) for m in (blk.q, blk.k, blk.v))
        w = torch.softmax(torch.bmm(q.permute(0, 2, 1), k) * 32 ** -0.5, dim=2)  # [B, HWq, HWk]
        out = torch.bmm(v, w.permute(0, 2, 1)).reshape(2, 32, 3, 4)
        expected = x + blk.proj_out(out)
        assert torch.allclose(blk(x), expected, atol=1e-5)


def test_downsample_pads_right_and_bottom(tiny):
    ds = tiny.encoder.down[0].downsample
    x = torch.randn(1, 32, 8, 8)
    with torch.no_grad():
        expected = F.conv2d(F.pad(x, (0, 1, 0, 1)), ds.conv.weight, ds.conv.bias, stride=2)
        assert torch.equal(ds(x), expected)


@pytest.mark.parametrize("shape", [(2, 32, 8, 8), (1, 32, 5, 7)])
def test_upsample_is_nearest_x2_then_conv3x3(shape):
    """The transposed-conv Upsample computes RadioDiff's interpolate + conv3x3, values and gradients (to fp32
    rounding), from the same ``conv`` parameter."""
    torch.manual_seed(2)
    up = Upsample(32)
    x = torch.randn(*shape, requires_grad=True)
    reference = F.conv2d(F.interpolate(x, scale_factor=2.0, mode="nearest"), up.conv.weight, up.conv.bias, padding=1)
    out = up(x)
    assert out.shape == reference.shape
    assert torch.allclose(out, reference, atol=1e-5)
    upstream = torch.randn_like(reference)
    expected = torch.autograd.grad(reference, (x, up.conv.weight, up.conv.bias), upstream)
    got = torch.autograd.grad(out, (x, up.conv.weight, up.conv.bias), upstream)
    for name, e, g in zip(("input", "weight", "bias"), expected, got):
        assert torch.allclose(g, e, atol=1e-4, rtol=1e-5), name


def test_upsample_keeps_the_channels_last_layout():
    up = Upsample(32).to(memory_format=torch.channels_last)
    x = torch.randn(2, 32, 6, 6).contiguous(memory_format=torch.channels_last)
    assert up(x).is_contiguous(memory_format=torch.channels_last)


def test_attention_runs_on_the_fused_kernel():
    """q, k, v reach SDPA contiguous, so the flash kernel (CPU here) takes them; the earlier transposed
    layout falls back to the math path, which materialises the [HW, HW] matrix."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    torch.manual_seed(1)
    blk = AttnBlock(32)
    x = torch.randn(2, 32, 6, 5, requires_grad=True)
    reference = blk(x)
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
        out = blk(x)
        out.sum().backward()
        q = torch.randn(2, 1, 32, 30).transpose(2, 3)  # the transposed layout: no fused kernel takes it
        with pytest.raises(RuntimeError, match="No available kernel"), pytest.warns(UserWarning):
            F.scaled_dot_product_attention(q, q, q)
    assert torch.allclose(out, reference, atol=1e-6)
    assert x.grad is not None
