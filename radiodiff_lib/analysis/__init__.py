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
from .diagnostics import SEVERITY_ORDER, Diagnostic, advice, by_severity, headline, recommendations, severity_word
from .lr import curve as lr_curve
from .provenance import checkpoint_milestone, milestone_step, sample_milestone
from .stats import (
    STATUS_RULES, MetricStats, Phase, Trend, constant_throughout, is_constant, normalize_minmax, robust_sigma,
    rolling_level, smooth_tensorboard,
)
from .structure import Resume, experiment_rows
from .text import boundary_sentence, lr_sentence, provenance_sentence, summary_sentences, summary_text, to_json
from .thresholds import Thresholds

__all__ = [
    "advice", "Analysis", "AnalysisError", "analyze", "BOUNDARY_KINDS", "boundary_sentence", "by_severity",
    "checkpoint_milestone", "compare_entries", "compare_paths", "Comparison", "comparison_json", "comparison_text",
    "constant_throughout", "default_labels", "Diagnostic", "died_early", "experiment_rows", "headline", "is_constant",
    "lr_curve", "lr_sentence", "MetricStats", "MetricVerdict", "milestone_step", "normalize_minmax", "Phase",
    "provenance_sentence", "read_entries", "recommendations", "Resume", "robust_sigma", "rolling_level", "RunEntry",
    "sample_milestone", "save_interval", "set_aside_rows", "SEVERITY_ORDER", "severity_word", "smooth_tensorboard",
    "STATUS_RULES", "summary_sentences", "summary_text", "Thresholds", "to_json", "Trend", "x_coordinates",
]
