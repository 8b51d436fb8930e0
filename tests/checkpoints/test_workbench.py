"""Checkpoints: atomic save with checksum, verified load, names/sorting, retention, resume lookup, inspect."""
from __future__ import annotations

import hashlib
import random
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from radiodiff_lib import checkpoints as ckpt
from radiodiff_lib.errors import CheckpointError
from radiodiff_lib.training.state import capture_rng, restore_rng


def _state(step: int = 3) -> dict:
    return {"step": step, "model": {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3), "b": torch.tensor(0.5)},
            "notes": ["a", 1, 2.5, None, True], "empty": torch.empty(0)}


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
    path = ckpt.save_checkpoint(tmp_path / "model-1.pt", _state())
    obj = ckpt.load_checkpoint(path)
    assert obj["format"] == "radiodiff-workbench"
    assert obj["format_version"] == 1
    assert torch.equal(obj["model"]["w"], _state()["model"]["w"])
    assert obj["notes"] == ["a", 1, 2.5, None, True]
    assert obj["checksum"].startswith("sha256:")
    assert obj["checksum"] == ckpt.compute_checksum(obj)
    assert not list(tmp_path.glob(".model-*"))  # no temporary file left behind


def test_checksum_is_canonical_and_sensitive():
    a, b = _state(), _state()
    b["model"] = dict(reversed(list(b["model"].items())))  # key order does not matter
    assert ckpt.compute_checksum(a) == ckpt.compute_checksum(b)
    # a hand computation for the smallest case: one int
    expected = hashlib.sha256(b"D" + (1).to_bytes(8, "little") + b"Vstr:'x';" + b"Vint:1;").hexdigest()
    assert ckpt.compute_checksum({"x": 1}) == "sha256:" + expected
    for change in (lambda s: s["model"]["w"].view(-1)[4].add_(5e-7),  # one float32 ulp (4.0 -> 4.0000005)
                   lambda s: s.update(step=4),
                   lambda s: s["model"].update(b=s["model"]["b"].double()),  # same value, other dtype
                   lambda s: s.update(step=3.0)):  # same number, other type
        c = _state()
        change(c)
        assert ckpt.compute_checksum(c) != ckpt.compute_checksum(a)


def test_tampered_and_truncated_files_are_rejected(tmp_path: Path):
    path = ckpt.save_checkpoint(tmp_path / "model-1.pt", _state())
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


def test_retention_keeps_last_k_and_every_m(tmp_path: Path):
    for step, name in enumerate(["model-1.pt", "model-2.pt", "model-3.pt", "model-4.pt", "model-4-step9.pt",
                                 "model-5.pt"]):
        (tmp_path / name).write_bytes(b"x")
        ckpt.record_checkpoint(tmp_path, tmp_path / name, step)
    deleted = ckpt.prune_checkpoints(tmp_path, keep_last=2, keep_every=2)
    assert sorted(p.name for p in deleted) == ["model-1.pt", "model-3.pt"]
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["model-2.pt", "model-4.pt", "model-4-step9.pt", "model-5.pt"]


def test_resume_lookup_falls_back_and_lists_what_exists(tmp_path: Path):
    ckpt.save_checkpoint(tmp_path / "model-1.pt", _state(1))
    good = ckpt.save_checkpoint(tmp_path / "model-2.pt", _state(2))
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


def test_stale_temporaries_are_removed(tmp_path: Path):
    (tmp_path / ".model-4.pt.tmp-123").write_bytes(b"half")
    (tmp_path / "model-3.pt").write_bytes(b"keep")
    assert [p.name for p in ckpt.remove_stale_temporaries(tmp_path)] == [".model-4.pt.tmp-123"]
    assert [p.name for p in tmp_path.iterdir()] == ["model-3.pt"]


