"""Shared fixtures: a tiny CPU config (ch 32, 32x32 maps, batch 2) and one thread for torch."""
from __future__ import annotations

import pytest

from tests.helpers.configs import make_tiny_config


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


@pytest.fixture
def tiny_config():
    """Factory fixture: ``tiny_config(**dotted_overrides)`` -> Config."""
    return make_tiny_config


@pytest.fixture(scope="session")
def broken():
    """Analysis of RadioDiff's classic broken run (discriminator never trained, clamped d_weight)."""
    from radiodiff_lib.analysis import analyze
    from tests.helpers.runs import broken_radiodiff_run

    return analyze(broken_radiodiff_run())


@pytest.fixture(scope="session")
def healthy():
    """Analysis of a healthy two-phase run."""
    from radiodiff_lib.analysis import analyze
    from tests.helpers.runs import healthy_run

    return analyze(healthy_run())


@pytest.fixture(scope="module")
def late(tmp_path_factory):
    """The researcher's first-stage run whose logs begin at step 35,000, read from disk: (run, analysis, what
    was written)."""
    from radiodiff_lib.analysis import analyze
    from radiodiff_lib.logs import read_run
    from tests.helpers.researcher import resumed_at_35000

    folder = tmp_path_factory.mktemp("radiodiff_Vae")
    want = resumed_at_35000(folder)
    run = read_run(folder)
    return run, analyze(run), want


@pytest.fixture(scope="module")
def restart(tmp_path_factory):
    """The researcher's second-stage fine-tune followed by a fresh launch (a restart), read from disk: (run,
    analysis, what was written)."""
    from radiodiff_lib.analysis import analyze
    from radiodiff_lib.logs import read_run
    from tests.helpers.researcher import finetune_then_fresh

    folder = tmp_path_factory.mktemp("radiodiff_LDM")
    want = finetune_then_fresh(folder)
    run = read_run(folder)
    return run, analyze(run), want
