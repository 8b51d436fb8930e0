"""Checkpoints: our atomic checksummed format, RadioDiff's ``model-N.pt`` import and export, the
choice of a resume checkpoint, and the inspection table. Every file is read with the one safe
loader (``radiodiff_lib.safe_load``): tensors and plain containers only.
"""
from ..safe_load import torch_load_safely
from ..vocabulary import RADIODIFF_CHECKPOINT, WORKBENCH_CHECKPOINT
from .inspection import (
    inspect_checkpoints, inspect_table_text, load_model_from_checkpoint, model_from_checkpoint,
)
from .ledger import (
    LineStart, owned_checkpoints, prune_checkpoints, read_ledger, record_checkpoint, set_aside_after,
    set_aside_checkpoints, start_line_at,
)
from .radiodiff import (
    LoadReport, infer_ddconfig, is_radiodiff_checkpoint, load_radiodiff_weights,
    radiodiff_model_state, save_radiodiff_layout,
)
from .resume import find_resume_checkpoint, load_any, locate_and_load
from .workbench import (
    FORMAT, FORMAT_VERSION, checkpoint_differences, checkpoint_name, checkpoint_sort_key,
    compute_checksum, is_workbench_checkpoint, list_checkpoints, load_checkpoint, load_model_state, model_state,
    parse_checkpoint_name, remove_stale_temporaries, save_checkpoint, verify_checkpoint,
)

__all__ = [
    "FORMAT", "FORMAT_VERSION", "RADIODIFF_CHECKPOINT", "WORKBENCH_CHECKPOINT", "LineStart", "LoadReport",
    "checkpoint_differences", "checkpoint_name", "checkpoint_sort_key", "compute_checksum", "find_resume_checkpoint",
    "infer_ddconfig", "inspect_checkpoints", "inspect_table_text", "is_radiodiff_checkpoint",
    "is_workbench_checkpoint", "list_checkpoints", "load_any", "load_checkpoint", "load_model_from_checkpoint",
    "load_model_state", "load_radiodiff_weights", "locate_and_load", "model_from_checkpoint", "model_state",
    "parse_checkpoint_name", "owned_checkpoints", "prune_checkpoints", "radiodiff_model_state", "read_ledger",
    "record_checkpoint",
    "remove_stale_temporaries", "save_checkpoint", "save_radiodiff_layout", "set_aside_after",
    "set_aside_checkpoints", "start_line_at", "torch_load_safely", "verify_checkpoint",
]
