"""The evaluation figures: examples with building outlines and inf PSNR, histograms, written to files."""
from __future__ import annotations

import math

from radiodiff_lib.plots.reconstruction import examples_figure, histograms_figure, write_evaluation_figures
from tests.helpers.evaluation import fake_eval_result


def test_figures_render_with_inf_psnr_and_building_outlines(tmp_path):
    result = fake_eval_result()
    fig = examples_figure(result)
    axes = fig.get_axes()
    assert len([a for a in axes if a.images]) == 9  # 3 maps x (input, reconstruction, error)
    assert all(a.collections for a in axes if a.images)  # a contour (building outline) on each panel
    hist = histograms_figure(result)
    assert any("inf" in t.get_text() for a in hist.get_axes() for t in a.texts)  # inf counted, not dropped
    paths = write_evaluation_figures(result, tmp_path / "figs")
    assert set(paths) == {"examples", "histograms"}
    for p in paths.values():
        assert open(p, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert math.isinf(result.metrics["psnr"]["p95"])
