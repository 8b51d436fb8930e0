"""The detail figures: the loss decomposition, the zoom on a resume (superseded rows, the gap rounded as the
text rounds it), the discriminator."""
from __future__ import annotations

import pytest

from radiodiff_lib import plots
from radiodiff_lib.analysis import AnalysisError, analyze
from radiodiff_lib.formatting import duration
from radiodiff_lib.plots.style import PALETTE
from tests.helpers.figures import gid_lines
from tests.helpers.runs import frame, make_run


def test_decomposition_figure(broken):
    run, a = broken
    fig = plots.decomposition_figure(run, a)
    assert len(fig.axes) == 2
    for gid in ("nll_loss", "kl_term", "gan_term", "logged_total", "reconstructed_total", "residual"):
        assert len(gid_lines(fig, gid)) == 1
    assert fig.axes[0].get_yscale() == "symlog"
    assert gid_lines(fig, "gan_term")[0].get_color() == PALETTE["train/g_loss"]


def test_resume_zoom_shows_superseded_rows(resumed, broken):
    run, a = resumed
    fig = plots.resume_zoom_figure(run, a, 0)
    assert len(fig.axes) == 1  # rec_loss is the only compared loss here
    (sup,) = gid_lines(fig, "superseded")
    assert list(sup.get_xdata()) == [3500, 3600, 3700, 3800, 3900, 4000]
    assert len(gid_lines(fig, "current")) == 2
    assert len(gid_lines(fig, "resume")) == 1
    with pytest.raises(AnalysisError, match="out of range"):
        plots.resume_zoom_figure(run, a, 3)
    with pytest.raises(AnalysisError, match="no resume"):
        plots.resume_zoom_figure(*broken, 0)


def test_discriminator_figure(broken, healthy):
    run, a = broken
    fig = plots.discriminator_figure(run, a)
    assert len(fig.axes) == 4
    texts = " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    assert "disc_loss never logged" in texts
    assert "not trained" in texts
    (clamp,) = gid_lines(fig, "clamp")
    assert clamp.get_ydata()[0] == 5000
    run, a = healthy
    fig = plots.discriminator_figure(run, a)
    assert len(gid_lines(fig, "smoothed")) == 5
    assert not any(ax.texts for ax in fig.axes)


def test_resume_gap_is_rounded_once_as_the_text_rounds_it():
    s0 = frame(range(0, 3000, 100), {"train/rec_loss": 0.05}, segment=0)
    # the second launch starts 32 s after the first one's last row
    s1 = frame(range(2000, 5000, 100), {"train/rec_loss": 0.05}, segment=1, t0="2025-03-02 09:48:52")
    run = make_run([s0, s1])
    a = analyze(run, window=5)
    gap = a.resumes[0].gap_seconds
    assert gap == pytest.approx(32.0)
    title = plots.resume_zoom_figure(run, a, 0)._suptitle.get_text()
    assert f"gap {duration(gap)}" in title
    assert "h" not in title.split("gap")[1]
