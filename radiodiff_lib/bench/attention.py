"""Benchmark of the attention path: peak memory and time of a forward + backward.

Resolution from the config (RadioDiff's: 320 x 320). Before, the attention block handed SDPA transposed (non-contiguous) q, k, v; no fused kernel
takes those, so SDPA fell back to its math path, which materialises the [HW, HW] matrix (6,400 x
6,400 for the mid block of a 320 x 320 map). Now q, k, v are contiguous and the fused kernels
(flash / memory-efficient on a GPU, flash on a CPU) apply. Measured: the mid-block attention alone
in the old layout and in the new one, and the whole VAE with SDPA forced to its math path (what
the old layout got) and with its own choice. On a GPU, ``max_batch`` also searches the largest
batch whose forward + backward fits, on each path.
"""
from __future__ import annotations

import statistics
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from ..config import replace, resolve_config
from ..hardware import describe
from ..model import build_model
from ..model.blocks import AttnBlock
from .memory import MB, PeakMemory


def transposed_attention(block: AttnBlock, x: torch.Tensor) -> torch.Tensor:
    """The earlier AttnBlock forward: q, k, v as transposed views of [B, 1, C, HW] (the math path)."""
    b, c, h, w = x.shape
    hn = block.norm(x)
    q, k, v = (m(hn).reshape(b, 1, c, h * w).transpose(2, 3) for m in (block.q, block.k, block.v))
    out = F.scaled_dot_product_attention(q, k, v).transpose(2, 3).reshape(b, c, h, w)
    return x + block.proj_out(out)


def _measure(work: Callable[[], None], device: torch.device, repeats: int) -> dict:
    """Peak transient MB (after a warm-up run) and median seconds of ``work`` (forward + backward)."""
    work()
    memory = PeakMemory(device)
    memory.start()
    work()
    peak = memory.stop() / MB
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        work()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
    return {"peak_mb": peak, "seconds": statistics.median(times), "exact_memory": memory.exact}


def _vae_step(model: torch.nn.Module, x: torch.Tensor, math: bool) -> Callable[[], None]:
    def work() -> None:
        with sdpa_kernel([SDPBackend.MATH]) if math else nullcontext():
            rec, posterior = model(x)
            ((x - rec).abs().sum() + posterior.kl().sum()).backward()
        model.zero_grad(set_to_none=True)
    return work


def _max_batch(model: torch.nn.Module, size: int, device: torch.device, math: bool, limit: int = 256) -> int:
    """Largest power-of-two batch (then bisected) whose forward + backward fits on the GPU."""
    def fits(batch: int) -> bool:
        try:
            _vae_step(model, torch.randn(batch, 1, size, size, device=device), math)()
            return True
        except torch.OutOfMemoryError:
            return False
        finally:
            torch.cuda.empty_cache()
    good, bad = 0, None
    batch = 1
    while batch <= limit and fits(batch):
        good, batch = batch, batch * 2
    bad = batch if batch <= limit else None
    while bad is not None and bad - good > 1:
        mid = (good + bad) // 2
        good, bad = (mid, bad) if fits(mid) else (good, mid)
    return good


def run(config: str | Path = "radiodiff", device: str | None = None, ch: int | None = None, batch: int = 2,
        repeats: int = 2, max_batch: bool = False, threads: int | None = 1) -> dict:
    """Mid-block attention (old and new layout) and whole-VAE forward + backward (math and fused path) at the
    resolution of ``config``; ``ch`` defaults to the config's on a GPU and to 32 on a CPU (where RadioDiff's
    128 takes minutes a pass)."""
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cfg = resolve_config(config)
    ch = ch or (cfg.model.ddconfig.ch if dev.type == "cuda" else min(32, cfg.model.ddconfig.ch))
    resolution = cfg.model.ddconfig.resolution[0]
    old_threads = torch.get_num_threads()
    if threads and dev.type == "cpu":
        torch.set_num_threads(threads)
    try:
        cfg = replace(cfg, **{"model.ddconfig.ch": ch})
        torch.manual_seed(0)
        model = build_model(cfg).to(dev)
        block = model.encoder.mid.attn_1
        low = resolution // 2 ** (len(cfg.model.ddconfig.ch_mult) - 1)
        h = torch.randn(batch, block.q.in_channels, low, low, device=dev, requires_grad=True)
        x = torch.randn(batch, 1, resolution, resolution, device=dev)
        out = {"hardware": describe(dev, "no"),
               "device": dev.type, "resolution": resolution, "ch": ch, "batch": batch, "tokens": low * low,
               "attention_block": {"transposed_qkv": _measure(lambda: transposed_attention(block, h).sum().backward(),
                                                              dev, repeats),
                                   "contiguous_qkv": _measure(lambda: block(h).sum().backward(), dev, repeats)},
               "vae_forward_backward": {"math_path": _measure(_vae_step(model, x, True), dev, repeats),
                                        "fused_path": _measure(_vae_step(model, x, False), dev, repeats)}}
        if max_batch and dev.type == "cuda":
            out["max_batch"] = {"math_path": _max_batch(model, resolution, dev, True),
                                "fused_path": _max_batch(model, resolution, dev, False)}
        return out
    finally:
        torch.set_num_threads(old_threads)
