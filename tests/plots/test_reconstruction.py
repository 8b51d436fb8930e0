"""The evaluation figures: examples with building outlines and inf PSNR, histograms, written to files."""
from __future__ import annotations

import math

from radiodiff_lib.plots.reconstruction import (
    examples_figure, gallery_figure, histograms_figure, write_evaluation_figures,
)
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


def test_gallery_draws_a_second_model_beside_on_the_same_error_scale():
    examples = fake_eval_result().examples
    fig = gallery_figure(examples, "two checkpoints", "model-1.pt (ema)", examples[::-1], "model-4.pt (ema)")
    panels = [a for a in fig.get_axes() if a.images]
    assert len(panels) == 15  # 3 items x (input, and a reconstruction and error of each model)
    assert all(a.collections for a in panels)
    assert sum("model-4.pt (ema)" in a.get_title() for a in panels) == 3
    errors = [a.images[0] for a in panels if a.get_title().startswith("|error|")]
    assert len({im.get_clim() for im in errors}) == 1  # one scale for both models
