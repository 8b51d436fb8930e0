"""Training: ``train`` and ``resume`` (entry points), the two-phase VAE-GAN ``Trainer``, the state
that exact resume needs (RNG, data position, EMA, LR schedule), the run's logs and the process group.
"""
from .api import resume, train
from .notes import radiodiff_differences
from .run_log import RunLogger
from .state import EMA, LRMultiplier, ResumableBatchSampler, capture_rng, lr_at, restore_rng, seed_everything
from .trainer import StepHook, Trainer, TrainResult

__all__ = ["EMA", "LRMultiplier", "ResumableBatchSampler", "RunLogger", "StepHook", "TrainResult", "Trainer",
           "capture_rng", "lr_at", "radiodiff_differences", "restore_rng", "resume", "seed_everything", "train"]
