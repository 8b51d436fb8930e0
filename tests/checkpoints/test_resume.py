"""Which checkpoint a resume starts from: the newest good one, falling back, naming what exists."""
from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from radiodiff_lib import checkpoints as ckpt
from radiodiff_lib.errors import CheckpointError
from tests.helpers.checkpoints import small_state


def test_resume_lookup_falls_back_and_lists_what_exists(tmp_path: Path):
    ckpt.save_checkpoint(tmp_path / "model-1.pt", small_state(1))
    good = ckpt.save_checkpoint(tmp_path / "model-2.pt", small_state(2))
    data = good.read_bytes()
    (tmp_path / "model-3.pt").write_bytes(data[:-100])  # truncated newest
    with pytest.warns(UserWarning, match="model-3.pt"):
        path, obj, fmt, problems = ckpt.locate_and_load(tmp_path, "latest")
    assert path.name == "model-2.pt"
    assert obj["step"] == 2
    assert fmt == "workbench"
    assert "model-3.pt" in problems[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert ckpt.find_resume_checkpoint(tmp_path, "latest").name == "model-2.pt"
    assert ckpt.find_resume_checkpoint(tmp_path, 1).name == "model-1.pt"
    with pytest.raises(CheckpointError, match=r"model-7.pt does not exist.*model-1.pt, model-2.pt, model-3.pt"):
        ckpt.find_resume_checkpoint(tmp_path, 7)
    with pytest.raises(CheckpointError, match="holds no checkpoints"):
        ckpt.find_resume_checkpoint(tmp_path / "empty", "latest")
