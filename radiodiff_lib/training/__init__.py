"""Training: ``train`` and ``resume`` (entry points), the two-phase VAE-GAN ``Trainer`` (one launch, its loop),
the ``TrainState`` a checkpoint holds (model, loss, optimizers, schedulers, scalers, EMA, step, data position;
RNG beside it), the run's logs and the process group.
"""
from .api import resume, train
from .notes import radiodiff_differences
from .run_log import RunLogger
from .state import (
    EMA, LRMultiplier, ResumableBatchSampler, TrainState, capture_rng, checkpoint_dict, lr_at, restore_rng,
    restore_state, seed_everything,
)
from .trainer import StepHook, Trainer, TrainResult

__all__ = ["EMA", "LRMultiplier", "ResumableBatchSampler", "RunLogger", "StepHook", "TrainResult", "TrainState",
           "Trainer", "capture_rng", "checkpoint_dict", "lr_at", "radiodiff_differences", "restore_rng",
           "restore_state", "resume", "seed_everything", "train"]
