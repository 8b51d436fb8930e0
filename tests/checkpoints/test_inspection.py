"""The inspect table of a folder (good, truncated, RadioDiff's), and a model loaded from any checkpoint."""
from __future__ import annotations

from pathlib import Path

import torch

from radiodiff_lib import checkpoints as ckpt


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
