"""Shared fixtures: a tiny CPU config (ch 32, 32x32 maps, batch 2) and one thread for torch."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Keep torch to one thread: the test machine's cores are shared."""
    try:
        import torch
    except ImportError:  # the log/analysis tests run without torch
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def make_tiny_config(**overrides):
    """The demo config shrunk to ch 32, ch_mult [1, 2], 32x32 synthetic maps, batch 2, plus overrides."""
    from radiodiff_lib.config import replace, resolve_config

    base = {
        "model.ddconfig.ch": 32, "model.ddconfig.ch_mult": [1, 2], "model.ddconfig.num_res_blocks": 1,
        "model.ddconfig.resolution": [32, 32], "data.image_size": 32, "data.batch_size": 2, "data.num_maps": 24,
        "model.lossconfig.disc_start": 4, "trainer.train_num_steps": 8, "trainer.save_and_sample_every": 3,
        "trainer.log_freq": 1, "trainer.ema_update_every": 2, "trainer.keep_last": 10,
    }
    base.update(overrides)
    return replace(resolve_config("demo"), **base)


@pytest.fixture
def tiny_config():
    """Factory fixture: ``tiny_config(**dotted_overrides)`` -> Config."""
    return make_tiny_config


@pytest.fixture(scope="session")
def broken():
    """Analysis of RadioDiff's classic broken run (discriminator never trained, clamped d_weight)."""
    from radiodiff_lib.analysis import analyze
    from test_analysis_fixtures import broken_radiodiff_run

    return analyze(broken_radiodiff_run())


@pytest.fixture(scope="session")
def healthy():
    """Analysis of a healthy two-phase run."""
    from radiodiff_lib.analysis import analyze
    from test_analysis_fixtures import healthy_run

    return analyze(healthy_run())
