"""The trainer benchmark: its report is complete and consistent (what it measures is not asserted: speed is
for benchmarks, not tests), and one exact-resume checkpoint of RadioDiff's ch=128 VAE is at most 0.7 of the
1,327 MB RadioDiff writes for it (slow: ~1 GB written to a temp dir)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from radiodiff_lib.config import save_config
from radiodiff_lib.hardware import resolve_precision
from tests.helpers.configs import make_tiny_config


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


@pytest.mark.slow
def test_radiodiff_config_checkpoint_is_under_seventy_percent():
    from radiodiff_lib.bench.train import RADIODIFF_CHECKPOINT_MB, checkpoint_megabytes

    mb = checkpoint_megabytes("radiodiff")
    # model 55.3 M + EMA 55.3 M + AdamW 2 x 55.3 M floats, discriminator 2.76 M x 3: about 918 MB
    assert 900 < mb <= 0.7 * RADIODIFF_CHECKPOINT_MB
