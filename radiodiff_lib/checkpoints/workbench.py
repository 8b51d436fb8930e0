"""Workbench checkpoints: atomic writes, a checksum verified on load, listing and resume lookup.

File names: ``model-<milestone>.pt`` where milestone = step // save_and_sample_every (as
RadioDiff), and ``model-<milestone>-step<step>.pt`` for a checkpoint written between milestones
(``--max-steps`` that is not a multiple, SIGINT/SIGTERM). Both sort by (milestone, step), so the
newest is always last; ``--resume 7`` means ``model-7.pt``.
"""
from __future__ import annotations

import hashlib
import os
import re
import struct
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

import torch

from ..errors import CheckpointError
from ..safe_load import torch_load_safely

FORMAT = "radiodiff-workbench"  # the tag inside every checkpoint file we write
FORMAT_VERSION = 1
_NAME_RE = re.compile(r"^model-(\d+)(?:-step(\d+))?\.pt$")


# --- names --------------------------------------------------------------------------------

def checkpoint_name(step: int, save_every: int) -> str:
    """The file name for a checkpoint at ``step``: model-M.pt on a milestone, else model-M-stepS.pt."""
    milestone, rest = divmod(step, save_every)
    return f"model-{milestone}.pt" if rest == 0 else f"model-{milestone}-step{step}.pt"


def parse_checkpoint_name(name: str) -> tuple[int, int] | None:
    """(milestone, step-or-0) from a checkpoint file name, or None when it is not one."""
    m = _NAME_RE.match(name)
    if not m:
        return None
    return int(m.group(1)), int(m.group(2) or 0)


def checkpoint_sort_key(name: str) -> tuple[int, int]:
    """Where a checkpoint file name sorts among a run's checkpoints: (milestone, step or 0)."""
    parsed = parse_checkpoint_name(name)
    if parsed is None:
        raise ValueError(f"{name!r} is not a checkpoint file name (model-<milestone>[-step<step>].pt)")
    return parsed


def list_checkpoints(folder: str | Path) -> list[Path]:
    """Checkpoint files ``model-*.pt`` in ``folder``, oldest first (by milestone, then step)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(parse_checkpoint_name(p.name), p) for p in folder.iterdir() if p.is_file()]
    return [p for key, p in sorted((k, p) for k, p in found if k is not None)]


# --- checksum -----------------------------------------------------------------------------

def _feed(h: Any, obj: Any) -> None:
    """Feed a canonical, type-tagged serialisation of ``obj`` into the hash ``h``."""
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous().reshape(-1)
        h.update(b"T" + str(obj.dtype).encode() + repr(tuple(obj.shape)).encode())
        if t.numel():
            h.update(t.view(torch.uint8).numpy().tobytes() if t.dtype != torch.uint8 else t.numpy().tobytes())
    elif isinstance(obj, dict):
        h.update(b"D" + struct.pack("<q", len(obj)))
        for key in sorted(obj, key=lambda k: (type(k).__name__, str(k))):
            _feed(h, key)
            _feed(h, obj[key])
    elif isinstance(obj, (list, tuple)):
        h.update(b"L" + struct.pack("<q", len(obj)))
        for item in obj:
            _feed(h, item)
    elif obj is None or isinstance(obj, (bool, int, float, str)):
        h.update(b"V" + type(obj).__name__.encode() + b":" + repr(obj).encode() + b";")
    else:
        raise CheckpointError(f"cannot checksum a {type(obj).__name__} in a checkpoint; store tensors or plain values")


def compute_checksum(state: dict) -> str:
    """sha256 over every tensor and value of ``state`` except its ``checksum`` entry."""
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in state.items() if k != "checksum"})
    return "sha256:" + h.hexdigest()


# --- save / load --------------------------------------------------------------------------

def save_checkpoint(path: str | Path, state: dict) -> Path:
    """Write ``state`` atomically to ``path`` (tmp file, fsync, os.replace) with format and checksum."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = dict(state)
    state.setdefault("format", FORMAT)
    state.setdefault("format_version", FORMAT_VERSION)
    state.setdefault("written_at", time.time())
    state["checksum"] = compute_checksum(state)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    try:  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
    return path


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete half-written ``.model-*.pt.tmp-*`` files a killed process left; return them."""
    folder = Path(folder)
    stale = sorted(folder.glob(".model-*.pt.tmp-*")) if folder.is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def is_workbench_checkpoint(obj: Any) -> bool:
    """True for a dict written by ``save_checkpoint``."""
    return isinstance(obj, dict) and obj.get("format") == FORMAT


def verify_checkpoint(obj: dict, path: str | Path = "<memory>") -> None:
    """Raise CheckpointError unless ``obj`` is a workbench checkpoint whose checksum matches."""
    if not is_workbench_checkpoint(obj):
        raise CheckpointError(f"{path}: not a workbench checkpoint (no format '{FORMAT}').")
    if obj.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {obj.get('format_version')!r}; this workbench reads "
            f"version {FORMAT_VERSION}. Load it with the workbench version that wrote it."
        )
    expected = obj.get("checksum")
    actual = compute_checksum(obj)
    if expected != actual:
        raise CheckpointError(f"{path}: checksum mismatch (stored {expected}, computed {actual}); the file is corrupt.")


def load_checkpoint(path: str | Path, verify: bool = True) -> dict:
    """Load a workbench checkpoint on CPU, verifying its checksum; CheckpointError when unusable."""
    obj = torch_load_safely(path)
    if not is_workbench_checkpoint(obj):
        raise CheckpointError(
            f"{path}: not a workbench checkpoint. A RadioDiff checkpoint loads with "
            "checkpoints.load_model_from_checkpoint or resumes (weights only) with --resume PATH."
        )
    if verify:
        verify_checkpoint(obj, path)
    return obj


# --- model state layout -------------------------------------------------------------------

def model_state(model: torch.nn.Module, loss: torch.nn.Module | None) -> dict[str, torch.Tensor]:
    """RadioDiff-layout state: the VAE's keys plus ``loss.logvar`` and ``loss.discriminator.*`` (no LPIPS)."""
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if loss is not None:
        for k, v in loss.state_dict().items():
            if not k.startswith("perceptual_loss."):
                state[f"loss.{k}"] = v.detach().clone()
    return state


