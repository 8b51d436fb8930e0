"""Peak memory of a piece of work, the same way on a GPU and a CPU.

GPU: the caching allocator's peak (``max_memory_allocated``) above what was allocated before.
CPU: the resident-set high-water mark (Linux ``VmHWM``, reset by writing 5 to
``/proc/self/clear_refs``) above the resident set before, after handing freed heap memory back to
the system (glibc ``malloc_trim``) so that the resident set is the memory in use; where the reset
is not allowed, the process's lifetime peak is all there is, and ``exact`` says so. The trim makes
the next allocations fault their pages in again: measure memory on steps that are not timed.
"""
from __future__ import annotations

import ctypes
import resource
from pathlib import Path
from typing import Iterable

import torch

MB = 1e6
_STATUS, _CLEAR = Path("/proc/self/status"), Path("/proc/self/clear_refs")


def _status_kb(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _trim_heap() -> None:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the resident set keeps freed memory, the peak reads low
        pass


def tensor_bytes(tensors: Iterable[torch.Tensor]) -> int:
    """Bytes of the distinct storages behind ``tensors`` (views and shared weights counted once)."""
    seen, total = set(), 0
    for t in tensors:
        if t is None:
            continue
        key = (t.device, t.untyped_storage().data_ptr())
        if key not in seen:
            seen.add(key)
            total += t.untyped_storage().nbytes()
    return total


class PeakMemory:
    """``start()`` before the work, ``stop()`` after: bytes of the peak above the memory held at start."""

    def __init__(self, device: torch.device):
        self.device = device
        self.exact = True
        self._before = 0

    def start(self) -> None:
        """Reset the peak and remember the memory in use now."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._before = torch.cuda.memory_allocated(self.device)
            return
        _trim_heap()
        try:
            _CLEAR.write_text("5")
        except OSError:
            self.exact = False
        self._before = (_status_kb("VmRSS") or 0) * 1024

    def stop(self) -> int:
        """Bytes of the peak above the start (the work's transient memory)."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            return torch.cuda.max_memory_allocated(self.device) - self._before
        peak_kb = _status_kb("VmHWM") if self.exact else None
        if peak_kb is None:
            self.exact = False
            peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return max(0, peak_kb * 1024 - self._before)