@pytest.fixture(scope="module")
def tiny_parts():
    from radiodiff_lib.model import build_model
    from radiodiff_lib.model.losses import build_loss
    from tests.helpers.configs import make_tiny_config

    cfg = make_tiny_config()
    torch.manual_seed(0)
    return cfg, build_model(cfg), build_loss(cfg)


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


def test_inspect_good_truncated_and_radiodiff(tmp_path: Path, tiny_parts):
    from radiodiff_lib.checkpoints.radiodiff import save_radiodiff_layout
    from radiodiff_lib.config import config_to_dict

    cfg, model, loss = tiny_parts
    state = {"config": config_to_dict(cfg), "step": 6, "model": ckpt.model_state(model, loss),
             "ema": {"shadow": dict(model.state_dict())}}
    ckpt.save_checkpoint(tmp_path / "model-2.pt", state)
    good = ckpt.save_checkpoint(tmp_path / "model-3.pt", {**state, "step": 9})
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 3])
    save_radiodiff_layout(tmp_path / "model-1.pt", model, loss, step=3)
    df = ckpt.inspect_checkpoints(tmp_path)
    rows = {Path(p).name: r for p, r in zip(df["path"], df.to_dict("records"))}
    assert list(rows) == ["model-1.pt", "model-2.pt", "model-3.pt"]
    assert (rows["model-1.pt"]["format"], rows["model-1.pt"]["integrity"], rows["model-1.pt"]["resume"]) == ("radiodiff", "unverifiable", "weights-only")
    assert (rows["model-2.pt"]["format"], rows["model-2.pt"]["integrity"], rows["model-2.pt"]["resume"]) == ("workbench", "ok", "exact")
    assert (rows["model-3.pt"]["integrity"], rows["model-3.pt"]["resume"]) == ("corrupt", "none")
    assert rows["model-2.pt"]["step"] == 6
    assert rows["model-1.pt"]["step"] == 3
    assert rows["model-2.pt"]["milestone"] == 2
    assert rows["model-3.pt"]["bytes"] == len(data) // 3
    text = ckpt.inspect_table_text(df)
    assert "model-3.pt" in text
    assert "corrupt" in text
    assert "unverifiable" in text
    one = ckpt.inspect_checkpoints(tmp_path / "model-2.pt")
    assert len(one) == 1
    assert one.loc[0, "integrity"] == "ok"


def test_load_model_from_ours_and_radiodiff(tmp_path: Path, tiny_parts):
    from radiodiff_lib.checkpoints.radiodiff import save_radiodiff_layout
    from radiodiff_lib.config import config_to_dict

    cfg, model, loss = tiny_parts
    shadow = {k: v + 1.0 for k, v in model.state_dict().items()}
    ckpt.save_checkpoint(tmp_path / "model-1.pt", {"config": config_to_dict(cfg), "step": 3,
                                                    "model": ckpt.model_state(model, loss), "ema": {"shadow": shadow}})
    m, l, c, info = ckpt.load_model_from_checkpoint(tmp_path / "model-1.pt")
    assert info["format"] == "workbench"
    assert c.model.ddconfig.ch == 32
    assert torch.equal(m.encoder.conv_in.weight, model.encoder.conv_in.weight)
    m, _, _, _ = ckpt.load_model_from_checkpoint(tmp_path / "model-1.pt", use_ema=True)
    assert torch.equal(m.encoder.conv_in.weight, model.encoder.conv_in.weight + 1.0)
    save_radiodiff_layout(tmp_path / "model-2.pt", model, loss, step=3)
    m, l, c, info = ckpt.load_model_from_checkpoint(tmp_path / "model-2.pt")
    assert info["format"] == "radiodiff"
    assert c.model.ddconfig.ch == 32
    assert c.model.ddconfig.ch_mult == [1, 2]
    assert torch.equal(m.decoder.conv_out.weight, model.decoder.conv_out.weight)
    assert torch.equal(l.discriminator.main[0].weight, loss.discriminator.main[0].weight)
