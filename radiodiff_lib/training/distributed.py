"""Process-group plumbing for the trainer, on Hugging Face Accelerate's state.

``accelerate launch`` and ``torchrun`` both set up the environment; Accelerate's
``PartialState`` initialises the process group (gloo on CPU, NCCL on GPUs). Gradients are
averaged by hand after accumulation, one flat bucket per parameter list.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.distributed as tdist


class Dist:
    """Rank, world size, device and the few collectives the trainer needs."""

    def __init__(self) -> None:
        from accelerate import PartialState

        # cpu=True is what makes Accelerate set up a gloo group for CPU-only multi-process runs
        self.state = PartialState(cpu=not torch.cuda.is_available())
        self.rank, self.world = self.state.process_index, self.state.num_processes
        self.is_main = self.state.is_main_process
        self.device = self.state.device

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def all_reduce_grads(self, params: list[torch.nn.Parameter]) -> None:
        """Average the gradients of ``params`` over all processes (missing grads count as zero)."""
        if not self.distributed:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        tdist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for p, g in zip(params, grads):
            n = g.numel()
            p.grad = flat[offset:offset + n].view_as(p).clone()
            offset += n

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
        """True when ``flag`` is true on any process."""
        if not self.distributed:
            return bool(flag)
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        tdist.all_reduce(t, op=tdist.ReduceOp.MAX)
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
