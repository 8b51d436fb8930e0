"""Analysis of a training run, a pure function of the DataFrame the log reader builds: per-metric
statistics and statuses, phases, launch boundaries (resumes and their continuity, restarts,
relaunches), where the run began, the LR schedule, the total-loss decomposition, diagnostics with
their evidence, and the sentences and JSON that report them.
"""
from ..errors import AnalysisError
from .analyze import Analysis, analyze
from .boundaries import KINDS as BOUNDARY_KINDS
from .boundaries import set_aside_rows
from .compare import (
    Comparison, MetricVerdict, RunEntry, compare_entries, compare_paths, comparison_json, comparison_text,
    default_labels, died_early, read_entries, x_coordinates,
)
from .configs import save_interval
from .diagnostics import Diagnostic, by_severity, headline, recommendations
from .lr import curve as lr_curve
from .provenance import checkpoint_milestone, milestone_step, sample_milestone
from .stats import (
    STATUS_RULES, MetricStats, Phase, Trend, is_constant, normalize_minmax, robust_sigma, rolling_level,
    smooth_tensorboard,
)
from .structure import Resume, experiment_rows
from .text import boundary_sentence, lr_sentence, provenance_sentence, summary_sentences, summary_text, to_json
from .thresholds import Thresholds

__all__ = [
    "Analysis", "AnalysisError", "BOUNDARY_KINDS", "Comparison", "by_severity", "headline", "lr_curve",
    "checkpoint_milestone", "is_constant", "milestone_step", "rolling_level", "sample_milestone", "save_interval", "set_aside_rows", "Diagnostic", "MetricStats", "MetricVerdict", "RunEntry",
    "compare_entries", "compare_paths", "died_early", "comparison_json", "comparison_text", "default_labels", "read_entries",
    "experiment_rows", "x_coordinates", "Phase", "Resume", "STATUS_RULES", "Thresholds",
    "Trend", "analyze", "normalize_minmax", "recommendations", "robust_sigma", "smooth_tensorboard",
    "summary_sentences", "summary_text", "to_json", "boundary_sentence", "lr_sentence", "provenance_sentence",
]
