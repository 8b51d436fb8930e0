"""The model tests' tiny AutoencoderKL, shared by the block and autoencoder tests."""
from __future__ import annotations

import pytest
import torch

from radiodiff_lib.model import AutoencoderKL
from tests.helpers.configs import tiny_dd

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny() -> AutoencoderKL:
    torch.manual_seed(0)
    return AutoencoderKL(tiny_dd(), embed_dim=3).eval()