def load_model_state(model: torch.nn.Module, loss: torch.nn.Module | None, state: dict, where: str = "checkpoint") -> None:
    """Load a RadioDiff-layout state strictly; mismatching keys or shapes raise CheckpointError naming them."""
    ours = model_state(model, loss)
    missing = [k for k in ours if k not in state]
    unexpected = [k for k in state if k not in ours]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(ours[k].shape)}" for k in ours
              if k in state and tuple(state[k].shape) != tuple(ours[k].shape)]
    if missing or unexpected or shapes:
        def few(xs: Iterable[str]) -> str:
            xs = list(xs)
            return ", ".join(xs[:8]) + (f" (+{len(xs) - 8} more)" if len(xs) > 8 else "")
        parts = []
        if shapes:
            parts.append(f"shape mismatch: {few(shapes)}")
        if missing:
            parts.append(f"missing in checkpoint: {few(missing)}")
        if unexpected:
            parts.append(f"not in this model: {few(unexpected)}")
        raise CheckpointError(
            f"{where} holds another architecture than the config: " + "; ".join(parts)
            + ". Resume with the checkpoint's own config (`radiodiff resume FOLDER`) or start a new results folder."
        )
    model.load_state_dict({k: state[k] for k in model.state_dict()})
    if loss is not None:
        loss_state = loss.state_dict()
        loss_state.update({k[len("loss."):]: v for k, v in state.items() if k.startswith("loss.")})
        loss.load_state_dict(loss_state)


# --- comparing two checkpoints -------------------------------------------------------------

# entries that differ between two runs by design: when a file was written and by which launch
BOOKKEEPING = {"written_at", "metrics_offset", "launch", "checksum"}


def _leaves(obj: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(path, leaf) pairs of a nested checkpoint dict, in a fixed order."""
    if isinstance(obj, dict):
        for key in sorted(obj, key=str):
            yield from _leaves(obj[key], f"{prefix}/{key}")
    elif isinstance(obj, (list, tuple)):
        for i, item in enumerate(obj):
            yield from _leaves(item, f"{prefix}/{i}")
    else:
        yield prefix, obj


def checkpoint_differences(a: str | Path, b: str | Path, ignore: tuple[str, ...] = ()) -> tuple[list[str], int]:
    """(paths of the entries that differ, tensors compared) between two of our checkpoints, compared
    bitwise; bookkeeping (write time, log offset, launch number, checksum) and paths starting with one
    of ``ignore`` (e.g. "/config/data/num_workers") left out. An exact resume has no difference."""
    left, right = ({k: v for k, v in _leaves(load_checkpoint(p))
                    if k.split("/")[1] not in BOOKKEEPING and not k.startswith(ignore)} for p in (a, b))
    diffs = sorted(set(left) ^ set(right))
    tensors = 0
    for key in sorted(set(left) & set(right)):
        x, y = left[key], right[key]
        if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor):
            tensors += 1
            same = x.dtype == y.dtype and x.shape == y.shape and torch.equal(
                x.reshape(-1).view(torch.uint8), y.reshape(-1).view(torch.uint8))
        else:
            same = x == y
        if not same:
            diffs.append(key)
    return diffs, tensors
