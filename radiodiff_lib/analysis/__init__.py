"""Analysis of a training run, a pure function of the DataFrame the log reader builds: per-metric
statistics and statuses, phases, resumes and their continuity, the total-loss decomposition,
diagnostics with their evidence, and the sentences and JSON that report them.
"""
from ..errors import AnalysisError
from .analyze import Analysis, analyze
from .compare import (
    Comparison, MetricVerdict, RunEntry, compare_entries, compare_paths, comparison_json, default_labels, read_entries,
    x_coordinates,
)
from .compare_summary import comparison_text
from .diagnostics import Diagnostic, recommendations
from .stats import STATUS_RULES, MetricStats, Thresholds, Trend, normalize_minmax, robust_sigma, smooth_tensorboard
from .structure import Phase, Resume
from .text import summary_sentences, summary_text, to_json

__all__ = [
    "Analysis", "AnalysisError", "Comparison", "Diagnostic", "MetricStats", "MetricVerdict", "RunEntry",
    "compare_entries", "compare_paths", "comparison_json", "comparison_text", "default_labels", "read_entries",
    "x_coordinates", "Phase", "Resume", "STATUS_RULES", "Thresholds",
    "Trend", "analyze", "normalize_minmax", "recommendations", "robust_sigma", "smooth_tensorboard",
    "summary_sentences", "summary_text", "to_json",
]
