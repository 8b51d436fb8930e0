"""Figures of a comparison: each run drawn over the rows its analysis covers."""
from __future__ import annotations

from radiodiff_lib import plots
from radiodiff_lib.analysis import compare_paths
from tests.helpers.runpairs import restarted_pair


def test_a_restart_in_the_folder_draws_only_the_latest_experiment(tmp_path):
    c = compare_paths(list(restarted_pair(tmp_path)), ["A", "B"])
    fig = plots.compare_figure(c, "train/rec_loss", log_scale=True)
    lines = {ln.get_gid(): ln for ln in fig.axes[0].get_lines()}
    assert min(lines["raw:A"].get_xdata()) == 3000  # not the set-aside experiment's 0..2900
    assert min(lines["raw:B"].get_xdata()) == 0
    assert max(lines["raw:A"].get_ydata()) < 2 * max(lines["raw:B"].get_ydata())  # not its 3x values either
