"""Every figure of the workbench, each a matplotlib Figure built from a run and its analysis (or an
evaluation result, or a checkpoint sweep); the plots compute no statistics of their own."""
from .compare import compare_figure, compared_metrics, run_color
from .curves import (
    key_figure, metric_figure, moving_metrics, multi_axis_figure, normalized_figure, overview_grid,
    trending_metrics,
)
from .detail import decomposition_figure, discriminator_figure, resume_zoom_figure
from .reconstruction import examples_figure, gallery_figure, histograms_figure, write_evaluation_figures
from .style import existing_metrics
from .sweep import latent_histogram_figure, sweep_gallery_figure, sweep_metric_figure

__all__ = ["compare_figure", "compared_metrics", "decomposition_figure", "discriminator_figure", "examples_figure",
           "existing_metrics", "gallery_figure", "histograms_figure", "key_figure", "latent_histogram_figure",
           "metric_figure", "moving_metrics", "multi_axis_figure", "normalized_figure", "overview_grid",
           "resume_zoom_figure", "run_color", "sweep_gallery_figure", "sweep_metric_figure", "trending_metrics",
           "write_evaluation_figures"]
