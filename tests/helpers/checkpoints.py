"""A small checkpoint dict for the checkpoint-format tests."""
from __future__ import annotations

import torch


def small_state(step: int = 3) -> dict:
    """A checkpoint dict of ``step``, small: two tensors, plain values, an empty tensor."""
    return {"step": step, "model": {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3), "b": torch.tensor(0.5)},
            "notes": ["a", 1, 2.5, None, True], "empty": torch.empty(0)}
