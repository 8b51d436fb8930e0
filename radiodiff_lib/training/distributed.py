"""Process-group plumbing for the trainer, on Hugging Face Accelerate's state.

``accelerate launch`` and ``torchrun`` both set up the environment; Accelerate's ``PartialState``
initialises the process group (gloo on CPU, NCCL on GPUs). Gradients are all-reduced by
DistributedDataParallel (``wrap``), in buckets during the backward. Host-side flags (a stop
signal) go through a gloo group, so that agreeing on them never waits for the GPU.
"""
from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as tdist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..errors import ConfigError


class Dist:
    """Rank, world size, device and the collectives the trainer needs; ``device`` 'cpu' or 'cuda' forces one."""

    def __init__(self, device: str | None = None) -> None:
        if device not in (None, "cpu", "cuda"):
            raise ConfigError(f"device must be cpu or cuda, got {device!r}.")
        if device == "cuda" and not torch.cuda.is_available():
            raise ConfigError("device cuda asked for, but this PyTorch sees no CUDA GPU: install a CUDA build of "
                              "torch (make venv TORCH_SPEC=...) or use device cpu.")
        cpu = device == "cpu" or not torch.cuda.is_available()
        self._host_group = None
        try:
            from accelerate import PartialState
        except ImportError:  # one process needs no process group: it trains where Accelerate is not installed
            if int(os.environ.get("WORLD_SIZE", "1")) > 1:
                raise ConfigError(f"WORLD_SIZE={os.environ['WORLD_SIZE']}: several processes need Hugging Face "
                                  "Accelerate, which is not installed; pip install accelerate, or run one "
                                  "process.") from None
            self.rank, self.world, self.is_main = 0, 1, True
            self.device = torch.device("cpu") if cpu else torch.device("cuda", torch.cuda.current_device())
            return
        # cpu=True is what makes Accelerate set up a gloo group for CPU-only multi-process runs
        self.state = PartialState(cpu=cpu)
        self.rank, self.world = self.state.process_index, self.state.num_processes
        self.is_main = self.state.is_main_process
        self.device = self.state.device
        if self.distributed and tdist.get_backend() != "gloo":
            self._host_group = tdist.new_group(backend="gloo")  # every rank creates it, in the same order

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def wrap(self, module: nn.Module) -> nn.Module:
        """``module`` in DistributedDataParallel (bucketed all-reduce overlapped with the backward), or as it is."""
        if not self.distributed:
            return module
        ids = [self.device.index] if self.device.type == "cuda" else None
        # Buffers (the discriminator's BatchNorm statistics) are synced before checkpoints, not every forward:
        # in training mode BatchNorm normalises with the batch's own statistics.
        return DistributedDataParallel(module, device_ids=ids, gradient_as_bucket_view=True,
                                       forward_sync_buffers=False)

    def mean(self, tensor: torch.Tensor) -> torch.Tensor:
        """The mean of ``tensor`` over all processes (a device collective, no host round trip)."""
        if not self.distributed:
            return tensor
        tensor = tensor.clone()
        tdist.all_reduce(tensor)
        return tensor / self.world

    def broadcast_state(self, module: torch.nn.Module) -> None:
        """Copy rank 0's parameters and buffers to every process."""
        if self.distributed:
            with torch.no_grad():
                for t in list(module.parameters()) + list(module.buffers()):
                    tdist.broadcast(t.data, src=0)

    def broadcast_buffers(self, module: torch.nn.Module) -> None:
        """Make rank 0's buffers (BatchNorm statistics) everyone's, as DDP does."""
        if self.distributed:
            for buf in module.buffers():
                tdist.broadcast(buf, src=0)

    def any_flag(self, flag: bool) -> bool:
        """True when ``flag`` is true on any process (on the host: a CPU tensor through gloo)."""
        if not self.distributed:
            return bool(flag)
        t = torch.tensor([1.0 if flag else 0.0], device="cpu" if self._host_group else self.device)
        tdist.all_reduce(t, op=tdist.ReduceOp.MAX, group=self._host_group)
        return bool(t.item() > 0)

    def gather_object(self, obj: Any) -> list[Any]:
        """``[obj of rank 0, obj of rank 1, ...]`` on every process."""
        if not self.distributed:
            return [obj]
        out: list[Any] = [None] * self.world
        tdist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        """Wait for every process."""
        if self.distributed:
            tdist.barrier()
