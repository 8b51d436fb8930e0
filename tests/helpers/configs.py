"""The tiny CPU config every training test starts from."""
from __future__ import annotations

from radiodiff_lib.config import Config, DDConfig, replace, resolve_config


def make_tiny_config(**overrides) -> Config:
    """The demo config shrunk to ch 32, ch_mult [1, 2], 32x32 synthetic maps, batch 2, plus overrides."""
    base = {
        "model.ddconfig.ch": 32, "model.ddconfig.ch_mult": [1, 2], "model.ddconfig.num_res_blocks": 1,
        "model.ddconfig.resolution": [32, 32], "data.image_size": 32, "data.batch_size": 2, "data.num_maps": 24,
        "model.lossconfig.disc_start": 4, "trainer.train_num_steps": 8, "trainer.save_and_sample_every": 3,
        "trainer.log_freq": 1, "trainer.ema_update_every": 2, "trainer.keep_last": 10,
    }
    base.update(overrides)
    return replace(resolve_config("demo"), **base)


def tiny_dd(**overrides) -> DDConfig:
    """A two-level ch-32 architecture at 32 x 32 with attention at 16 (fast enough for any test)."""
    args = dict(ch=32, ch_mult=[1, 2], num_res_blocks=1, resolution=[32, 32], attn_resolutions=[16], z_channels=3)
    args.update(overrides)
    return DDConfig(**args)
