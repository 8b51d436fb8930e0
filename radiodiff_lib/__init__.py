"""RadioDiff VAE workbench: the model, exact-resume trainer, log reader, analysis and reports.

Public entry points are imported lazily so that ``import radiodiff_lib`` stays fast (the log
reader and analysis do not need PyTorch).
"""
from __future__ import annotations

import importlib

from .errors import (
    AnalysisError, CheckpointError, ConfigError, DataError, LogFormatError, NotebookError, RadiodiffError,
    TrainingError,
)

__version__ = "0.1.0"

# public name -> package that defines it
_EXPORTS = {
    "load_config": "config",
    "save_config": "config",
    "dump_config": "config",
    "resolve_config": "config",
    "Config": "config",
    "build_model": "model",
    "AutoencoderKL": "model",
    "build_loss": "model",
    "load_radiodiff_weights": "checkpoints",
    "inspect_checkpoints": "checkpoints",
    "build_dataset": "data",
    "train": "training",
    "resume": "training",
    "read_run": "logs",
    "RunReader": "logs",
    "analyze": "analysis",
    "evaluate_checkpoint": "evaluation",
    "render_notebook": "report",
}

__all__ = sorted(_EXPORTS) + [
    "AnalysisError", "CheckpointError", "ConfigError", "DataError", "LogFormatError", "NotebookError",
    "RadiodiffError", "TrainingError",
]


def __getattr__(name: str):
    if name in _EXPORTS:
        module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'radiodiff_lib' has no attribute '{name}'")
