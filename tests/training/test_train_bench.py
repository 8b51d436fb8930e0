"""The trainer benchmark: its baseline follows RadioDiff's step order, and its report is complete and
consistent (what it measures is not asserted: speed is for benchmarks, not tests)."""
from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch

from radiodiff_lib.bench.radiodiff_procedure import RadioDiffProcedure
from radiodiff_lib.config import save_config
from radiodiff_lib.hardware import resolve_precision
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


def test_bench_train_reports_both_procedures_per_phase(tmp_path: Path):
    from radiodiff_lib.bench.train import ETA_STEPS, run

    cfg_path = save_config(make_tiny_config(**{"model.lossconfig.disc_start": 70_000}), tmp_path / "tiny.yaml")
    out = run(config=cfg_path, device="cpu", precision="bf16", steps=2, threads=1)
    ran, _ = resolve_precision("bf16", torch.device("cpu"))  # fp32 on a CPU without bf16 units
    assert out["runtime"]["precision"] == ran
    assert out["runtime"]["device"] == "cpu"
    assert out["batch_size"] == 2
    for phase in ("pre_disc", "gan"):
        p = out["phases"][phase]
        assert p["steps_timed"] == 2
        for who in ("ours", "radiodiff_procedure"):
            r = p[who]
            assert r["seconds_per_step"] > 0
            assert r["peak_memory_mb"] > 0
            assert r["steps_per_second"] == pytest.approx(1 / r["seconds_per_step"])
            assert r["images_per_second"] == pytest.approx(2 / r["seconds_per_step"])
        assert p["speedup"] == pytest.approx(p["radiodiff_procedure"]["seconds_per_step"] / p["ours"]["seconds_per_step"])
    eta = out["eta_hours_150k_steps"]
    assert eta["disc_start"] == 70_000  # the config's own disc_start, not the shortened benchmark schedule
    pre, gan = (out["phases"][ph]["ours"]["seconds_per_step"] for ph in ("pre_disc", "gan"))
    assert eta["ours"] == pytest.approx((70_000 * pre + (ETA_STEPS - 70_000) * gan) / 3600)


def test_attention_bench_reproduces_the_old_layout_and_reports_both_paths():
    from radiodiff_lib.bench.attention import run, transposed_attention
    from radiodiff_lib.model.blocks import AttnBlock

    torch.manual_seed(0)
    block, h = AttnBlock(32), torch.randn(2, 32, 5, 6)
    with torch.no_grad():  # the benchmark's "before" computes what the block computes, the old way
        assert torch.allclose(transposed_attention(block, h), block(h), atol=1e-5)
    out = run(config="demo", device="cpu", repeats=1)
    assert (out["resolution"], out["ch"], out["tokens"]) == (64, 32, 32 * 32)
    for part, paths in (("attention_block", ("transposed_qkv", "contiguous_qkv")),
                        ("vae_forward_backward", ("math_path", "fused_path"))):
        assert all(out[part][p]["seconds"] > 0 and out[part][p]["peak_mb"] >= 0 for p in paths)
