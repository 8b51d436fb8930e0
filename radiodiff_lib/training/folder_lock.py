"""One training process per results folder: an advisory lock held for as long as a launch writes it.

Two ``radiodiff train`` processes on one folder would overwrite each other's checkpoints and
config.yaml and interleave metrics.jsonl. The lock is ``outputs.folder_lock`` on
``<folder>/.radiodiff.lock`` (``flock``: the kernel releases it when its process ends, however it
ends, so a lock left by a killed process never blocks the next start; not reliable on some network
file systems). The file holds the holder's pid, host and start time for the second process's message.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from ..errors import TrainingError
from ..outputs import folder_lock
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

    def busy(holder: str) -> TrainingError:
        return TrainingError(f"{folder} is being written by another training process ({holder}): wait for it to "
                             "finish or stop it, or give another --results-folder.")

    with folder_lock(folder, LOCK_FILE, busy):
        yield
