"""The attention benchmark: its "before" computes what the block computes, the old way, and it reports both paths."""
from __future__ import annotations

import torch


def test_attention_bench_reproduces_the_old_layout_and_reports_both_paths():
    from radiodiff_lib.bench.attention import run, transposed_attention
    from radiodiff_lib.model.blocks import AttnBlock

    torch.manual_seed(0)
    block, h = AttnBlock(32), torch.randn(2, 32, 5, 6)
    with torch.no_grad():  # the benchmark's "before" computes what the block computes, the old way
        assert torch.allclose(transposed_attention(block, h), block(h), atol=1e-5)
    out = run(config="demo", device="cpu", repeats=1)
    assert (out["resolution"], out["ch"], out["tokens"]) == (64, 32, 32 * 32)
    for part, paths in (("attention_block", ("transposed_qkv", "contiguous_qkv")),
                        ("vae_forward_backward", ("math_path", "fused_path"))):
        for path in paths:
            assert out[part][path]["seconds"] > 0, (part, path)
            assert out[part][path]["peak_mb"] >= 0, (part, path)
