"""RadioDiff's procedure, the trainer benchmark's baseline: it follows RadioDiff's step order."""
from __future__ import annotations

import itertools

import torch

from radiodiff_lib.bench.radiodiff_procedure import RadioDiffProcedure
from radiodiff_lib.model import build_loss, build_model
from tests.helpers.configs import make_tiny_config


def test_radiodiff_procedure_follows_radiodiff_step_order():
    cfg = make_tiny_config()  # disc_start 4
    model, loss = build_model(cfg), build_loss(cfg)
    calls = {"vae": 0, "disc": 0}
    model.encoder.register_forward_hook(lambda *a: calls.__setitem__("vae", calls["vae"] + 1))
    loss.discriminator.register_forward_hook(lambda *a: calls.__setitem__("disc", calls["disc"] + 1))
    batches = itertools.cycle([torch.rand(2, 1, 32, 32) * 2 - 1, torch.rand(2, 1, 32, 32) * 2 - 1])
    procedure = RadioDiffProcedure(model, loss, batches)
    disc0 = {k: v.clone() for k, v in loss.discriminator.state_dict().items() if "running" not in k}
    seen = []
    for step in (2, 3, 4):
        calls.update(vae=0, disc=0)
        procedure.step(step)
        seen.append(dict(calls))
    # before disc_start: one VAE forward and a discriminator forward (for the adaptive weight, times 0);
    # from it on (ga 2): two VAE forwards, D(x') for the generator, D(x) and D(x') for the discriminator
    assert seen == [{"vae": 1, "disc": 1}, {"vae": 1, "disc": 1}, {"vae": 2, "disc": 3}]
    after = loss.discriminator.state_dict()
    assert any(not torch.equal(after[k], v) for k, v in disc0.items())  # trained at step 4 (not before: next test)
    assert procedure.resident_bytes() > 4 * sum(p.numel() for p in model.parameters())


def test_radiodiff_procedure_leaves_the_discriminator_before_disc_start():
    cfg = make_tiny_config()
    model, loss = build_model(cfg), build_loss(cfg)
    procedure = RadioDiffProcedure(model, loss, itertools.cycle([torch.rand(2, 1, 32, 32)]))
    disc0 = {k: v.clone() for k, v in loss.discriminator.named_parameters()}
    enc0 = model.encoder.conv_in.weight.detach().clone()
    for step in range(3):
        procedure.step(step)
    assert all(torch.equal(p, disc0[k]) for k, p in loss.discriminator.named_parameters())
    assert not torch.equal(model.encoder.conv_in.weight, enc0)
