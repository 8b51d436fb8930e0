"""What the machine computes with: the CPU (model, PyTorch's capability, bf16 units) or the GPU.

One probe, asked by everything that chooses a precision (training, benchmarks, evaluation in bf16)
and by every benchmark figure, which names the hardware it was measured on.

Why bf16 needs a probe: on a CPU, bf16 is fast only with bf16 arithmetic units (AVX512-BF16 or
AMX on x86, the BF16 extension on Arm) that oneDNN is allowed to use. Without them, oneDNN has no
bf16 convolution at all on AVX2 (PyTorch falls back to reference loops: one step of the bench
config takes about 157 s instead of 2.8 s in fp32) and emulates it on AVX-512 without BF16
(slower than fp32). So ``bf16`` runs in fp32 there, with a note; ``bf16-emulated`` runs bf16
whatever the hardware, for whoever insists (to continue a bf16 run under its own conditions).

The precision rules live here, for training and the sweep alike: which precision runs
(``resolve_precision``, which also refuses fp16 off CUDA) and its autocast context (``autocast``);
the names themselves are ``vocabulary.PRECISIONS``.
"""
from __future__ import annotations

import functools
import os
import platform
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .errors import ConfigError
from .vocabulary import BF16, BF16_EMULATED, FP16, FP32, PRECISIONS

NO_TENSORS = "none"  # the precision of a benchmark that times no tensor arithmetic (log parsing, map generation)
# How a figure names the precision it was measured in.
PRECISION_NAMES = {FP32: "fp32", BF16: "bf16", BF16_EMULATED: "bf16 (emulated on purpose)", FP16: "fp16",
                   NO_TENSORS: "no tensor arithmetic timed"}
# The autocast dtype of each precision that runs in mixed precision (fp32 runs without autocast).
_AUTOCAST_DTYPES = {BF16: torch.bfloat16, FP16: torch.float16}

