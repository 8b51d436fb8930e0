"""The curves: each figure has the expected axes and lines; the LR drawn as reconstructed; the key figure of
each stage with what is set aside."""
from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from radiodiff_lib import plots
from radiodiff_lib.analysis import AnalysisError, analyze, lr_curve, normalize_minmax, rolling_level, smooth_tensorboard
from radiodiff_lib.plots.curves import NORMALIZED_DEFAULT
from radiodiff_lib.plots.style import color_of
from tests.helpers.figures import ax_gid_lines, clipped_titles, gid_lines
from tests.helpers.runs import frame, make_run


def test_metric_figure_raw_smoothed_phase_and_resume(broken, resumed):
    run, a = broken
    fig = plots.metric_figure(run, a, "train/total_loss", smoothing=0.8)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 1
    (raw,), (sm,) = gid_lines(fig, "raw"), gid_lines(fig, "smoothed")
    assert np.allclose(sm.get_ydata(), smooth_tensorboard(raw.get_ydata(), 0.8))
    assert len(gid_lines(fig, "disc_start")) == 1
    assert not gid_lines(fig, "resume")
    assert raw.get_color() == sm.get_color()
    run2, a2 = resumed
    fig = plots.metric_figure(run2, a2, "train/rec_loss")
    assert len(gid_lines(fig, "resume")) == 1
    assert gid_lines(fig, "resume")[0].get_xdata()[0] == 3500


def test_metric_figure_options(broken, resumed):
    run, a = broken
    fig = plots.metric_figure(run, a, "train/total_loss", log_scale=True)
    assert fig.axes[0].get_yscale() == "symlog"  # the total goes negative
    assert plots.metric_figure(run, a, "train/rec_loss", log_scale=True).axes[0].get_yscale() == "log"
    fig = plots.metric_figure(run, a, "train/rec_loss", step_range=(1000, 2000))
    x = gid_lines(fig, "raw")[0].get_xdata()
    assert x.min() == 1000
    assert x.max() == 2000
    run2, a2 = resumed
    fig = plots.metric_figure(run2, a2, "train/rec_loss", x_axis="time")
    assert len(gid_lines(fig, "raw")) == 2  # one per launch: no line across the gap
    with pytest.raises(AnalysisError, match="x_axis"):
        plots.metric_figure(run, a, "train/rec_loss", x_axis="epoch")
    with pytest.raises(AnalysisError, match="logged metrics"):
        plots.metric_figure(run, a, "train/disc_loss")


def test_overview_has_one_panel_per_metric_that_changes(broken, healthy):
    for run, a in (broken, healthy):
        fig = plots.overview_grid(run, a)
        moving = [c for c in run.df.columns if (c.startswith("train/") or c == "lr") and run.df[c].notna().any()
                  and run.df[c].nunique() > 1]
        assert len(fig.axes) == len(moving) == len(plots.moving_metrics(a))
        assert all(len(ax_gid_lines(ax, "smoothed")) == 1 for ax in fig.axes)
    run, a = broken
    titles = " ".join(ax.get_title() for ax in plots.overview_grid(run, a).axes)
    assert "logvar" not in titles
    assert "d_weight" not in titles  # constant: a row of the table, not a panel
    small = make_run(frame(np.arange(0, 1000, 100), {"train/rec_loss": np.linspace(1, 0, 10),
                                                      "train/kl_loss": np.linspace(1, 2, 10),
                                                      "train/nll_loss": np.linspace(2, 1, 10),
                                                      "train/total_loss": np.linspace(3, 1, 10)}))
    assert len(plots.overview_grid(small, analyze(small), ncols=3).axes) == 4  # 2 x 3 grid, 2 empty removed


