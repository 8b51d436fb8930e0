"""The comparison explorer for JupyterLab: runs picked from a folder, metric, smoothing, x axis, live mode.

Each picked run is followed by its own ``RunReader`` (live mode re-reads only what was appended),
analysed, and the runs are compared again (``analysis.compare_entries``) before the figure is drawn.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from .. import plots
from ..analysis import RunEntry, analyze, compare_entries
from ..logs import RunReader
from ..plots import compared_metrics
from .widgets import LiveRefresh

LOG_PATTERNS = ("*.log", "metrics.jsonl", "events.out.tfevents.*")


def candidate_runs(folder: str | Path) -> list[str]:
    """The runs of a folder: each subfolder holding a log (searched two levels down), or the folder itself."""
    root = Path(folder)
    if not root.is_dir():
        return []
    def has_logs(d: Path) -> bool:
        return any(next(d.glob(p), None) is not None for p in LOG_PATTERNS) or any(
            next(s.glob(p), None) is not None for s in d.iterdir() if s.is_dir() for p in LOG_PATTERNS)
    subs = sorted(str(d) for d in root.iterdir() if d.is_dir() and has_logs(d))
    return subs or ([str(root)] if has_logs(root) else [])


class CompareExplorer(LiveRefresh):
    """Run picker (multi-select), metric, smoothing, x axis and live mode over plots.compare_figure."""

    def __init__(self, comparison: Any, folder: str | None = None, smoothing: float = 0.6, x_axis: str = "step",
                 source: str = "all", window: int = 50, interval: float = 5.0):
        import ipywidgets as W

        self.comparison, self.source, self.window, self.interval = comparison, source, window, interval
        self.readers: dict[str, RunReader] = {}
        picked = [e.paths[0] for e in comparison.entries]
        self.labels = {e.paths[0]: e.label for e in comparison.entries}
        root = folder or str(Path(picked[0]).parent)
        options = list(dict.fromkeys(candidate_runs(root) + picked))
        self.runs = W.SelectMultiple(options=options, value=tuple(picked), description="runs", rows=min(8, len(options)),
                                     layout={"width": "520px"})
        names = compared_metrics(comparison)
        self.metric = W.Dropdown(options=names, value=names[0], description="metric")
        self.smoothing = W.FloatSlider(value=smoothing, min=0.0, max=0.99, step=0.01, description="smoothing",
                                       continuous_update=False, readout_format=".2f")
        self.x_axis = W.ToggleButtons(options=[("step", "step"), ("wall time", "time"), ("training hours", "hours")],
                                      value=x_axis, description="x axis")
        self.live = W.ToggleButton(value=False, description="live", icon="refresh",
                                   tooltip="re-read the runs' logs every few seconds (incremental reader)")
        self.status = W.HTML()
        self.out = W.Output()
        for w in (self.metric, self.smoothing, self.x_axis):
            w.observe(lambda _c: self.redraw(), names="value")
        self.runs.observe(lambda _c: self.refresh(), names="value")
        self.live.observe(self._toggle_live, names="value")
        self._thread: threading.Thread | None = None
        self.widget = W.VBox([self.runs, W.HBox([self.metric, self.x_axis]), W.HBox([self.smoothing, self.live,
                                                                                     self.status]), self.out])
        self.redraw()

    def _entry(self, path: str) -> RunEntry:
        if path not in self.readers:
            self.readers[path] = RunReader([path], source=self.source)
        run = self.readers[path].update()
        return RunEntry(self.labels.get(path, Path(path).name), [path], run, analyze(run, window=self.window))

    def refresh(self) -> None:
        """Read the picked runs (only what was appended since the last read), compare and redraw."""
        picked = list(self.runs.value)
        if len(picked) < 2:
            self.show_status("pick at least 2 runs")
            return
        entries, failed = [], []
        for p in picked:
            try:
                entries.append(self._entry(p))
            except Exception as exc:  # a run that cannot be read is named; the others are shown
                failed.append(f"{Path(p).name}: {exc}")
        if len(entries) >= 2:
            self.comparison = compare_entries(entries)
            names = compared_metrics(self.comparison)
            if list(self.metric.options) != names:
                keep = self.metric.value if self.metric.value in names else names[0]
                self.metric.options = names
                self.metric.value = keep
        self.show_status(f"{len(entries)} runs read at {time.strftime('%H:%M:%S')}" + (
            f"; not read: {'; '.join(failed)}" if failed else ""),
            [f"{e.label}: {n}" for e in entries for n in e.run.notes])
        self.redraw()

    def figure(self) -> Any:
        """The figure for the current control values."""
        return plots.compare_figure(self.comparison, self.metric.value, smoothing=self.smoothing.value,
                                    x_axis=self.x_axis.value)



def compare_explorer(comparison: Any, **kwargs: Any) -> Any:
    """The comparison explorer widget (see :class:`CompareExplorer`)."""
    return CompareExplorer(comparison, **kwargs).widget
