"""Library entry points ``train`` and ``resume``: build what a launch needs, pick the checkpoint, run the Trainer."""
from __future__ import annotations

import errno
from pathlib import Path
from typing import Any, Callable, Iterable

from .. import checkpoints as ckpt
from ..config import Config, load_config, resolve_config
from ..data import build_dataset
from ..errors import CheckpointError, TrainingError
from ..model import build_loss, build_model
from ..vocabulary import CONFIG_FILE
from .folder_lock import hold_results_folder
from .notes import resume_config
from .run_log import scan_metrics
from .state import seed_everything
from .trainer import Trainer, TrainResult


def _build(config: Config, model: Any, loss: Any, dataset: Any) -> tuple[Any, Any, Any]:
    """The model, loss and training data of ``config``, except those given ready-made; the RNGs are seeded first
    (the initial weights are part of "every random choice")."""
    seed_everything(config.trainer.seed)
    model = build_model(config) if model is None else model
    loss = build_loss(config) if loss is None else loss
    dataset = build_dataset(config, "train") if dataset is None else dataset
    return model, loss, dataset


def train(config: Config | str | Path, *, max_steps: int | None = None, resume: str | int | Path | None = None,
          results_folder: str | Path | None = None, progress: bool = True,
          callbacks: Iterable[Callable[[dict], None]] = (), model: Any = None, loss: Any = None,
          dataset: Any = None, device: str | None = None) -> TrainResult:
    """Train from ``config`` (fresh, or resumed from 'latest' / a path / a milestone) and return a TrainResult;
    ``device`` 'cpu' or 'cuda' overrides the automatic choice."""
    config = resolve_config(config)
    folder = Path(results_folder or config.trainer.results_folder)
    if resume is None and config.trainer.resume_milestone is not None:
        resume = config.trainer.resume_milestone  # RadioDiff's way of asking for a resume
    located = ckpt.locate_and_load(folder, resume) if resume is not None else None
    return _run(config, folder, located, max_steps=max_steps, progress=progress, callbacks=callbacks,
                model=model, loss=loss, dataset=dataset, device=device)


def _run(config: Config | None, folder: Path, located: tuple | None, *, max_steps: int | None, progress: bool,
         callbacks: Iterable[Callable[[dict], None]], model: Any = None, loss: Any = None, dataset: Any = None,
         device: str | None = None) -> TrainResult:
    """Hold the results folder, build what is missing, restore ``located`` (path, obj, format, problems)
    if given, and train; a write that fails (full disk, read-only folder) is one TrainingError. ``config``
    None: the checkpoint's own, with the keys an edited config.yaml changes (``resume``)."""
    try:
        with hold_results_folder(folder):
            return _launch(config, folder, located, max_steps=max_steps, progress=progress, callbacks=callbacks,
                           model=model, loss=loss, dataset=dataset, device=device)
    except OSError as exc:
        if exc.errno not in _WRITE_ERRORS:
            raise
        raise TrainingError(_write_failure(exc, folder)) from None


# the errors of a write the user can fix: no space, no quota, read-only file system, no permission
_WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def _write_failure(exc: OSError, folder: Path) -> str:
    """One line: what could not be written, why, what to do, and that nothing was lost."""
    where = exc.filename or folder
    kept = ckpt.list_checkpoints(folder) if folder.is_dir() else []
    last = f"the last checkpoint, {kept[-1]}, is intact" if kept else "no checkpoint was written"
    return (f"cannot write {where}: {exc.strerror or exc}. Free disk space or give a writable --results-folder, "
            f"then resume; nothing written before was lost ({last}).")


def _launch(config: Config | None, folder: Path, located: tuple | None, *, max_steps: int | None, progress: bool,
            callbacks: Iterable[Callable[[dict], None]], model: Any, loss: Any, dataset: Any,
            device: str | None) -> TrainResult:
    """The launch itself, with the folder held."""
    # metrics.jsonl read once, with the folder held: it numbers this launch and names an edited config.yaml kept
    before = scan_metrics(folder)
    config_edit = None
    if config is None:
        path, obj, _, _ = located
        config, config_edit = resume_config(obj["config"], folder, f"{path} (config)", before)
    if located is None and ckpt.list_checkpoints(folder):
        raise TrainingError(
            f"{folder} already holds checkpoints of an earlier run ({', '.join(p.name for p in ckpt.list_checkpoints(folder))}). "
            "Resume it with --resume latest, or give a new --results-folder."
        )
    model, loss, dataset = _build(config, model, loss, dataset)
    trainer = Trainer(config, model, loss, dataset, results_folder=folder, checkpoint=located, config_edit=config_edit,
                      metrics_before=before, callbacks=callbacks, progress=progress, device=device)
    return trainer.train(max_steps=max_steps)


def resume(folder: str | Path, checkpoint: str | int | Path | None = "latest", max_steps: int | None = None,
           progress: bool = True, callbacks: Iterable[Callable[[dict], None]] = ()) -> TrainResult:
    """Resume the run in ``folder`` with the config stored in its checkpoint (or folder/config.yaml); the keys
    an edited config.yaml changes are taken, except those the checkpoint fixes (the architecture)."""
    folder = Path(folder)
    located = ckpt.locate_and_load(folder, checkpoint if checkpoint is not None else "latest")
    path, _, fmt, _ = located
    config = None  # a checkpoint of ours: its own config, with an edited config.yaml's keys (read in _launch)
    if fmt != ckpt.WORKBENCH_CHECKPOINT:
        if not (folder / CONFIG_FILE).is_file():
            raise CheckpointError(
                f"{path} is a RadioDiff checkpoint without a config; resume it with "
                f"`radiodiff train --config YOUR.yaml --resume {path} --results-folder {folder}`."
            )
        config = load_config(folder / CONFIG_FILE)
    return _run(config, folder, located, max_steps=max_steps, progress=progress, callbacks=callbacks)
