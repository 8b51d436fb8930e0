"""VAE-GAN loss, discriminator and LPIPS: values against hand computations."""
from __future__ import annotations

import math

import pytest
import torch

from radiodiff_lib.config import LossConfig, replace, resolve_config
from radiodiff_lib.errors import ConfigError
from radiodiff_lib.model import DiagonalGaussianDistribution, losses
from radiodiff_lib.model.discriminator import NLayerDiscriminator
from radiodiff_lib.model.losses import (
    VAEGANLoss, adaptive_weight, build_loss, disc_factor_at, hinge_d_loss, vanilla_d_loss,
)
from radiodiff_lib.model.lpips import LPIPS

torch.set_num_threads(1)


def lossconfig(**kw) -> LossConfig:
    args = dict(disc_start=10, kl_weight=1e-3, disc_weight=0.5, disc_in_channels=1,
                perceptual_weight=0.0, disc_num_layers=2, logvar_init=0.5)
    args.update(kw)
    return LossConfig(**args)


def setup_batch():
    """x, a 1x1-conv 'last layer' w and x' = w * feat, and a fixed posterior."""
    torch.manual_seed(0)
    x = torch.rand(2, 1, 16, 16) * 2 - 1
    feat = torch.randn(2, 1, 16, 16)
    w = torch.nn.Parameter(torch.tensor([[[[0.8]]]]))
    rec = torch.nn.functional.conv2d(feat, w)
    post = DiagonalGaussianDistribution(torch.randn(2, 6, 4, 4))
    return x, rec, w, post


# --- pure functions -------------------------------------------------------------------------

def test_disc_factor_switches_exactly_at_disc_start():
    assert disc_factor_at(49999, 50001, 1.0) == 0.0
    assert disc_factor_at(50000, 50001, 1.0) == 0.0
    assert disc_factor_at(50001, 50001, 1.0) == 1.0
    assert disc_factor_at(60000, 50001, 0.7) == 0.7


def test_hinge_and_vanilla_hand_values():
    real = torch.tensor([0.5, -2.0, 1.5])
    fake = torch.tensor([-0.5, 0.3, -1.5])
    # relu(1 - real) = [0.5, 3, 0]; relu(1 + fake) = [0.5, 1.3, 0]
    assert hinge_d_loss(real, fake).item() == pytest.approx(0.5 * (3.5 / 3 + 1.8 / 3), rel=1e-6)
    sp = lambda v: math.log1p(math.exp(v))  # noqa: E731
    hand = 0.5 * ((sp(-0.5) + sp(2.0) + sp(-1.5)) / 3 + (sp(-0.5) + sp(0.3) + sp(-1.5)) / 3)
    assert vanilla_d_loss(real, fake).item() == pytest.approx(hand, rel=1e-6)


def test_adaptive_weight_hand_value_and_clamp():
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    nll = 3 * (w**2).sum()  # grad 6w = [6, 12], norm 6*sqrt(5)
    g = (torch.tensor([3.0, 4.0]) * w).sum()  # grad [3, 4], norm 5
    d = adaptive_weight(nll, g, w, disc_weight=0.5)
    assert d.item() == pytest.approx(6 * math.sqrt(5) / (5 + 1e-4) * 0.5, rel=1e-6)
    assert not d.requires_grad
    g0 = (0.0 * w).sum()  # zero generator gradient -> the clamp at 1e4
    assert adaptive_weight(nll, g0, w, 0.5).item() == pytest.approx(1e4 * 0.5)


# --- generator loss -------------------------------------------------------------------------

