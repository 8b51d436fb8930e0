"""The one safe ``torch.load``: tensors and plain containers only, never arbitrary pickled objects.

Every checkpoint and weights file the workbench reads (ours, RadioDiff's ``model-N.pt``, LPIPS
weights) goes through :func:`torch_load_safely`, which turns each way a file can be unusable
into a CheckpointError that says what the file is and what to do.
"""
from __future__ import annotations

import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError


def torch_load_safely(path: str | Path) -> Any:
    """``torch.load(path, weights_only=True, map_location="cpu")`` with a CheckpointError that says why not."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"Checkpoint not found: {p}. Give the path of a model-N.pt file.")
    size = p.stat().st_size
    with open(p, "rb") as fh:
        head = fh.read(4)
    if size == 0:
        raise CheckpointError(f"{p} is empty (0 bytes): the write was interrupted. Use an earlier checkpoint.")
    is_zip = head == b"PK\x03\x04"
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols before failing anyway
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(p, weights_only=True, map_location="cpu")
    except Exception as exc:  # torch raises RuntimeError / UnpicklingError / EOFError / zip errors
        msg = str(exc)
        if "Unsupported global" in msg or ("Weights only load failed" in msg and is_zip):
            found = re.search(r"Unsupported global: GLOBAL (\S+)", msg)
            what = f" (it needs {found.group(1)})" if found else ""
            raise CheckpointError(
                f"{p} holds Python objects other than tensors and plain containers{what}; the safe "
                "loader (weights_only=True) refuses to unpickle them because that could run "
                "arbitrary code. It is not a RadioDiff/workbench checkpoint; if you trust it, "
                "re-save its tensors with torch.save(state_dict)."
            ) from None
        if is_zip:
            reason = "truncated or corrupt" if not zipfile.is_zipfile(p) or "central directory" in msg else "unreadable"
            raise CheckpointError(
                f"{p} is a {reason} PyTorch file ({size} bytes; {msg.split('. ')[0][:120]}). "
                "The save was probably interrupted or the copy is incomplete; use an earlier checkpoint."
            ) from None
        what = ("a plain Python pickle (or an old-format torch file) that the safe loader refuses"
                if head[:1] == b"\x80" else f"not a PyTorch file (first bytes {head!r})")
        raise CheckpointError(
            f"{p} ({size} bytes) is {what}: not a checkpoint written by torch.save. "
            "Give a RadioDiff or workbench model-N.pt."
        ) from None
