"""Our checkpoint format: atomic save with checksum, verified load, names and sorting, stale temporaries, the
model state's layout."""
from __future__ import annotations

import hashlib
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from radiodiff_lib import checkpoints as ckpt
from radiodiff_lib.errors import CheckpointError
from radiodiff_lib.training.state import capture_rng, restore_rng
from tests.helpers.checkpoints import small_state


def test_checkpoint_names_sort_by_milestone_then_step(tmp_path: Path):
    assert ckpt.checkpoint_name(120, 40) == "model-3.pt"
    assert ckpt.checkpoint_name(130, 40) == "model-3-step130.pt"
    assert ckpt.parse_checkpoint_name("model-3-step130.pt") == (3, 130)
    assert ckpt.parse_checkpoint_name("model-10.pt") == (10, 0)
    assert ckpt.parse_checkpoint_name("notes.pt") is None
    for name in ["model-10.pt", "model-2.pt", "model-3-step130.pt", "model-3.pt", "other.txt", ".model-4.pt.tmp-1"]:
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["model-2.pt", "model-3.pt", "model-3-step130.pt", "model-10.pt"]


def test_save_load_roundtrip_with_checksum(tmp_path: Path):
    path = ckpt.save_checkpoint(tmp_path / "model-1.pt", small_state())
    obj = ckpt.load_checkpoint(path)
    assert obj["format"] == "radiodiff-workbench"
    assert obj["format_version"] == 1
    assert torch.equal(obj["model"]["w"], small_state()["model"]["w"])
    assert obj["notes"] == ["a", 1, 2.5, None, True]
    assert obj["checksum"].startswith("sha256:")
    assert obj["checksum"] == ckpt.compute_checksum(obj)
    assert not list(tmp_path.glob(".model-*"))  # no temporary file left behind


def test_checksum_is_canonical_and_sensitive():
    a, b = small_state(), small_state()
    b["model"] = dict(reversed(list(b["model"].items())))  # key order does not matter
    assert ckpt.compute_checksum(a) == ckpt.compute_checksum(b)
    # a hand computation for the smallest case: one int
    expected = hashlib.sha256(b"D" + (1).to_bytes(8, "little") + b"Vstr:'x';" + b"Vint:1;").hexdigest()
    assert ckpt.compute_checksum({"x": 1}) == "sha256:" + expected
    for change in (lambda s: s["model"]["w"].view(-1)[4].add_(5e-7),  # one float32 ulp (4.0 -> 4.0000005)
                   lambda s: s.update(step=4),
                   lambda s: s["model"].update(b=s["model"]["b"].double()),  # same value, other dtype
                   lambda s: s.update(step=3.0)):  # same number, other type
        c = small_state()
        change(c)
        assert ckpt.compute_checksum(c) != ckpt.compute_checksum(a)


def test_tampered_and_truncated_files_are_rejected(tmp_path: Path):
    path = ckpt.save_checkpoint(tmp_path / "model-1.pt", small_state())
    obj = torch.load(path, weights_only=True)
    obj["model"]["w"][0, 0] = 99.0
    torch.save(obj, tmp_path / "model-2.pt")  # stored checksum no longer matches
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        ckpt.load_checkpoint(tmp_path / "model-2.pt")
    data = path.read_bytes()
    (tmp_path / "model-3.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        ckpt.load_checkpoint(tmp_path / "model-3.pt")
    with pytest.raises(CheckpointError, match="not found"):
        ckpt.load_checkpoint(tmp_path / "model-9.pt")
    torch.save({"step": 1}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a workbench checkpoint"):
        ckpt.load_checkpoint(tmp_path / "foreign.pt")


def test_rng_states_survive_the_safe_loader(tmp_path: Path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    np.random.standard_normal()  # leave a cached gaussian in NumPy's state
    state = capture_rng()
    expected = (random.random(), np.random.standard_normal(), torch.rand(3))
    path = ckpt.save_checkpoint(tmp_path / "model-1.pt", {"rng": [state]})
    loaded = ckpt.load_checkpoint(path)["rng"][0]  # weights_only=True inside
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    restore_rng(loaded)
    got = (random.random(), np.random.standard_normal(), torch.rand(3))
    assert got[0] == expected[0]
    assert got[1] == expected[1]
    assert torch.equal(got[2], expected[2])


def test_stale_temporaries_are_removed(tmp_path: Path):
    (tmp_path / ".model-4.pt.tmp-123").write_bytes(b"half")
    (tmp_path / "model-3.pt").write_bytes(b"keep")
    assert [p.name for p in ckpt.remove_stale_temporaries(tmp_path)] == [".model-4.pt.tmp-123"]
    assert [p.name for p in tmp_path.iterdir()] == ["model-3.pt"]


def test_model_state_layout_and_architecture_mismatch(tiny_parts):
    from radiodiff_lib.model import build_model
    from radiodiff_lib.model.losses import build_loss
    from tests.helpers.configs import make_tiny_config

    cfg, model, loss = tiny_parts
    state = ckpt.model_state(model, loss)
    assert "loss.logvar" in state
    assert "loss.discriminator.main.0.weight" in state
    assert "encoder.conv_in.weight" in state
    assert not any("perceptual" in k for k in state)
    other = make_tiny_config(**{"model.ddconfig.ch": 64})
    with pytest.raises(CheckpointError, match=r"another architecture.*shape mismatch: encoder.conv_in.weight \(32, 1, 3, 3\) vs \(64, 1, 3, 3\)"):
        ckpt.load_model_state(build_model(other), build_loss(other), state, where="model-1.pt")