def test_normalized_figure_draws_the_levels_of_the_trending_metrics(broken):
    run, a = broken
    fig = plots.normalized_figure(run, a)
    lines = gid_lines(fig, "metric")
    trending = plots.trending_metrics(a)
    assert sorted(ln.get_label() for ln in lines) == sorted(m.split("/")[-1] for m in NORMALIZED_DEFAULT if m in trending)
    assert "logvar" not in [ln.get_label() for ln in lines]  # constant, never a [0, 1] curve
    for ln in lines:
        y = np.asarray(ln.get_ydata(), float)
        assert np.nanmin(y) == pytest.approx(0.0)
        assert np.nanmax(y) == pytest.approx(1.0)
        assert ln.get_color() == color_of("train/" + ln.get_label())
    rec = run.df["train/rec_loss"].to_numpy(float)
    want = normalize_minmax(rolling_level(rec, max(3, rec.size // 25)))
    (line,) = [ln for ln in lines if ln.get_label() == "rec_loss"]
    assert np.allclose(line.get_ydata(), want[plots.style.thin(want.size)])


def test_normalized_levels_are_not_the_noise():
    # a noisy falling loss: the level curve falls monotonically where the raw points jump about
    rng = np.random.default_rng(0)
    steps = np.arange(0, 50000, 50)
    v = np.exp(-steps / 20000) * (1 + 0.3 * rng.normal(size=steps.size))
    run = make_run(frame(steps, {"train/rec_loss": v, "train/kl_loss": 1000 + steps / 10}))
    fig = plots.normalized_figure(run, analyze(run), metrics=["train/rec_loss"])
    (line,) = [ln for ln in gid_lines(fig, "metric") if ln.get_label() == "rec_loss"]
    y = np.asarray(line.get_ydata(), float)
    assert np.mean(np.diff(y) <= 0.02) > 0.95  # raw normalised values would rise in about half the steps


def test_multi_axis_independent_axes(healthy):
    run, a = healthy
    fig = plots.multi_axis_figure(run, a)
    assert len(fig.axes) == 4
    assert len(gid_lines(fig, "metric")) == 4
    assert len({ax.get_ylim() for ax in fig.axes}) == 4
    assert len(plots.multi_axis_figure(run, a, metrics=["train/rec_loss", "train/kl_loss"]).axes) == 2
    with pytest.raises(AnalysisError, match="at most 4"):
        plots.multi_axis_figure(run, a, metrics=list(a.metrics)[:5])


def test_long_runs_are_thinned_but_keep_spikes():
    steps = np.arange(20000)
    y = np.sin(steps / 500.0)
    y[12345] = 50.0
    run = make_run(frame(steps, {"train/rec_loss": y}))
    fig = plots.metric_figure(run, analyze(run), "train/rec_loss")
    (raw,), (sm,) = gid_lines(fig, "raw"), gid_lines(fig, "smoothed")
    assert len(raw.get_xdata()) <= 4002
    assert len(sm.get_xdata()) <= 4000
    assert 12345 in raw.get_xdata()
    assert np.max(raw.get_ydata()) == 50.0


def test_lr_figure_draws_the_reconstructed_schedule_dashed(late):
    run, a, _ = late
    fig = plots.metric_figure(run, a, "lr")
    (rec,) = [ln for ln in fig.axes[0].lines if ln.get_gid() == "lr_reconstructed"]
    assert rec.get_linestyle() == "--"
    assert "reconstructed" in rec.get_label()
    x, y = lr_curve(a.lr_schedule)
    assert np.allclose(rec.get_ydata(), y)


def test_key_figure_of_the_first_stage_is_rec_loss(late):
    run, a, _ = late
    fig = plots.key_figure(run, a)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "rec_loss"
    assert "First-stage (VAE) run" in ax.get_title()  # the stage in the report's words (vocabulary.STAGE_TITLES)
    assert [ln.get_gid() for ln in ax.lines].count("disc_start") == 1


def test_key_figure_of_the_second_stage_shows_the_set_aside_launch(restart):
    run, a, _ = restart
    fig = plots.key_figure(run, a)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "loss_simple"
    (aside,) = [ln for ln in ax.lines if ln.get_gid() == "set_aside"]
    assert np.median(aside.get_ydata()) == pytest.approx(0.2, rel=0.1)  # the fine-tune, in grey
    assert [ln.get_gid() for ln in ax.lines].count("restart") == 1


def test_key_figure_with_the_latest_sample_beside_it(late):
    run, a, _ = late
    sample = np.linspace(0, 1, 64 * 64).reshape(64, 64)
    fig = plots.key_figure(run, a, sample=sample, sample_title="latest sample: sample-29.png, milestone 29 (step 145,000)")
    assert len(fig.axes) == 2
    assert fig.axes[1].images[0].get_array().shape == (64, 64)
    assert clipped_titles(fig) == []
