"""AutoencoderKL: RadioDiff's key names and shapes, encoder/decoder shapes, the decoder's order, parameter counts."""
from __future__ import annotations

import pytest
import torch

from radiodiff_lib.config import resolve_config
from radiodiff_lib.errors import ConfigError
from radiodiff_lib.model import AutoencoderKL, build_model, count_parameters
from tests.helpers.configs import tiny_dd


@pytest.fixture(scope="module")
def big_meta_sd() -> dict:
    """The ch=128 RadioDiff model's state dict, on the meta device (names and shapes, no memory)."""
    with torch.device("meta"):
        return AutoencoderKL(resolve_config("radiodiff").model.ddconfig, 3).state_dict()


def test_encoder_decoder_shapes(tiny):
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        moments = tiny.encoder(x)
        post = tiny.encode(x)
        rec = tiny.decode(post.sample())
        rec2, post2 = tiny(x)
    assert moments.shape == (2, 6, 16, 16)  # 2*z_channels at H/2 (one downsample)
    assert post.mean.shape == post.logvar.shape == (2, 3, 16, 16)
    assert rec.shape == rec2.shape == (2, 1, 32, 32)
    assert tiny.get_last_layer() is tiny.decoder.conv_out.weight


def test_non_square_and_three_levels():
    m = AutoencoderKL(tiny_dd(ch_mult=[1, 1, 2], attn_resolutions=[]), embed_dim=4).eval()
    with torch.no_grad():
        rec, post = m(torch.randn(1, 1, 16, 24))
    assert post.mean.shape == (1, 4, 4, 6)
    assert rec.shape == (1, 1, 16, 24)


def test_attention_placement_and_decoder_order(tiny):
    sd = tiny.state_dict()
    # resolution 32: level 0 is at 32 (no attention), level 1 at 16 (attention asked for).
    assert not any(k.startswith("encoder.down.0.attn.") for k in sd)
    assert "encoder.down.1.attn.0.q.weight" in sd
    assert "decoder.up.1.attn.1.proj_out.bias" in sd  # num_res_blocks + 1 decoder blocks
    assert not any(k.startswith("decoder.up.0.attn.") for k in sd)
    assert "encoder.mid.attn_1.k.weight" in sd
    assert "decoder.mid.attn_1.v.bias" in sd
    # up.0 is the highest resolution level (ch * 1 out channels) although it runs last.
    assert sd["decoder.up.0.block.0.conv1.weight"].shape == (32, 64, 3, 3)
    assert sd["decoder.up.1.block.0.conv1.weight"].shape == (64, 64, 3, 3)
    assert "decoder.up.1.upsample.conv.weight" in sd
    assert "decoder.up.0.upsample.conv.weight" not in sd
    assert "encoder.down.0.downsample.conv.weight" in sd
    assert "encoder.down.1.downsample.conv.weight" not in sd


def test_radiodiff_key_names_and_shapes(big_meta_sd):
    sd = big_meta_sd
    expected = {  # RadioDiff's checkpoint key names, with the shapes of ch 128, ch_mult [1, 2, 4], 1 channel
        "encoder.conv_in.weight": (128, 1, 3, 3),
        "encoder.down.0.block.0.norm1.weight": (128,),
        "encoder.down.0.block.1.conv2.bias": (128,),
        "encoder.down.1.block.0.nin_shortcut.weight": (256, 128, 1, 1),
        "encoder.down.0.downsample.conv.weight": (128, 128, 3, 3),
        "encoder.mid.block_1.norm1.weight": (512,),
        "encoder.mid.attn_1.q.weight": (512, 512, 1, 1),
        "encoder.mid.attn_1.proj_out.bias": (512,),
        "encoder.norm_out.weight": (512,),
        "encoder.conv_out.weight": (6, 512, 3, 3),
        "decoder.conv_in.weight": (512, 3, 3, 3),
        "decoder.up.2.block.0.conv1.weight": (512, 512, 3, 3),
        "decoder.up.1.upsample.conv.weight": (256, 256, 3, 3),
        "decoder.up.0.block.0.nin_shortcut.weight": (128, 256, 1, 1),
        "decoder.up.0.block.2.conv2.weight": (128, 128, 3, 3),
        "decoder.conv_out.weight": (1, 128, 3, 3),
        "quant_conv.weight": (6, 6, 1, 1),
        "post_quant_conv.weight": (3, 3, 1, 1),
    }
    for key, shape in expected.items():
        assert key in sd, key
        assert tuple(sd[key].shape) == shape, key
    assert all(k.startswith(("encoder.", "decoder.", "quant_conv.", "post_quant_conv.")) for k in sd)
    assert not any(".attn." in k for k in sd)  # attn_resolutions: [] -> attention in mid only
    assert "decoder.up.0.upsample.conv.weight" not in sd
    assert "encoder.down.2.downsample.conv.weight" not in sd
    assert not any("temb" in k or "conv_shortcut" in k for k in sd)


def test_parameter_count_radiodiff_config():
    with torch.device("meta"):
        model = build_model(resolve_config("radiodiff"))
    # Stored number: 55,307,453 parameters. It also matches RadioDiff's 1,327 MB checkpoint of this
    # model (model + EMA copies with 3 loss modules each, plus AdamW moments).
    assert count_parameters(model) == 55_307_453
    assert count_parameters(torch.nn.Linear(3, 2)) == 8


def test_decoder_has_no_tanh(tiny):
    m = AutoencoderKL(tiny_dd(), embed_dim=3).eval()
    with torch.no_grad():
        m.decoder.conv_out.bias.fill_(5.0)
        out = m.decode(torch.zeros(1, 3, 16, 16))
    assert out.max() > 1.5  # a tanh would cap it at 1


def test_double_z_false_is_config_error():
    with pytest.raises(ConfigError, match="double_z"):
        AutoencoderKL(tiny_dd(double_z=False), 3)


def test_forward_without_sampling_decodes_the_mode(tiny):
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        rec, post = tiny(x, sample_posterior=False)
        assert torch.allclose(rec, tiny.decode(post.mean))
        g = torch.Generator().manual_seed(3)
        a, _ = tiny(x, generator=g)
        b, _ = tiny(x, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_parameter_count_matches_radiodiff_checkpoint_size():
    """RadioDiff's model-N.pt of this config is 1,327 MB: rebuild that from our counts."""
    from radiodiff_lib.model.discriminator import NLayerDiscriminator
    from radiodiff_lib.model.lpips import weight_shapes

    with torch.device("meta"):
        ae = count_parameters(build_model(resolve_config("radiodiff")))
        disc = NLayerDiscriminator(1, n_layers=3)
    disc_state = sum(v.numel() * v.element_size() for v in disc.state_dict().values())
    lpips = 4 * sum(torch.Size(s).numel() for s in weight_shapes().values())
    loss_module = 4 + disc_state + lpips  # logvar + discriminator (with BN buffers) + frozen LPIPS
    model_entry = 4 * ae + 3 * loss_module  # loss, loss_pinn, loss_pinn_dpm2irt4
    adamw = 2 * 4 * (ae + count_parameters(disc))  # exp_avg + exp_avg_sq
    total_mb = (2 * model_entry + adamw) / 1e6  # model + ema copy
    assert total_mb == pytest.approx(1327, abs=1.0)