def test_rec_nll_kl_total_before_disc_start():
    loss = VAEGANLoss(lossconfig())
    x = torch.tensor([[[[1.0, -0.5]]], [[[0.2, 0.0]]]])  # B=2, 1x1x2
    xr = torch.zeros_like(x)
    post = DiagonalGaussianDistribution(torch.tensor([[[[1.0]], [[0.0]]], [[[0.0]], [[math.log(4.0)]]]]))
    total, logs = loss.generator_loss(x, xr, post, step=9, last_layer=None)
    rec = [1 + 1, 0.5 + 0.25, 0.2 + 0.04, 0.0]  # |d| + d^2 per pixel
    nll = (sum(rec) / math.exp(0.5) + 4 * 0.5) / 2
    kl = (0.5 * 1.0 + 0.5 * (4 - 1 - math.log(4.0))) / 2  # per-sample KLs summed, / B
    assert logs["train/rec_loss"].item() == pytest.approx(sum(rec) / 4, rel=1e-6)
    assert logs["train/nll_loss"].item() == pytest.approx(nll, rel=1e-6)
    assert logs["train/kl_loss"].item() == pytest.approx(kl, rel=1e-6)
    assert total.item() == pytest.approx(nll + 1e-3 * kl, rel=1e-6)
    assert logs["train/total_loss"].item() == pytest.approx(total.item())
    assert logs["train/logvar"].item() == pytest.approx(0.5)
    assert float(logs["train/disc_factor"]) == 0.0


def test_no_discriminator_and_no_autograd_while_factor_is_zero(monkeypatch):
    loss = VAEGANLoss(lossconfig())
    calls = []
    loss.discriminator.register_forward_hook(lambda *a: calls.append(1))

    def boom(*a, **k):
        raise AssertionError("adaptive weight computed while disc_factor is 0")

    monkeypatch.setattr(losses, "adaptive_weight", boom)
    x, rec, w, post = setup_batch()
    _, logs = loss.generator_loss(x, rec, post, step=9, last_layer=w)
    assert calls == []
    assert "train/d_weight" not in logs
    assert "train/g_loss" not in logs
    # disc_factor 0 in the config: still no discriminator work after disc_start
    off = VAEGANLoss(lossconfig(disc_factor=0.0))
    off.discriminator.register_forward_hook(lambda *a: calls.append(1))
    off.generator_loss(x, rec, post, step=100, last_layer=w)
    assert calls == []
    # from disc_start on it runs
    monkeypatch.undo()
    loss.generator_loss(x, rec, post, step=10, last_layer=w)
    assert calls == [1]


def test_gan_phase_total_matches_hand_assembly():
    loss = VAEGANLoss(lossconfig())
    x, rec, w, post = setup_batch()
    total, logs = loss.generator_loss(x, rec, post, step=10, last_layer=w)
    # independent recomputation of every term
    d = x - rec
    nll = ((d.abs() + d**2) / math.exp(0.5) + 0.5).sum() / 2
    kl = (0.5 * (post.mean**2 + post.var - 1 - post.logvar)).sum() / 2
    g = -loss.discriminator(rec).mean()  # train-mode BN: batch statistics, same output
    gn = torch.autograd.grad(nll, w, retain_graph=True)[0].norm()
    gg = torch.autograd.grad(g, w, retain_graph=True)[0].norm()
    d_weight = torch.clamp(gn / (gg + 1e-4), 0, 1e4) * 0.5
    assert logs["train/g_loss"].item() == pytest.approx(g.item(), rel=1e-5)
    assert logs["train/d_weight"].item() == pytest.approx(d_weight.item(), rel=1e-5)
    assert float(logs["train/disc_factor"]) == 1.0
    expected = nll + 1e-3 * kl + d_weight * 1.0 * g
    assert total.item() == pytest.approx(expected.item(), rel=1e-5)
    total.backward()  # the graph survives the adaptive-weight autograd passes
    assert w.grad is not None


