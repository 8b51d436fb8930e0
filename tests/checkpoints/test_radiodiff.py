"""RadioDiff checkpoint import/export: layout, model and EMA weights, clear errors for bad files."""
from __future__ import annotations

import pickle

import pytest
import torch

from radiodiff_lib.checkpoints.radiodiff import (
    RADIODIFF_KEYS, infer_ddconfig, is_radiodiff_checkpoint, load_radiodiff_weights, save_radiodiff_layout,
    torch_load_safely,
)
from radiodiff_lib.config import DDConfig, LossConfig, resolve_config
from radiodiff_lib.errors import CheckpointError
from radiodiff_lib.model import AutoencoderKL
from radiodiff_lib.model.losses import VAEGANLoss

torch.set_num_threads(1)

DD = DDConfig(ch=32, ch_mult=[1, 2], num_res_blocks=1, resolution=[32, 32], attn_resolutions=[16])
LC = LossConfig(disc_in_channels=1, disc_num_layers=2, perceptual_weight=0.0, logvar_init=0.0)


class NotATensor:  # an arbitrary pickled object must be refused, never unpickled
    def __init__(self):
        self.x = 1


def make(seed: int) -> tuple[AutoencoderKL, VAEGANLoss]:
    torch.manual_seed(seed)
    return AutoencoderKL(DD, 3), VAEGANLoss(LC)


def handmade_radiodiff_dict(model, loss, step=35000) -> dict:
    """A checkpoint assembled by hand as train_vae.py writes it (independent of save_radiodiff_layout)."""
    sd = dict(model.state_dict())
    loss_sd = {"logvar": loss.logvar.detach(), **{f"discriminator.{k}": v for k, v in loss.discriminator.state_dict().items()}}
    vgg = {"perceptual_loss.scaling_layer.shift": torch.zeros(1, 3, 1, 1),
           "perceptual_loss.net.slice1.0.weight": torch.randn(64, 3, 3, 3),
           "perceptual_loss.lin0.model.1.weight": torch.rand(1, 64, 1, 1)}
    for name in ("loss", "loss_pinn", "loss_pinn_dpm2irt4"):
        sd.update({f"{name}.{k}": v for k, v in {**loss_sd, **vgg}.items()})
    ema = {f"ema_model.{k}": v + 1.0 if v.is_floating_point() else v for k, v in sd.items()}
    ema.update(initted=torch.tensor([True]), step=torch.tensor([step]))
    return {"step": step, "model": sd, "opt_ae": {"state": {}, "param_groups": []}, "lr_scheduler_ae": {},
            "opt_disc": {"state": {}, "param_groups": []}, "lr_scheduler_disc": {}, "ema": ema, "scaler": None}


def test_handmade_radiodiff_checkpoint_loads_model_and_ema(tmp_path):
    src, src_loss = make(0)
    with torch.no_grad():
        src_loss.logvar.fill_(0.7)
    path = tmp_path / "model-7.pt"
    torch.save(handmade_radiodiff_dict(src, src_loss), path)
    assert is_radiodiff_checkpoint(torch_load_safely(path))

    dst, dst_loss = make(1)
    rep = load_radiodiff_weights(dst, path, loss=dst_loss)
    assert rep.missing == []
    assert rep.unexpected == []
    assert rep.step == 35000
    assert set(rep.loaded) >= set(dst.state_dict())
    assert "loss.logvar" in rep.loaded
    assert any(k.startswith("loss.perceptual_loss.") for k in rep.ignored)
    assert any(k.startswith("loss_pinn.") for k in rep.ignored)
    assert any(k.startswith("loss_pinn_dpm2irt4.") for k in rep.ignored)
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v), k
    assert dst_loss.logvar.item() == pytest.approx(0.7)
    assert torch.equal(dst_loss.discriminator.main[0].weight, src_loss.discriminator.main[0].weight)

    ema_model = AutoencoderKL(DD, 3)
    rep = load_radiodiff_weights(ema_model, path, use_ema=True)
    assert rep.missing == []
    assert rep.unexpected == []
    assert rep.weights == "ema"
    assert "initted" in rep.ignored
    assert "step" in rep.ignored
    assert "loss.logvar" in rep.ignored
    w = ema_model.state_dict()["encoder.conv_in.weight"]
    assert torch.equal(w, src.state_dict()["encoder.conv_in.weight"] + 1.0)  # the ema copy, not the model
    assert "loaded" in rep.summary()
    assert "model-7.pt" in rep.summary()


