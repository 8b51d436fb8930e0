"""Figures a researcher can read (issue 18): plain tick labels, titles that fit, one rounding of gaps, the
LR drawn as reconstructed, and the key figure of each stage with what is set aside."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from radiodiff_lib import plots  # noqa: E402
from radiodiff_lib.analysis import analyze, compare_paths, lr_curve  # noqa: E402
from radiodiff_lib.formatting import duration  # noqa: E402
from radiodiff_lib.logs import read_run  # noqa: E402
from tests.helpers.researcher import finetune_then_fresh, resumed_at_35000  # noqa: E402
from tests.helpers.runpairs import write_run  # noqa: E402
from tests.helpers.runs import broken_radiodiff_run, frame, make_run  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def broken():
    run = broken_radiodiff_run(end=60000)
    return run, analyze(run)


@pytest.fixture(scope="module")
def late(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vae35k")
    resumed_at_35000(folder)
    run = read_run(folder)
    return run, analyze(run)


@pytest.fixture(scope="module")
def restart(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ldm")
    finetune_then_fresh(folder)
    run = read_run(folder)
    return run, analyze(run)


def _tick_labels(fig) -> list[str]:
    fig.canvas.draw()
    out = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            out += [t.get_text() for t in axis.get_ticklabels(which="both")]
            out.append(axis.get_offset_text().get_text())
    return out


def _titles_fit(fig) -> list[str]:
    """The titles (axes and figure) that reach beyond the figure's width: clipped in the PNG."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    width = fig.bbox.width
    texts = [ax.title for ax in fig.axes] + ([fig._suptitle] if fig._suptitle is not None else [])
    return [t.get_text() for t in texts if t.get_text()
            and (t.get_window_extent(renderer).x0 < -1 or t.get_window_extent(renderer).x1 > width + 1)]


def test_log_and_symlog_ticks_are_plain_numbers(broken, tmp_path):
    run, a = broken
    figs = [plots.metric_figure(run, a, "train/total_loss", log_scale=True),  # symlog: the total goes negative
            plots.metric_figure(run, a, "train/rec_loss", log_scale=True),
            plots.decomposition_figure(run, a)]
    c = compare_paths([write_run(tmp_path / "a", seed=1), write_run(tmp_path / "b", seed=2)], ["A", "B"])
    figs.append(plots.compare_figure(c, "train/total_loss", log_scale=True))
    labels = [t for f in figs for t in _tick_labels(f)]
    assert [t for t in labels if "$" in t or "mathdefault" in t] == []
    assert any(t.startswith("-") and t != "-" for t in labels)  # negative ticks are there, as numbers


def test_long_titles_wrap_inside_the_figure(broken):
    name = "train/" + "a_metric_name_from_the_log_" * 6
    run = make_run(frame(np.arange(0, 5000, 100), {name: np.linspace(2, 1, 50)}))
    a = analyze(run)
    fig = plots.metric_figure(run, a, name)
    assert _titles_fit(fig) == []
    assert "\n" in fig.axes[0].get_title()
    assert _titles_fit(plots.decomposition_figure(*broken)) == []


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


def test_lr_figure_draws_the_reconstructed_schedule_dashed(late):
    run, a = late
    fig = plots.metric_figure(run, a, "lr")
    (rec,) = [ln for ln in fig.axes[0].lines if ln.get_gid() == "lr_reconstructed"]
    assert rec.get_linestyle() == "--"
    assert "reconstructed" in rec.get_label()
    x, y = lr_curve(a.lr_schedule)
    assert np.allclose(rec.get_ydata(), y)


def test_key_figure_of_the_first_stage_is_rec_loss(late):
    run, a = late
    fig = plots.key_figure(run, a)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "rec_loss"
    assert "First stage (VAE)" in ax.get_title()
    assert [ln.get_gid() for ln in ax.lines].count("disc_start") == 1


def test_key_figure_of_the_second_stage_shows_the_set_aside_launch(restart):
    run, a = restart
    fig = plots.key_figure(run, a)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "loss_simple"
    (aside,) = [ln for ln in ax.lines if ln.get_gid() == "set_aside"]
    assert np.median(aside.get_ydata()) == pytest.approx(0.2, rel=0.1)  # the fine-tune, in grey
    assert [ln.get_gid() for ln in ax.lines].count("restart") == 1


def test_key_figure_with_the_latest_sample_beside_it(late):
    run, a = late
    sample = np.linspace(0, 1, 64 * 64).reshape(64, 64)
    fig = plots.key_figure(run, a, sample=sample, sample_title="latest sample: sample-29.png, milestone 29 (step 145,000)")
    assert len(fig.axes) == 2
    assert fig.axes[1].images[0].get_array().shape == (64, 64)
    assert _titles_fit(fig) == []