def test_discriminator_loss_switch_and_detach():
    loss = VAEGANLoss(lossconfig())
    x, rec, w, post = setup_batch()
    d_before, _ = loss.discriminator_loss(x, rec.detach(), step=9)
    assert d_before.item() == 0.0
    d_loss, logs = loss.discriminator_loss(x, rec, step=10)
    real, fake = loss.discriminator(x), loss.discriminator(rec.detach())
    assert d_loss.item() == pytest.approx(hinge_d_loss(real, fake).item(), rel=1e-5)
    assert logs["train/logits_real"].item() == pytest.approx(real.mean().item(), rel=1e-5)
    assert logs["train/logits_fake"].item() == pytest.approx(fake.mean().item(), rel=1e-5)
    d_loss.backward()
    assert w.grad is None  # nothing flows back into the autoencoder
    assert loss.discriminator.main[0].weight.grad is not None
    van = VAEGANLoss(lossconfig(disc_loss="vanilla"))
    d_v, _ = van.discriminator_loss(x, rec.detach(), step=10)
    r, f = van.discriminator(x), van.discriminator(rec.detach())
    assert d_v.item() == pytest.approx(vanilla_d_loss(r, f).item(), rel=1e-5)


def test_state_dict_names():
    loss = build_loss(resolve_config("demo"))
    sd = loss.state_dict()
    assert isinstance(loss.logvar, torch.nn.Parameter)
    assert loss.logvar.shape == ()
    assert set(sd) == {"logvar"} | {k for k in sd if k.startswith("discriminator.main.")}
    assert loss.perceptual_loss is None


# --- discriminator --------------------------------------------------------------------------

def test_discriminator_shape_names_and_init():
    torch.manual_seed(0)
    d = NLayerDiscriminator(input_nc=1, ndf=64, n_layers=3)
    assert d(torch.randn(2, 1, 32, 32)).shape == (2, 1, 2, 2)
    with torch.no_grad():
        assert d(torch.randn(1, 1, 256, 256)).shape == (1, 1, 30, 30)  # RadioMapSeer size
    sd = d.state_dict()
    assert sd["main.0.weight"].shape == (64, 1, 4, 4)
    assert "main.0.bias" in sd
    assert sd["main.2.weight"].shape == (128, 64, 4, 4)
    assert "main.2.bias" not in sd
    assert "main.3.running_mean" in sd
    assert sd["main.8.weight"].shape == (512, 256, 4, 4)
    assert sd["main.11.weight"].shape == (1, 512, 4, 4)
    conv = torch.cat([sd[f"main.{i}.weight"].flatten() for i in (0, 2, 5, 8, 11)])
    assert abs(conv.mean().item()) < 1e-3
    assert conv.std().item() == pytest.approx(0.02, rel=0.02)
    bn_w = torch.cat([sd[f"main.{i}.weight"] for i in (3, 6, 9)])  # 896 values
    assert bn_w.mean().item() == pytest.approx(1.0, abs=3e-3)
    assert bn_w.std().item() == pytest.approx(0.02, rel=0.15)
    assert all(torch.equal(sd[f"main.{i}.bias"], torch.zeros_like(sd[f"main.{i}.bias"])) for i in (3, 6, 9))


def test_actnorm_variant_has_biases():
    d = NLayerDiscriminator(input_nc=1, n_layers=2, use_actnorm=True)
    sd = d.state_dict()
    assert "main.2.bias" in sd
    assert "main.3.loc" in sd
    assert "main.3.initialized" in sd
    assert d(torch.randn(2, 1, 32, 32)).shape == (2, 1, 6, 6)


# --- LPIPS ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lpips_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("lpips") / "lpips_vgg.pt"
    torch.save(LPIPS().weights_dict(), path)
    return path