def test_save_radiodiff_layout_round_trip(tmp_path):
    src, src_loss = make(2)
    ema_state = {k: v + 2.0 for k, v in src.state_dict().items()}
    path = save_radiodiff_layout(tmp_path / "model-3.pt", src, src_loss, step=15000, ema_state=ema_state)
    ck = torch_load_safely(path)
    assert set(ck) == set(RADIODIFF_KEYS)
    assert ck["step"] == 15000
    assert ck["scaler"] is None
    keys = set(ck["model"])
    for k in ("loss.logvar", "loss.discriminator.main.0.weight", "loss.perceptual_loss.net.slice1.0.weight",
              "loss.perceptual_loss.lin4.model.1.weight", "loss_pinn.logvar",
              "loss_pinn_dpm2irt4.perceptual_loss.net.slice5.28.bias", "quant_conv.weight"):
        assert k in keys, k
    assert ck["model"]["loss.perceptual_loss.net.slice4.21.weight"].shape == (512, 512, 3, 3)
    assert all(k.startswith("ema_model.") for k in ck["ema"] if k not in ("initted", "step"))
    assert bool(ck["ema"]["initted"])
    assert int(ck["ema"]["step"]) == 15000
    n_ae = sum(1 for n in ("encoder", "decoder", "quant_conv", "post_quant_conv") for _ in getattr(src, n).parameters())
    assert ck["opt_ae"]["param_groups"][0]["params"] == list(range(n_ae))
    assert len(ck["opt_disc"]["param_groups"][0]["params"]) == len(list(src_loss.discriminator.parameters()))
    assert path.stat().st_size < 3 * 4 * (sum(v.numel() for v in src.state_dict().values()) + 1e6)  # fake LPIPS is tiny

    for use_ema, offset in ((False, 0.0), (True, 2.0)):
        dst = AutoencoderKL(DD, 3)
        rep = load_radiodiff_weights(dst, path, use_ema=use_ema)
        assert rep.missing == []
        assert rep.unexpected == []
        assert not any(k.startswith(("encoder.", "decoder.")) for k in rep.ignored)
        assert torch.equal(dst.state_dict()["decoder.conv_out.weight"], src.state_dict()["decoder.conv_out.weight"] + offset)


def test_missing_and_unexpected_keys_are_reported():
    src, _ = make(3)
    ck = handmade_radiodiff_dict(src, VAEGANLoss(LC))
    del ck["model"]["decoder.norm_out.bias"]
    ck["model"]["something.else"] = torch.zeros(1)
    rep = load_radiodiff_weights(AutoencoderKL(DD, 3), ck)
    assert rep.missing == ["decoder.norm_out.bias"]
    assert rep.unexpected == ["something.else"]
    assert "loss.logvar" in rep.ignored  # no loss given


def test_shape_mismatch_names_keys_and_architecture():
    src, _ = make(4)
    ck = handmade_radiodiff_dict(src, VAEGANLoss(LC))
    other = AutoencoderKL(DDConfig(ch=64, ch_mult=[1, 2], num_res_blocks=1, resolution=[32, 32]), 3)
    with pytest.raises(CheckpointError, match=r"encoder\.conv_in\.weight: file \(32, 1, 3, 3\) vs model \(64, 1, 3, 3\).*ch=32"):
        load_radiodiff_weights(other, ck)


