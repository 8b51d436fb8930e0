"""Fixtures the evaluation tests share."""
from __future__ import annotations

import pytest

from radiodiff_lib.data import write_radiomapseer_folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A RadioMapSeer-layout folder: 40 maps of 16 x 16 with 4 transmitters each."""
    return write_radiomapseer_folder(tmp_path_factory.mktemp("rms"), num_maps=40, seed=3, size=16, tx_per_map=4)
