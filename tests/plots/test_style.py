"""Figures a researcher can read (issue 18): tick labels are plain numbers (log and symlog too), long titles
wrap inside the figure."""
from __future__ import annotations

import numpy as np

from radiodiff_lib import plots
from radiodiff_lib.analysis import analyze, compare_paths
from tests.helpers.figures import clipped_titles, tick_labels
from tests.helpers.runpairs import write_run
from tests.helpers.runs import frame, make_run


def test_log_and_symlog_ticks_are_plain_numbers(broken, tmp_path):
    run, a = broken
    figs = [plots.metric_figure(run, a, "train/total_loss", log_scale=True),  # symlog: the total goes negative
            plots.metric_figure(run, a, "train/rec_loss", log_scale=True),
            plots.decomposition_figure(run, a)]
    c = compare_paths([write_run(tmp_path / "a", seed=1), write_run(tmp_path / "b", seed=2)], ["A", "B"])
    figs.append(plots.compare_figure(c, "train/total_loss", log_scale=True))
    labels = [t for f in figs for t in tick_labels(f)]
    assert [t for t in labels if "$" in t or "mathdefault" in t] == []
    assert any(t.startswith("-") and t != "-" for t in labels)  # negative ticks are there, as numbers


def test_long_titles_wrap_inside_the_figure(broken):
    name = "train/" + "a_metric_name_from_the_log_" * 6
    run = make_run(frame(np.arange(0, 5000, 100), {name: np.linspace(2, 1, 50)}))
    a = analyze(run)
    fig = plots.metric_figure(run, a, name)
    assert clipped_titles(fig) == []
    assert "\n" in fig.axes[0].get_title()
    assert clipped_titles(plots.decomposition_figure(*broken)) == []
