"""How a launch computes: device, precision, determinism, compile, memory layout, optimizer kernel.

``Runtime`` is resolved once per launch from the config and the device. Its precision is the one
that runs: ``bf16`` on hardware without bf16 units runs fp32 (``hardware.resolve_precision``), and
``notes`` says so. Its ``record()`` goes into every checkpoint, and ``changes()`` turns a difference
between the record of the checkpoint a run resumes from and the current one into a note: those
settings decide whether a resumed run is bitwise identical to one that never stopped.
"""
from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.utils.deterministic as deterministic_settings
# PyTorch's own list of the device types with fused optimizer kernels (torch.optim checks it when fused=True);
# there is no public query. If it moves, importing the trainer fails here with an ImportError, and
# ``fused_adamw_supported`` can fall back to trying ``torch.optim.AdamW(..., fused=True)`` on the device.
from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

from ..config import Config, mixed_precision
from ..errors import ConfigError
from ..hardware import autocast as precision_autocast
from ..hardware import bf16_support, cpu_capability, cpu_model, resolve_precision

# cuBLAS needs a fixed workspace to give the same sums every time (PyTorch's reproducibility notes).
CUBLAS_WORKSPACE = ":4096:8"
# The settings a checkpoint records; a change in any of them ends the bitwise guarantee.
# (cpu, cpu_capability and bf16_units are compared only when the checkpoint records them: older ones do not.)
RECORDED = ("device", "device_name", "cpu", "cpu_capability", "bf16_units", "world", "threads", "precision",
            "deterministic", "compile", "channels_last", "optimizer", "tf32_matmul", "tf32_cudnn", "torch")


def fused_adamw_supported(device: torch.device) -> bool:
    """Whether this PyTorch has a fused AdamW kernel for ``device``."""
    return device.type in _get_fused_kernels_supported_devices()


def _tf32() -> tuple[bool, bool]:
    with warnings.catch_warnings():  # the allow_tf32 flags are being renamed; reading them is what we want
        warnings.simplefilter("ignore")
        return bool(torch.backends.cuda.matmul.allow_tf32), bool(torch.backends.cudnn.allow_tf32)


@dataclass(frozen=True)
class Runtime:
    """The computational settings of one launch."""

    device: torch.device
    world: int
    precision: str  # the one that runs: "no", "bf16" or "fp16" (``hardware.resolve_precision``)
    deterministic: bool
    compile: bool
    channels_last: bool
    fused: bool
    bf16_units: bool  # probed once, at resolve: the answer cannot change within a process
    notes: tuple[str, ...] = ()  # what the launch says at its start (a bf16 run that computes in fp32)

    @classmethod
    def resolve(cls, config: Config, device: torch.device, world: int) -> "Runtime":
        """The runtime of ``config`` on ``device``; ConfigError for a precision the device cannot run."""
        try:
            precision, note = resolve_precision(mixed_precision(config), device)
        except ConfigError as exc:  # fp16 off CUDA: say which config asked for it
            raise ConfigError(f"{config.source}: {exc}") from None
        tr = config.trainer
        return cls(device=device, world=world, precision=precision, deterministic=tr.deterministic,
                   compile=tr.compile, channels_last=tr.channels_last, fused=fused_adamw_supported(device),
                   bf16_units=bf16_support(device).units, notes=(note,) if note else ())

    def autocast(self) -> Any:
        """The forward passes' autocast context (a no-op in full precision)."""
        return precision_autocast(self.precision, self.device)

    @property
    def memory_format(self) -> torch.memory_format:
        """channels_last when asked for, else the default layout."""
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def record(self) -> dict:
        """What a checkpoint stores about how it was computed (plain values)."""
        tf32_matmul, tf32_cudnn = _tf32()
        cuda = self.device.type == "cuda"
        return {
            "device": self.device.type,
            "device_name": torch.cuda.get_device_name(self.device) if cuda else "cpu",
            # the CPU's kernels decide the rounding of a CPU run (oneDNN's AVX2 and AVX-512 sums differ)
            "cpu": None if cuda else cpu_model(), "cpu_capability": None if cuda else cpu_capability(),
            "bf16_units": self.bf16_units,
            "world": self.world, "threads": torch.get_num_threads(), "precision": self.precision,
            "deterministic": self.deterministic, "compile": self.compile, "channels_last": self.channels_last,
            "optimizer": "fused" if self.fused else "foreach",
            "tf32_matmul": tf32_matmul if cuda else False, "tf32_cudnn": tf32_cudnn if cuda else False,
            "torch": str(torch.__version__),
        }

    def changes(self, saved: dict | None) -> list[str]:
        """Notes for every recorded setting that differs from ``saved`` (a checkpoint's record)."""
        if saved is None:
            return ["the checkpoint does not record how it was computed (device, threads, precision, determinism): "
                    "this continuation is exact only if those are unchanged."]
        now = self.record()
        diffs = [f"{key} {saved[key]!r} -> {now[key]!r}" for key in RECORDED if key in saved and saved[key] != now[key]]
        if not diffs:
            return []
        return [f"resumed with other computational settings than the checkpoint's ({'; '.join(diffs)}): the "
                "continuation is not bitwise identical to a run that never stopped."]

    def prepare_process(self) -> None:
        """Process-wide settings that must precede the first CUDA kernel (the cuBLAS workspace)."""
        if self.deterministic and self.device.type == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)


@contextmanager
def determinism(runtime: Runtime) -> Iterator[None]:
    """Deterministic algorithms (and cuDNN without autotuning) while training; restores the old settings."""
    det = deterministic_settings
    old = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
           torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark, det.fill_uninitialized_memory)
    on = runtime.deterministic
    torch.use_deterministic_algorithms(on)
    # Filling every new tensor with NaN guards against reading uninitialised memory, which no kernel of
    # this model does (the bitwise resume tests check it); it costs a memset per allocation.
    det.fill_uninitialized_memory = False
    torch.backends.cudnn.deterministic = on
    torch.backends.cudnn.benchmark = not on  # autotuning picks kernels by timing: fast, not reproducible
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(old[0], warn_only=old[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark, det.fill_uninitialized_memory = old[2:]
