"""Fixtures the checkpoint tests share: a tiny model and its loss, seeded."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def tiny_parts():
    """(config, model, loss) of the tiny CPU config."""
    from radiodiff_lib.model import build_model
    from radiodiff_lib.model.losses import build_loss
    from tests.helpers.configs import make_tiny_config

    cfg = make_tiny_config()
    torch.manual_seed(0)
    return cfg, build_model(cfg), build_loss(cfg)