def write_bad_files(tmp_path) -> dict:
    src, loss = make(5)
    good = save_radiodiff_layout(tmp_path / "good.pt", src, loss, step=5)
    data = good.read_bytes()
    files = {
        "truncated": (data[: len(data) // 2], "truncated or corrupt"),
        "random": (bytes(range(256)) * 8, "not a PyTorch file"),
        "empty": (b"", "empty"),
        "pickle": (pickle.dumps(NotATensor()), "plain Python pickle"),
    }
    out = {}
    for name, (blob, msg) in files.items():
        p = tmp_path / f"{name}.pt"
        p.write_bytes(blob)
        out[name] = (p, msg)
    p = tmp_path / "object.pt"
    torch.save({"model": NotATensor()}, p)
    out["object"] = (p, "Python objects other than tensors")
    p = tmp_path / "foreign.pt"
    torch.save({"weights": {"fc.weight": torch.zeros(2, 2)}}, p)
    out["foreign"] = (p, "no 'model' state dict")
    p = tmp_path / "foreign_model.pt"
    torch.save({"model": {"fc.weight": torch.zeros(2, 2)}, "step": 3}, p)
    out["foreign_model"] = (p, "no encoder./decoder. weights")
    p = tmp_path / "list.pt"
    torch.save([torch.zeros(1)], p)
    out["list"] = (p, "not a checkpoint dict")
    return out


def test_bad_files_give_clear_checkpoint_errors(tmp_path):
    for name, (path, msg) in write_bad_files(tmp_path).items():
        with pytest.raises(CheckpointError, match=msg) as info:
            load_radiodiff_weights(AutoencoderKL(DD, 3), path)
        assert str(path) in str(info.value), name
    with pytest.raises(CheckpointError, match="not found"):
        torch_load_safely(tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match="no 'ema'"):
        load_radiodiff_weights(AutoencoderKL(DD, 3), {"model": AutoencoderKL(DD, 3).state_dict()}, use_ema=True)


def test_is_radiodiff_checkpoint():
    src, loss = make(6)
    ck = handmade_radiodiff_dict(src, loss)
    assert is_radiodiff_checkpoint(ck)
    assert not is_radiodiff_checkpoint({**ck, "format": "radiodiff-workbench"})
    assert not is_radiodiff_checkpoint({"model": {"fc.weight": torch.zeros(1)}})
    assert not is_radiodiff_checkpoint([1, 2])
    assert not is_radiodiff_checkpoint(src.state_dict())


def test_infer_ddconfig():
    src, loss = make(7)
    dd, embed = infer_ddconfig(src.state_dict(), resolution=[32, 32])
    assert dd == DD
    assert embed == 3
    dd2, _ = infer_ddconfig(handmade_radiodiff_dict(src, loss), resolution=[32, 32])  # whole checkpoint
    assert dd2 == DD
    with torch.device("meta"):
        big = AutoencoderKL(resolve_config("radiodiff").model.ddconfig, 3)
    dd3, embed3 = infer_ddconfig(big.state_dict())
    assert dd3 == resolve_config("radiodiff").model.ddconfig
    assert embed3 == 3
    with pytest.raises(CheckpointError, match="encoder.conv_in.weight"):
        infer_ddconfig({"fc.weight": torch.zeros(1)})


def test_workbench_layout_and_bare_state_dict_load():
    src, _ = make(8)
    shadow = {k: v + 3.0 if v.is_floating_point() else v for k, v in src.state_dict().items()}
    ours = {"format": "radiodiff-workbench", "step": 12, "model": dict(src.state_dict()), "ema": {"shadow": shadow}}
    dst = AutoencoderKL(DD, 3)
    rep = load_radiodiff_weights(dst, ours, use_ema=True)
    assert rep.missing == []
    assert rep.unexpected == []
    assert rep.step == 12
    assert torch.equal(dst.state_dict()["quant_conv.weight"], src.state_dict()["quant_conv.weight"] + 3.0)
    rep = load_radiodiff_weights(dst, src.state_dict())  # a bare AutoencoderKL state dict
    assert rep.missing == []
    assert torch.equal(dst.state_dict()["quant_conv.weight"], src.state_dict()["quant_conv.weight"])


def test_discriminator_mismatch_names_loss_keys():
    src, _ = make(9)
    ck = handmade_radiodiff_dict(src, VAEGANLoss(LossConfig(disc_in_channels=3, disc_num_layers=2, perceptual_weight=0.0)))
    with pytest.raises(CheckpointError, match=r"loss\.discriminator\.main\.0\.weight: file \(64, 3, 4, 4\).*disc_in_channels"):
        load_radiodiff_weights(AutoencoderKL(DD, 3), ck, loss=VAEGANLoss(LC))
