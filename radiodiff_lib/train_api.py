"""Library entry points ``train`` and ``resume`` (re-exported by ``radiodiff_lib.trainer``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable

from . import checkpoint as ckpt
from .config import Config, config_from_dict, load_config, resolve_config
from .errors import CheckpointError, TrainingError


def _build(config: Config, model: Any, loss: Any, dataset: Any) -> tuple[Any, Any, Any]:
    if model is None:
        from .model import build_model

        model = build_model(config)
    if loss is None:
        from .losses import build_loss

        loss = build_loss(config)
    if dataset is None:
        from .data import build_dataset

        dataset = build_dataset(config, "train")
    return model, loss, dataset


def _start_weights(trainer: Any, config: Config) -> None:
    """``model.ckpt_path``: weights to start a fresh run from (ours or RadioDiff's)."""
    path = Path(config.model.ckpt_path)  # type: ignore[arg-type]
    obj, fmt = ckpt._load_any(path)
    if fmt == "workbench":
        ckpt.load_model_state(trainer.model, trainer.loss, obj["model"], where=str(path))
    else:
        from .radiodiff_ckpt import load_radiodiff_weights

        load_radiodiff_weights(trainer.model, obj, loss=trainer.loss)
    trainer.notes.append(f"started from the weights of {path} (model.ckpt_path); optimizers and step start fresh.")


def train(config: Config | str | Path, *, max_steps: int | None = None, resume: str | int | Path | None = None,
          results_folder: str | Path | None = None, progress: bool = True,
          callbacks: Iterable[Callable[[dict], None]] = (), model: Any = None, loss: Any = None,
          dataset: Any = None) -> Any:
    """Train from ``config`` (fresh, or resumed from 'latest' / a path / a milestone) and return a TrainResult."""
    config = resolve_config(config)
    folder = Path(results_folder or config.trainer.results_folder)
    if resume is None and config.trainer.resume_milestone is not None:
        resume = config.trainer.resume_milestone  # RadioDiff's way of asking for a resume
    located = ckpt.locate_and_load(folder, resume) if resume is not None else None
    return _run(config, folder, located, max_steps=max_steps, progress=progress, callbacks=callbacks,
                model=model, loss=loss, dataset=dataset)


def _run(config: Config, folder: Path, located: tuple | None, *, max_steps: int | None, progress: bool,
         callbacks: Iterable[Callable[[dict], None]], model: Any = None, loss: Any = None, dataset: Any = None) -> Any:
    """Build what is missing, restore ``located`` (path, obj, format, problems) if given, and train."""
    from .trainer import Trainer

    if located is None and ckpt.list_checkpoints(folder):
        raise TrainingError(
            f"{folder} already holds checkpoints of an earlier run ({', '.join(p.name for p in ckpt.list_checkpoints(folder))}). "
            "Resume it with --resume latest, or give a new --results-folder."
        )
    from .train_state import seed_everything

    seed_everything(config.trainer.seed)  # the initial weights are part of "every random choice"
    model, loss, dataset = _build(config, model, loss, dataset)
    trainer = Trainer(config, model, loss, dataset, results_folder=folder, callbacks=callbacks, progress=progress)
    if located is not None:
        path, obj, fmt, problems = located
        trainer.notes.extend(f"skipped an unusable newer checkpoint: {p}" for p in problems)
        trainer.load_state(obj, fmt, path)
    elif config.model.ckpt_path:
        _start_weights(trainer, config)
    return trainer.train(max_steps=max_steps)


def resume(folder: str | Path, checkpoint: str | int | Path | None = "latest", max_steps: int | None = None,
           progress: bool = True, callbacks: Iterable[Callable[[dict], None]] = ()) -> Any:
    """Resume the run in ``folder`` with the config stored in its checkpoint (or folder/config.yaml)."""
    folder = Path(folder)
    which = checkpoint if checkpoint is not None else "latest"
    path, obj, fmt, problems = ckpt.locate_and_load(folder, which)
    if fmt == "workbench":
        config = config_from_dict(obj["config"], source=f"{path} (config)")
    elif (folder / "config.yaml").is_file():
        config = load_config(folder / "config.yaml")
    else:
        raise CheckpointError(
            f"{path} is a RadioDiff checkpoint without a config; resume it with "
            f"`radiodiff train --config YOUR.yaml --resume {path} --results-folder {folder}`."
        )
    return _run(config, folder, (path, obj, fmt, problems), max_steps=max_steps, progress=progress,
                callbacks=callbacks)
