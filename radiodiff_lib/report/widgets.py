"""ipywidgets front ends for JupyterLab: explorer, resume picker, live loss plot, train and resume forms.

They only call plots / analysis / logs / trainer functions. In a headless run (``radiodiff
report`` sets ``RADIODIFF_HEADLESS=1``) the notebooks draw plain figures instead, because widget
output does not survive an offline HTML export; :func:`resolve_interactive` makes that choice.
"""
from __future__ import annotations

import base64
import html
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from IPython.display import Markdown, display

from .. import plots
from ..analysis import analyze
from ..config import replace
from ..logs import RunReader
from ..training import resume, train
from ..vocabulary import DISC_LOSS, REC_LOSS, TOTAL_LOSS
from . import markdown as md
from . import text
from .env import HEADLESS_ENV
from .figures import figure_png
from .param_types import parse_bool
from .params import notebooks_dir


def resolve_interactive(flag: bool | str | None) -> bool:
    """The notebooks' ``interactive`` parameter: None means widgets unless run headless by radiodiff report;
    a bool or one of its spellings ("false", "no", "0", ...) means that (``bool("false")`` would be True)."""
    if flag is not None:
        return parse_bool(flag, "interactive")
    if os.environ.get(HEADLESS_ENV):
        return False
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        return False
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"  # a Jupyter kernel


def repo_root_cwd() -> Path:
    """In JupyterLab the kernel starts in notebooks/: move to the repo root so relative paths match the CLI's."""
    here = Path.cwd().resolve()
    if here == notebooks_dir().resolve():
        os.chdir(here.parent)
    return Path.cwd()


