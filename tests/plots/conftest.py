"""What the plot tests share: the Agg backend, every figure closed after a test, and analysed runs."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from radiodiff_lib.analysis import analyze  # noqa: E402
from tests.helpers.runs import broken_radiodiff_run, healthy_run, two_segment_run  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def broken():
    """RadioDiff's classic broken run and its analysis."""
    run = broken_radiodiff_run(end=60000)
    return run, analyze(run)


@pytest.fixture(scope="module")
def healthy():
    """A healthy two-phase run and its analysis."""
    run = healthy_run()
    return run, analyze(run)


@pytest.fixture(scope="module")
def resumed():
    """A run resumed once with a jump, and its analysis."""
    run = two_segment_run(jump=0.1)
    return run, analyze(run)