# oneDNN ISA limits (ONEDNN_MAX_CPU_ISA) below the first one with bf16 instructions: under such a limit
# oneDNN emulates bf16 (or has no bf16 kernel) even where the CPU has the units.
_ONEDNN_ISAS_WITHOUT_BF16 = {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX512_CORE", "AVX512_CORE_VNNI"}
_X86 = {"x86_64", "amd64", "i386", "i686"}


@dataclass(frozen=True)
class Bf16Support:
    """Whether a device has bf16 units: the answer, what the device is (CPU capability or GPU), and why."""

    units: bool
    kind: str  # "AVX2", "AVX512" (PyTorch's CPU capability) or the GPU's name
    reason: str

    @property
    def summary(self) -> str:
        """E.g. 'AVX2, no bf16 units (oneDNN has no bf16 kernels for this CPU)'."""
        return f"{self.kind}, {'bf16 units' if self.units else 'no bf16 units'} ({self.reason})"


def _onednn_isa_limit() -> str | None:
    """The ISA limit set for oneDNN in this process's environment (upper case), if any."""
    value = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA")
    return value.strip().upper() if value else None


def cpu_capability() -> str:
    """PyTorch's CPU capability for its own kernels: DEFAULT, AVX2, AVX512, ... (ATEN_CPU_CAPABILITY lowers it)."""
    return torch.backends.cpu.get_cpu_capability()


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name, with family and model number on x86 (a VM often hides the marketing name)."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if not line.strip() and fields:
                break  # the first processor is enough
            key, sep, value = line.partition(":")
            if sep and key.strip() not in fields:
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or platform.machine() or "unknown CPU"
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    return name


def cpu_bf16_support() -> Bf16Support:
    """bf16 units on this CPU that oneDNN may use: the instructions (x86: AVX512-BF16 or AMX) and oneDNN's
    bf16 kernels (``torch.ops.mkldnn._is_mkldnn_bf16_supported``, which honours ONEDNN_MAX_CPU_ISA)."""
    capability = cpu_capability()
    onednn_probe = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    if onednn_probe is None:
        return Bf16Support(False, capability, "this PyTorch does not say whether oneDNN has bf16 kernels")
    if not onednn_probe():
        return Bf16Support(False, capability, "oneDNN has no bf16 kernels for this CPU")
    if platform.machine().lower() not in _X86:
        return Bf16Support(True, capability, "oneDNN bf16 kernels")
    amx = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    if not (amx or getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()):
        return Bf16Support(False, capability, "no AVX512-BF16 or AMX: oneDNN would emulate bf16")
    limit = _onednn_isa_limit()
    if limit in _ONEDNN_ISAS_WITHOUT_BF16:
        return Bf16Support(False, capability, f"ONEDNN_MAX_CPU_ISA={limit} keeps oneDNN from them")
    return Bf16Support(True, capability, "AMX" if amx else "AVX512-BF16")


def bf16_support(device: torch.device) -> Bf16Support:
    """bf16 units on ``device``: the CPU probe above, or a CUDA GPU's own bf16 arithmetic (Ampere and later)."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        if torch.cuda.is_bf16_supported(including_emulation=False):
            return Bf16Support(True, name, "compute capability 8.0 or later")
        return Bf16Support(False, name, "compute capability below 8.0: bf16 would be emulated")
    if device.type == "cpu":
        return cpu_bf16_support()
    return Bf16Support(True, device.type, "not probed")


def resolve_precision(requested: str, device: torch.device, *, option: str = "mixed_precision",
                      insist_with: str = f"mixed_precision: {BF16_EMULATED}",
                      what: str = "this run") -> tuple[str, str | None]:
    """(the precision that runs: no, bf16 or fp16; a note when it is not the one asked for).

    ``bf16`` without bf16 units runs in fp32 (emulated bf16 is 1.3x to 55x slower than fp32 there);
    ``bf16-emulated`` runs bf16 on any hardware; fp16 off CUDA and a name not in ``PRECISIONS`` are a
    ConfigError. ``option``, ``insist_with`` and ``what`` word the note and the error for the caller (a
    training run and its config key, a sweep and its command-line option).
    """
    if requested not in PRECISIONS:
        raise ConfigError(f"{option} {requested}: use {', '.join(PRECISIONS[:-1])} or {PRECISIONS[-1]}.")
    if requested == FP16 and device.type != "cuda":  # training scales fp16 losses with a CUDA GradScaler
        raise ConfigError(f"{option} fp16 needs a CUDA GPU; {what} is on {device.type}: use {BF16} (with bf16 "
                          f"units) or {FP32}.")
    if requested == BF16_EMULATED:
        return BF16, None
    if requested != BF16:
        return requested, None
    support = bf16_support(device)
    if support.units:
        return BF16, None
    where = f"CPU ({cpu_model()}, {support.summary})" if device.type == "cpu" else f"GPU ({support.summary})"
    return FP32, (f"{option} bf16 asked for, but this {where} would emulate bf16, many times slower "
                  f"than fp32: {what} computes in fp32. Set {insist_with} to insist on bf16.")


def autocast(precision: str, device: torch.device) -> Any:
    """The forward passes' autocast context for a precision that runs (``resolve_precision``'s answer): a
    no-op in fp32."""
    dtype = _AUTOCAST_DTYPES.get(precision)
    return nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


def describe(device: torch.device | str = "cpu", precision: str | None = None, threads: int | None = None) -> dict:
    """The hardware a figure was measured on: CPU (model, capability, bf16 units) or GPU, threads (default
    PyTorch's), PyTorch, and the precision that ran (``NO_TENSORS`` where no tensor arithmetic is timed, None
    for the machine alone); ``measured_on`` says it all in one line."""
    dev = torch.device(device)
    support = bf16_support(dev)
    cuda = dev.type == "cuda"
    info: dict = {"device": dev.type, "cpu": cpu_model(), "cpu_capability": cpu_capability(),
                  "bf16_units": support.units, "bf16": support.summary,
                  "gpu": torch.cuda.get_device_name(dev) if cuda else None,
                  "gpus": torch.cuda.device_count() if cuda else 0,
                  "gpu_memory_gb": round(torch.cuda.get_device_properties(dev).total_memory / 1e9, 1) if cuda else None,
                  "cuda": torch.version.cuda if cuda else None,
                  "threads": threads or torch.get_num_threads(), "torch": str(torch.__version__),
                  "precision": PRECISION_NAMES.get(precision, precision) if precision is not None else None}
    overrides = {k: os.environ[k] for k in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")
                 if os.environ.get(k)}
    if overrides and not cuda:  # an emulated CPU: the figure says so
        info["cpu_overrides"] = overrides
    info["measured_on"] = _one_line(info)
    return info


def _one_line(info: dict) -> str:
    if info["gpu"]:
        where = f"{info['gpu']} ({info['gpu_memory_gb']} GB, CUDA {info['cuda']}, {info['bf16']})"
    else:
        where = f"{info['cpu']}, {info['bf16']}"
        if info.get("cpu_overrides"):
            where += " [emulated: " + ", ".join(f"{k}={v}" for k, v in info["cpu_overrides"].items()) + "]"
    threads = f"{info['threads']} CPU thread{'s' if info['threads'] != 1 else ''}"
    return "; ".join([where, threads, f"PyTorch {info['torch']}"] + ([info["precision"]] if info["precision"] else []))