def test_lpips_path_with_random_network(lpips_file):
    cfg = replace(resolve_config("demo"), **{"model.lossconfig.perceptual_weight": 0.5,
                                              "model.lossconfig.lpips_weights": str(lpips_file)})
    loss = build_loss(cfg)
    assert loss.perceptual_loss is not None
    saved = torch.load(lpips_file, weights_only=True)
    assert torch.equal(loss.perceptual_loss.weights_dict()["net.slice3.12.weight"], saved["net.slice3.12.weight"])
    assert set(loss.state_dict()) == {"logvar"} | {k for k in loss.state_dict() if k.startswith("discriminator.")}
    assert list(loss.perceptual_loss.parameters()) == []
    loss.train()
    assert not loss.perceptual_loss.training
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    xr = (x + 0.3 * torch.randn_like(x)).requires_grad_(True)
    p = loss.perceptual_loss(x, xr)
    assert p.shape == (2, 1, 1, 1)
    assert (p > 0).all()
    assert loss.perceptual_loss(x, x).abs().max().item() < 1e-6
    post = DiagonalGaussianDistribution(torch.zeros(2, 6, 8, 8))
    _, logs = loss.generator_loss(x, xr, post, step=0, last_layer=None)
    d = x - xr
    assert logs["train/rec_loss"].item() == pytest.approx((d.abs() + d**2 + 0.5 * p).mean().item(), rel=1e-5)
    logs_total, _ = loss.generator_loss(x, xr, post, step=0, last_layer=None)
    logs_total.backward()
    assert xr.grad is not None


def test_lpips_accepts_radiodiff_and_torchvision_names(lpips_file, tmp_path):
    w = torch.load(lpips_file, weights_only=True)
    net = LPIPS()
    net.load_weights({f"loss.perceptual_loss.{k}": v for k, v in w.items()})
    assert torch.equal(net.weights_dict()["lin2.model.1.weight"], w["lin2.model.1.weight"])
    tv = {k.replace("net.slice1.", "features.").replace("net.slice2.", "features.")
           .replace("net.slice3.", "features.").replace("net.slice4.", "features.")
           .replace("net.slice5.", "features."): v for k, v in w.items()}
    net2 = LPIPS()
    net2.load_weights(tv)
    assert torch.equal(net2.weights_dict()["net.slice5.28.bias"], w["net.slice5.28.bias"])


def test_lpips_missing_weights_is_config_error(tmp_path):
    base = resolve_config("demo")
    cfg = replace(base, **{"model.lossconfig.perceptual_weight": 1.0})
    with pytest.raises(ConfigError, match=r"lpips_weights.*perceptual_weight: 0"):
        build_loss(cfg)
    missing = replace(cfg, **{"model.lossconfig.lpips_weights": str(tmp_path / "nope.pt")})
    with pytest.raises(ConfigError, match="not found.*nope.pt"):
        build_loss(missing)
    partial = tmp_path / "partial.pt"
    torch.save({"lin0.model.1.weight": torch.zeros(1, 64, 1, 1)}, partial)
    with pytest.raises(ConfigError, match="missing.*net.slice1.0.weight"):
        build_loss(replace(cfg, **{"model.lossconfig.lpips_weights": str(partial)}))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file at all")
    with pytest.raises(ConfigError, match="cannot be read"):
        build_loss(replace(cfg, **{"model.lossconfig.lpips_weights": str(junk)}))


def test_lpips_weight_shapes_match_the_network():
    from radiodiff_lib.model.lpips import weight_shapes

    assert {k: tuple(v.shape) for k, v in LPIPS().weights_dict().items()} == weight_shapes()
    assert sum(torch.Size(s).numel() for k, s in weight_shapes().items() if k.startswith("net.")) == 14_714_688  # VGG16 features


def test_disc_factor_scales_the_adversarial_term():
    x, rec, w, post = setup_batch()
    full = VAEGANLoss(lossconfig())
    part = VAEGANLoss(lossconfig(disc_factor=0.7))
    part.load_state_dict(full.state_dict())
    t1, l1 = full.generator_loss(x, rec, post, step=10, last_layer=w)
    t0, l0 = part.generator_loss(x, rec, post, step=10, last_layer=w)
    base = l1["train/nll_loss"] + 1e-3 * l1["train/kl_loss"]
    adv = l1["train/d_weight"] * l1["train/g_loss"]
    assert float(l0["train/disc_factor"]) == pytest.approx(0.7)
    assert t1.item() == pytest.approx((base + adv).item(), rel=1e-5)
    assert t0.item() == pytest.approx((base + 0.7 * adv).item(), rel=1e-5)


