"""One training process per results folder: an advisory lock held for as long as a launch writes it.

Two ``radiodiff train`` processes on one folder would overwrite each other's checkpoints and
config.yaml and interleave metrics.jsonl. The lock is ``flock`` on ``<folder>/.radiodiff.lock``:
the kernel releases it when its process ends, however it ends, so a lock left by a killed process
never blocks the next start. The file holds the holder's pid, host and start time for the message
the second process prints. (``flock`` is not reliable on some network file systems.)
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from pathlib import Path
from typing import Iterator

from ..errors import TrainingError
from ..vocabulary import LOCK_FILE


def is_main_process() -> bool:
    """True on the process that writes the results folder (global rank 0 of torchrun / accelerate)."""
    return int(os.environ.get("RANK", "0")) == 0


@contextlib.contextmanager
def hold_results_folder(folder: str | Path) -> Iterator[None]:
    """Hold the folder's lock for the ``with`` block (on the main process; other ranks do not write)."""
    if not is_main_process():
        yield
        return
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise TrainingError(
                f"{folder} is being written by another training process ({_holder(fd)}): wait for it to "
                "finish or stop it, or give another --results-folder.") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
                 .encode())
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _holder(fd: int) -> str:
    """Who holds the lock, as its holder wrote it."""
    text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    return text or "pid unknown"
