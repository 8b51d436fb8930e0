"""Which checkpoint a resume starts from: the newest good one, a milestone or a path, ours or RadioDiff's."""
from __future__ import annotations

import warnings
from pathlib import Path

from ..errors import CheckpointError
from ..safe_load import torch_load_safely
from ..vocabulary import RADIODIFF_CHECKPOINT, WORKBENCH_CHECKPOINT
from .radiodiff import is_radiodiff_checkpoint
from .workbench import is_workbench_checkpoint, list_checkpoints, verify_checkpoint


def _describe(folder: Path) -> str:
    paths = list_checkpoints(folder)
    if not paths:
        return f"{folder} holds no checkpoints (model-*.pt)"
    return f"{folder} holds: " + ", ".join(p.name for p in paths)


def load_any(path: str | Path) -> tuple[dict, str]:
    """Load ours (verified) or a RadioDiff checkpoint; return (obj, WORKBENCH_CHECKPOINT or RADIODIFF_CHECKPOINT)."""
    path = Path(path)
    obj = torch_load_safely(path)
    if is_workbench_checkpoint(obj):
        verify_checkpoint(obj, path)
        return obj, WORKBENCH_CHECKPOINT
    if is_radiodiff_checkpoint(obj):
        return obj, RADIODIFF_CHECKPOINT
    raise CheckpointError(f"{path}: neither a workbench nor a RadioDiff checkpoint (keys: {sorted(obj)[:8] if isinstance(obj, dict) else type(obj).__name__}).")


def locate_and_load(folder: str | Path, which: str | int | Path = "latest") -> tuple[Path, dict, str, list[str]]:
    """Find and load a resume checkpoint: (path, obj, format, problems with newer files skipped)."""
    folder = Path(folder)
    if isinstance(which, str) and which.isdigit():
        which = int(which)
    if which == "latest":
        problems: list[str] = []
        for path in reversed(list_checkpoints(folder)):
            try:
                obj, fmt = load_any(path)
            except CheckpointError as exc:
                problems.append(str(exc))
                warnings.warn(f"skipping unusable checkpoint: {exc}", stacklevel=2)
                continue
            return path, obj, fmt, problems
        detail = ("; ".join(problems)) if problems else ""
        raise CheckpointError(f"No usable checkpoint to resume from: {_describe(folder)}. {detail}".strip())
    if isinstance(which, int):
        path = folder / f"model-{which}.pt"
    else:
        path = Path(which)
    if not path.is_file():
        raise CheckpointError(f"Resume target {path} does not exist; {_describe(path.parent)}.")
    obj, fmt = load_any(path)
    return path, obj, fmt, []


def find_resume_checkpoint(folder: str | Path, which: str | int | Path = "latest") -> Path:
    """The checkpoint to resume from: the newest good one for 'latest', or the named milestone/path."""
    return locate_and_load(folder, which)[0]