def _bundle(obj: Any) -> dict:
    """A display_data output for an Output widget: a matplotlib figure (PNG), Markdown, or text."""
    if hasattr(obj, "savefig"):
        png = figure_png(obj)
        return {"output_type": "display_data", "metadata": {},
                "data": {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": "<figure>"}}
    if isinstance(obj, Markdown):
        return {"output_type": "display_data", "metadata": {}, "data": {"text/markdown": obj.data,
                                                                         "text/plain": obj.data}}
    return {"output_type": "stream", "name": "stdout", "text": f"{obj}\n"}


def show_in(out: Any, *objs: Any) -> None:
    """Replace an Output widget's content with figures, Markdown or text at once (one state update: no stale
    figure, thread-safe)."""
    out.outputs = tuple(_bundle(o) for o in objs)


# --- analysis ------------------------------------------------------------------------------

class LiveRefresh:
    """What the explorers share: ``redraw()`` shows ``figure()`` in ``out`` (or why it cannot), ``show_status``
    writes the status line, and live mode: while the ``live`` toggle is on, ``refresh()`` every ``interval``
    seconds in a background thread (a failed read is shown in ``status`` and the UI stays usable)."""

    live: Any
    status: Any
    out: Any
    interval: float = 5.0
    _thread: threading.Thread | None = None

    def figure(self) -> Any:  # pragma: no cover - each explorer has its own
        raise NotImplementedError

    def refresh(self) -> None:  # pragma: no cover - each explorer has its own
        raise NotImplementedError

    def redraw(self) -> None:
        """Draw the figure again from the controls."""
        try:
            fig = self.figure()
        except Exception as exc:  # a bad range, a log scale of a negative metric, a wall-time axis without
            show_in(self.out, f"cannot draw: {exc}")  # timestamps: say so, keep the UI
            return
        show_in(self.out, fig)

    def show_status(self, text: str, notes: Sequence[str] = ()) -> None:
        """Write the status line: ``text`` and the readers' notes (a log read again from its start, ...),
        escaped: they name files."""
        lines = [text] + [f"note: {n}" for n in notes]
        self.status.value = "<br>".join(html.escape(line) for line in lines)

    def _toggle_live(self, change: dict) -> None:
        if change["new"] and (self._thread is None or not self._thread.is_alive()):
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while self.live.value:
            try:
                self.refresh()
            except Exception as exc:  # keep the UI alive; show why the read failed
                self.show_status(f"live read failed: {exc}")
            time.sleep(self.interval)


class Explorer(LiveRefresh):
    """Metric, smoothing, step range, log scale, x axis and live mode over plots.metric_figure."""

    def __init__(self, run: Any, analysis: Any, smoothing: float = 0.6, log_paths: Any = None,
                 interval: float = 5.0):
        import ipywidgets as W

        self.run, self.analysis, self.log_paths, self.interval = run, analysis, log_paths, interval
        names = list(analysis.metrics)
        first, last = int(analysis.first_step or 0), int(analysis.latest_step or 1)
        default = REC_LOSS if REC_LOSS in names else names[0]
        self.metric = W.Dropdown(options=names, value=default, description="metric")
        self.smoothing = W.FloatSlider(value=smoothing, min=0.0, max=0.99, step=0.01, description="smoothing",
                                       continuous_update=False, readout_format=".2f")
        self.steps = W.IntRangeSlider(value=(first, last), min=first, max=max(last, first + 1), description="steps",
                                      continuous_update=False)
        self.log_scale = W.Checkbox(value=False, description="log scale")
        self.x_axis = W.ToggleButtons(options=[("step", "step"), ("wall time", "time")], value="step",
                                      description="x axis")
        self.live = W.ToggleButton(value=False, description="live", icon="refresh",
                                   tooltip="re-read the log every few seconds (incremental reader)",
                                   disabled=not log_paths)
        self.status = W.HTML()
        self.show_status(self._status_text(), run.notes)
        self.out = W.Output()
        for w in (self.metric, self.smoothing, self.steps, self.log_scale, self.x_axis):
            w.observe(lambda _change: self.redraw(), names="value")
        self.live.observe(self._toggle_live, names="value")
        self._reader: Any = None
        self._thread: threading.Thread | None = None
        self.widget = W.VBox([W.HBox([self.metric, self.x_axis]), W.HBox([self.smoothing, self.steps]),
                              W.HBox([self.log_scale, self.live, self.status]), self.out])
        self.redraw()

    def _status_text(self) -> str:
        a = self.analysis
        return f"{a.entries} entries, latest step {a.latest_step}"

    def figure(self) -> Any:
        """The figure for the current control values."""
        lo, hi = self.steps.value
        full = (lo, hi) == (self.steps.min, self.steps.max)
        return plots.metric_figure(self.run, self.analysis, self.metric.value, smoothing=self.smoothing.value,
                                   step_range=None if full else (lo, hi), log_scale=self.log_scale.value,
                                   x_axis=self.x_axis.value)

    def refresh(self) -> None:
        """Read what was appended to the log, analyse again and redraw (the live mode's step)."""
        if self._reader is None:
            self._reader = RunReader(self.log_paths)
        run = self._reader.update()
        th = vars(self.analysis.thresholds)
        total = self.analysis.total_steps if self.analysis.total_steps_source == "parameter" else None
        self.run, self.analysis = run, analyze(run, total_steps=total, **th)
        at_end = self.steps.value[1] == self.steps.max
        self.steps.max = max(int(self.analysis.latest_step or 0), self.steps.min + 1)
        if at_end:  # follow the newest step unless the user zoomed into an earlier range
            self.steps.value = (self.steps.value[0], self.steps.max)
        self.metric.options = list(self.analysis.metrics)
        self.show_status(self._status_text() + f" (read {time.strftime('%H:%M:%S')})", run.notes)
        self.redraw()



def explorer(run: Any, analysis: Any, smoothing: float = 0.6, log_paths: Any = None) -> Any:
    """The explorer widget (see :class:`Explorer`)."""
    return Explorer(run, analysis, smoothing=smoothing, log_paths=log_paths).widget


def resume_picker(run: Any, analysis: Any) -> Any:
    """A dropdown over the launch boundaries (resumes, restarts, relaunches) showing each one's verdicts or what
    it sets aside, and its zoom figure."""
    import ipywidgets as W

    options = [(f"{r.kind} at step {r.step}", i) for i, r in enumerate(analysis.resumes)]
    pick = W.Dropdown(options=options, description="boundary")
    out = W.Output()

    def show(_change: Any = None) -> None:
        show_in(out, text.resume_text(analysis, pick.value), plots.resume_zoom_figure(run, analysis, pick.value))

    pick.observe(show, names="value")
    show()
    return W.VBox([pick, out])


# --- training ------------------------------------------------------------------------------

class LiveLossPlot:
    """A trainer callback that redraws the main losses in an Output widget (at most twice a second)."""

    KEYS = (TOTAL_LOSS, REC_LOSS, DISC_LOSS)

    def __init__(self, min_seconds: float = 0.5):
        import ipywidgets as W

        self.out = W.Output()
        self.steps: dict[str, list[int]] = {k: [] for k in self.KEYS}
        self.values: dict[str, list[float]] = {k: [] for k in self.KEYS}
        self.min_seconds, self._last = min_seconds, 0.0

    def __call__(self, record: dict) -> None:
        for k in self.KEYS:
            if k in record:
                self.steps[k].append(int(record["step"]))
                self.values[k].append(float(record[k]))
        if time.time() - self._last >= self.min_seconds:
            self.draw()

    def draw(self) -> None:
        """Draw the collected values now."""
        from matplotlib.figure import Figure

        self._last = time.time()
        keys = [k for k in self.KEYS if self.steps[k]]
        if not keys:
            return
        fig = Figure(figsize=(4.2 * len(keys), 2.8), layout="constrained")
        for i, k in enumerate(keys):
            ax = fig.add_subplot(1, len(keys), i + 1)
            ax.plot(self.steps[k], self.values[k], lw=1.2)
            ax.set_title(k.split("/")[-1])
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
        show_in(self.out, fig)


@dataclass
class TrainingSession:
    """What a train or resume panel did: its settings and, once run, the TrainResult."""

    results_folder: Path
    max_steps: int | None
    config: Any = None
    checkpoint: Any = "latest"
    result: Any = None
    widget: Any = None
    errors: list[str] = field(default_factory=list)


def _run_with_feedback(session: TrainingSession, out: Any, start: Any) -> None:
    """Run ``start(callbacks)`` inside ``out`` with a live loss plot; keep the result on the session."""
    plot = LiveLossPlot()
    with out:
        out.clear_output()
        display(plot.out)
        try:
            session.result = start([plot])
            plot.draw()
            display(Markdown(md.fenced(session.result.summary())))
        except Exception as exc:  # show the library's message in the panel; the notebook stays usable
            session.errors.append(str(exc))
            display(Markdown(f"**Failed:** {md.text(exc)}"))


def train_panel(config: Any, max_steps: int | None = None, results_folder: str | Path | None = None,
                interactive: bool = False) -> TrainingSession:
    """Headless: train now. JupyterLab: a form of the main settings and a Train button."""
    folder = Path(results_folder or config.trainer.results_folder)
    session = TrainingSession(results_folder=folder, max_steps=max_steps, config=config)
    if not interactive:
        session.result = train(config, max_steps=max_steps, results_folder=folder, progress=False)
        display(Markdown(md.fenced(session.result.summary())))
        return session
    import ipywidgets as W

    tr, lc = config.trainer, config.model.lossconfig
    style = {"description_width": "110px"}
    f_steps = W.IntText(value=max_steps or tr.train_num_steps, description="train to step", style=style)
    f_total = W.IntText(value=tr.train_num_steps, description="train_num_steps", style=style)
    f_lr = W.FloatText(value=tr.lr, description="learning rate", style=style)
    f_batch = W.IntText(value=config.data.batch_size, description="batch size", style=style)
    f_disc = W.IntText(value=lc.disc_start, description="disc_start", style=style)
    f_folder = W.Text(value=str(folder), description="results folder", style=style)
    button = W.Button(description="Train", button_style="primary", icon="play")
    out = W.Output()

    def on_click(_b: Any) -> None:
        button.disabled = True
        cfg = replace(config, **{"trainer.lr": f_lr.value, "trainer.train_num_steps": f_total.value,
                                 "data.batch_size": f_batch.value, "model.lossconfig.disc_start": f_disc.value})
        session.config, session.max_steps = cfg, f_steps.value
        session.results_folder = Path(f_folder.value)
        _run_with_feedback(session, out, lambda cbs: train(cfg, max_steps=f_steps.value,
                                                            results_folder=session.results_folder, callbacks=cbs))
        button.disabled = False

    button.on_click(on_click)
    session.widget = W.VBox([W.HBox([W.VBox([f_folder, f_steps, f_total]), W.VBox([f_lr, f_batch, f_disc])]),
                             button, out])
    display(session.widget)
    return session


def resume_panel(results_folder: str | Path, checkpoint: Any = "latest", max_steps: int | None = None,
                 interactive: bool = False, table: Any = None) -> TrainingSession:
    """Headless: resume now. JupyterLab: a checkpoint picker (from the inspect table) and a Resume button."""
    folder = Path(results_folder)
    session = TrainingSession(results_folder=folder, max_steps=max_steps, checkpoint=checkpoint)
    if not interactive:
        session.result = resume(folder, checkpoint=checkpoint, max_steps=max_steps, progress=False)
        display(Markdown(md.fenced(session.result.summary())))
        return session
    import ipywidgets as W

    options = [("latest good checkpoint", "latest")]
    if table is not None and len(table):
        options += [(f"{Path(str(r.path)).name}: step {r.step}, {r.integrity}, resume {r.resume}", str(r.path))
                    for r in table.itertuples(index=False) if r.resume != "none"]
    pick = W.Dropdown(options=options, value="latest", description="checkpoint", layout={"width": "520px"})
    f_steps = W.IntText(value=max_steps or 0, description="to step (0 = end)")
    button = W.Button(description="Resume", button_style="primary", icon="play")
    out = W.Output()

    def on_click(_b: Any) -> None:
        button.disabled = True
        session.checkpoint, session.max_steps = pick.value, (f_steps.value or None)
        _run_with_feedback(session, out, lambda cbs: resume(folder, checkpoint=pick.value,
                                                             max_steps=session.max_steps, callbacks=cbs))
        button.disabled = False

    button.on_click(on_click)
    session.widget = W.VBox([W.HBox([pick, f_steps, button]), out])
    display(session.widget)
    return session
