"""Sections of the report notebooks: each displays Markdown from report_text and figures from plots.

These are the only calls the notebooks make besides reading, analysing and training, so a notebook
cell is one line. Figures are displayed and then closed, so the inline backend never shows one twice.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from IPython.display import Markdown, display

from . import report_text as text
from .notebook_env import RECORD_MIME


def figure_png(fig: Any, dpi: int = 100) -> bytes:
    """PNG bytes of a figure, drawn once (no tight-bbox second pass); the figure is closed."""
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    # fast zlib level: on these large figures compression was a sixth of the time
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white", pil_kwargs={"compress_level": 1})
    plt.close(fig)
    return buf.getvalue()


def show_figure(fig: Any, dpi: int = 100) -> None:
    """Display a matplotlib figure once, as a PNG, and release it."""
    from IPython.display import Image

    display(Image(data=figure_png(fig, dpi), format="png"))


def record(**values: Any) -> None:
    """Numbers for tests, in the executed notebook only (the HTML and Markdown exports drop them)."""
    from .analysis_text import jsonable

    display({RECORD_MIME: jsonable(values)}, raw=True)


def resume_points(run: Any, analysis: Any, interactive: bool = False) -> None:
    """Each resume point's verdicts and zoom figure (a picker in JupyterLab)."""
    from . import plots

    if not analysis.resumes:
        display(text.no_resumes())
        return
    if interactive:
        from .widgets import resume_picker

        display(resume_picker(run, analysis))
        return
    for i in range(len(analysis.resumes)):
        display(text.resume_text(analysis, i))
        show_figure(plots.resume_zoom_figure(run, analysis, i))


def losses(run: Any, analysis: Any, smoothing: float = 0.6, interactive: bool = False,
           log_paths: Any = None, section: int = 5) -> None:
    """Each metric: figure (raw + TensorBoard smoothing), observations and meaning; an explorer in JupyterLab."""
    from . import plots

    if interactive:
        from .widgets import explorer

        display(explorer(run, analysis, smoothing=smoothing, log_paths=log_paths))
    else:
        explore_note(interactive)
    for i, name in enumerate(analysis.metrics, 1):
        display(Markdown(f"### {section}.{i} `{name}`"))
        if not interactive:
            show_figure(plots.metric_figure(run, analysis, name, smoothing=smoothing))
        display(text.metric_text(analysis, name))


def overview(run: Any, analysis: Any) -> None:
    """The overview grid, the [0, 1]-normalised comparison and the multi-axis figure."""
    from . import plots

    display(Markdown("Every logged metric, raw (thin) and smoothed (thick), with the GAN phase shaded and "
                     "resume points marked:"))
    show_figure(plots.overview_grid(run, analysis))
    display(Markdown("The same curves scaled to [0, 1] to compare their shapes:"))
    show_figure(plots.normalized_figure(run, analysis))
    display(Markdown("The main losses on independent y axes:"))
    show_figure(plots.multi_axis_figure(run, analysis))


def decomposition(run: Any, analysis: Any) -> None:
    """The total loss taken apart into its terms, figure and latest values."""
    from . import plots

    show_figure(plots.decomposition_figure(run, analysis))
    display(text.decomposition_text(analysis))


def phase_status(run: Any, analysis: Any) -> None:
    """Discriminator start, first activation, GAN-phase progress, and the discriminator panel."""
    from . import plots

    display(text.phase_status(analysis))
    show_figure(plots.discriminator_figure(run, analysis))


def reconstruction(checkpoint: str | Path | None, data: str = "synthetic", split: str = "test", n: int | None = 16,
                   use_ema: bool = False, config: str | None = None, seed: int = 0) -> Any:
    """Evaluate ``checkpoint`` on held-out maps and show the numbers and example figures (None: a note)."""
    if not checkpoint:
        display(text.no_checkpoint())
        return None
    from . import recon_plots
    from .evaluate import evaluate_checkpoint

    result = evaluate_checkpoint(checkpoint, data=data, split=split, n=n, use_ema=use_ema, config=config, seed=seed)
    display(text.reconstruction_text(result))
    display(Markdown("Best, median and worst maps by NMSE (input, reconstruction, absolute error; buildings "
                     "outlined):"))
    show_figure(recon_plots.examples_figure(result))
    display(Markdown("Distribution of the per-map metrics:"))
    show_figure(recon_plots.histograms_figure(result))
    return result


def explore_note(interactive: bool) -> None:
    """In a static report: say what the JupyterLab version of this notebook offers."""
    if not interactive:
        display(Markdown("*In JupyterLab (`make lab`, `notebooks/analyze.ipynb`) these figures come with controls: "
                         "metric, smoothing, step range, log scale, step or wall-time axis, a resume-point picker, "
                         "and a live mode that follows a log while it is written.*"))


def _analyse_session_run(session: Any, not_yet: str) -> tuple[Any, Any] | None:
    """Read and analyse the run a train/resume form produced; say `not_yet` when it has not run."""
    from .analysis import analyze
    from .logs import read_run

    if session.result is None:
        display(Markdown(not_yet))
        return None
    run = read_run(session.result.results_folder)
    return run, analyze(run, window=max(3, min(50, len(run.df))))


def training_curves(session: Any) -> Any:
    """After a training launch: its summary and the overview of its logged losses."""
    from . import plots

    got = _analyse_session_run(session, "Training has not run yet: press **Train** above, then run this cell again.")
    if got is None:
        return None
    run, analysis = got
    display(text.summary(analysis))
    show_figure(plots.overview_grid(run, analysis))
    return analysis


def resume_continuity(session: Any) -> Any:
    """After a resume: the verdicts at the newest resume point and its zoom figure."""
    from . import plots

    got = _analyse_session_run(session, "Not resumed yet: pick a checkpoint and press **Resume** above, then run "
                                        "this cell again.")
    if got is None:
        return None
    run, analysis = got
    if not analysis.resumes:
        display(text.no_resumes())
        return analysis
    last = len(analysis.resumes) - 1
    display(text.resume_text(analysis, last))
    show_figure(plots.resume_zoom_figure(run, analysis, last))
    return analysis


def record_analysis(run: Any, analysis: Any, evaluation: Any = None) -> None:
    """Record the analysis JSON, the row count and the evaluation (for tests)."""
    from .analysis import to_json

    record(analysis=to_json(analysis), rows=int(len(run.df)),
           evaluation=evaluation.to_json() if evaluation is not None else None)


def record_training(session: Any, analysis: Any = None) -> None:
    """Record where a train/resume launch ended and what its log holds (for tests)."""
    from .analysis import to_json

    res = session.result
    record(step=res.step if res is not None else None, interrupted=res.interrupted if res is not None else None,
           last_checkpoint=str(res.last_checkpoint) if res is not None and res.last_checkpoint else None,
           results_folder=str(session.results_folder), errors=session.errors,
           analysis=to_json(analysis) if analysis is not None else None)
