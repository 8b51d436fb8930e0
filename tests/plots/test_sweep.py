"""The sweep's figures draw the numbers the sweep measured."""
from __future__ import annotations

import numpy as np

from radiodiff_lib.plots.sweep import latent_histogram_figure


def test_latent_histograms_are_titled_with_the_measured_statistics_not_the_subsample():
    samples = np.random.default_rng(0).normal(5.0, 2.0, size=(2, 400))  # a subset: its own mean is near 5
    fig = latent_histogram_figure(samples, "latents", mean=[0.125, -1.5], std=[0.75, 3.0], marked=[1])
    titles = [ax.get_title() for ax in fig.get_axes()]
    assert titles == ["channel 0: mean 0.125, std 0.75", "channel 1: mean -1.5, std 3 (std near 0)"]