def test_lpips_matches_an_explicit_computation():
    import torch.nn.functional as F

    torch.manual_seed(3)
    net = LPIPS()
    w = net.weights_dict()
    x, y = torch.rand(1, 1, 16, 16) * 2 - 1, torch.rand(1, 1, 16, 16) * 2 - 1

    def feats(img):
        h = (img.repeat(1, 3, 1, 1) - w["scaling_layer.shift"]) / w["scaling_layer.scale"]
        out = []
        for s, convs in enumerate([[0, 2], [5, 7], [10, 12, 14], [17, 19, 21], [24, 26, 28]]):
            if s:
                h = F.max_pool2d(h, 2)
            for i in convs:
                h = F.relu(F.conv2d(h, w[f"net.slice{s + 1}.{i}.weight"], w[f"net.slice{s + 1}.{i}.bias"], padding=1))
            out.append(h)
        return out

    total = 0.0
    for k, (a, b) in enumerate(zip(feats(x), feats(y))):
        a = a / (a.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        b = b / (b.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        total = total + F.conv2d((a - b) ** 2, w[f"lin{k}.model.1.weight"]).mean()
    assert net(x, y).item() == pytest.approx(total.item(), rel=1e-5)


def test_loss_sums_in_float32_under_bf16_autocast():
    loss = VAEGANLoss(lossconfig())
    x, rec, w, post = setup_batch()
    ref, _ = loss.generator_loss(x, rec, post, step=0, last_layer=None)
    half = DiagonalGaussianDistribution(post.parameters.bfloat16())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        total, logs = loss.generator_loss(x, rec.bfloat16(), half, step=0, last_layer=None)
    assert total.dtype == torch.float32
    assert logs["train/kl_loss"].dtype == torch.float32
    assert total.item() == pytest.approx(ref.item(), rel=1e-2)


def test_adversarial_term_gradients_match_the_reference_with_one_discriminator_backward():
    """The loss's GAN term: the value and the autoencoder's gradients of the plain
    d_weight * g_loss (reference adaptive_weight), with one pass back through the discriminator
    instead of two, and no gradient into the discriminator's weights."""
    torch.manual_seed(0)
    loss = VAEGANLoss(lossconfig())
    x = torch.rand(2, 1, 16, 16) * 2 - 1
    feat = torch.randn(2, 4, 16, 16)
    w = torch.nn.Parameter(torch.randn(1, 4, 3, 3) * 0.3)  # the 'last layer'
    post = DiagonalGaussianDistribution(torch.randn(2, 6, 4, 4))
    passes = []

    class CountBackward(torch.autograd.Function):  # the discriminator's input, counting the passes back through it
        @staticmethod
        def forward(ctx, t):
            return t.clone()

        @staticmethod
        def backward(ctx, grad):
            passes.append(1)
            return grad

    loss.discriminator.register_forward_pre_hook(lambda module, args: (CountBackward.apply(args[0]),))

    def grads(use_reference: bool):
        rec = torch.nn.functional.conv2d(feat, w, padding=1)
        if use_reference:
            nll = losses.nll_terms(losses.reconstruction_loss(x, rec), loss.logvar)
            g = -loss.discriminator(rec).mean()
            total = nll + 1e-3 * losses.kl_term(post) + adaptive_weight(nll, g, w, 0.5) * g
        else:
            total, _ = loss.generator_loss(x, rec, post, step=10, last_layer=w)
        (grad,) = torch.autograd.grad(total, w)
        return total.detach(), grad

    ref_total, ref_grad = grads(True)
    assert len(passes) == 2  # the reference: once for the weight, once more in the backward
    passes.clear()
    total, grad = grads(False)
    assert len(passes) == 1
    assert total.item() == pytest.approx(ref_total.item(), rel=1e-6)
    assert torch.allclose(grad, ref_grad, rtol=1e-5, atol=1e-6 * ref_grad.abs().max().item())  # float32 order
    assert all(p.grad is None for p in loss.discriminator.parameters())
