"""Sections of the comparison notebook (``compare.ipynb``) and the comparison section of a run's report.

Headless (``radiodiff report``) they display Markdown and one plain figure per metric; in JupyterLab
the curves come with a run picker, metric, smoothing, x axis and live mode (``compare_widgets``).
"""
from __future__ import annotations

from typing import Any

from IPython.display import Markdown, display

from .. import plots
from ..analysis import RunEntry, compare_entries, compare_paths, comparison_json, default_labels, read_entries
from ..plots import compared_metrics
from . import compare_text, text
from .compare_widgets import compare_explorer
from .figures import record, show_figure


def load(runs: list, labels: list | None = None, source: str = "all", window: int = 50) -> Any:
    """Read, analyse and compare the runs (a run that cannot be read is named, the others compared)."""
    return compare_paths(list(runs), labels, source=source, window=window)


def curves(comparison: Any, smoothing: float = 0.6, x_axis: str = "step", interactive: bool = False,
           folder: str | None = None, source: str = "all", window: int = 50, section: int = 3) -> None:
    """Every metric of every run overlaid: one figure per metric (an explorer in JupyterLab)."""
    if interactive:
        display(compare_explorer(comparison, folder=folder, smoothing=smoothing, x_axis=x_axis, source=source,
                                 window=window))
        return
    display(Markdown("*In JupyterLab (`notebooks/compare.ipynb`) these curves come with controls: runs picked from "
                     "a folder, metric, smoothing, x axis and a live mode that re-reads running logs.*"))
    for i, name in enumerate(compared_metrics(comparison), 1):
        display(Markdown(f"### {section}.{i} {compare_text.cell(name)}"))
        show_figure(plots.compare_figure(comparison, name, smoothing=smoothing, x_axis=x_axis))


def neighbours(run: Any, analysis: Any, log_paths: Any, compare_with: list, smoothing: float = 0.6,
               label: str = "this run", window: int = 50, source: str = "all") -> Any:
    """A run's report: its comparison with other runs (verdicts, diagnostics, config diff, main curves)."""
    if not compare_with:
        display(Markdown("No other run given: render with `-p compare_with PATH [PATH ...]` to compare this run "
                         "with its neighbours."))
        return None
    others, errors = read_entries(list(compare_with), default_labels(list(compare_with)), window=window, source=source)
    mine = RunEntry(label, [str(p) for p in (log_paths if isinstance(log_paths, list) else [log_paths])], run, analysis)
    c = compare_entries([mine] + others, errors)
    display(compare_text.runs_table(c), compare_text.verdicts(c), compare_text.diagnostics(c),
            compare_text.config_diff(c))  # verdicts opens with whether the runs are like for like
    for name in c.metrics:
        show_figure(plots.compare_figure(c, name, smoothing=smoothing))
    return c


def statistics(comparison: Any) -> None:
    """Key statistics of every compared metric, the runs side by side."""
    display(compare_text.statistics(comparison, compared_metrics(comparison)))


def appendix(comparison: Any, params: dict | None = None) -> None:
    """What each run was read from (files, kinds, rows used) and the notebook parameters."""
    for e in comparison.entries:
        display(Markdown(f"### {compare_text.cell(e.label)}"), text.sources(e.run, e.analysis))
    if params:
        display(Markdown("**Notebook parameters:** " + ", ".join(f"{k}={compare_text.cell(repr(v))}"
                                                                 for k, v in params.items())))


def record_comparison(comparison: Any) -> None:
    """Record the comparison JSON (for tests)."""
    record(comparison=comparison_json(comparison) if comparison is not None else None)
