"""Sections of the report notebooks: each displays Markdown from ``text`` and figures from ``plots``.

These are the only calls the notebooks make besides reading, analysing and training, so a notebook
cell is one line. Figures are displayed and then closed, so the inline backend never shows one twice.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from IPython.display import Markdown, display

from .. import plots
from ..analysis import analyze, milestone_step, sample_milestone, save_interval, to_json
from ..data.png import DECODE_ERRORS, open_png
from ..errors import DataError
from ..evaluation import evaluate_checkpoint
from ..logs import read_run
from ..vocabulary import STAGE_LDM, STAGE_TITLES
from . import markdown as md
from . import text
from .figures import record, show_figure
from .widgets import explorer, resume_picker


def latest_sample(run: Any) -> tuple[Path, int] | None:
    """The newest ``sample-<milestone>.png`` RadioDiff wrote beside the run's logs, and its milestone."""
    found = []
    for folder in {Path(p).parent for p in run.sources}:
        for path in folder.glob("sample-*.png"):
            m = sample_milestone(path)
            if m is not None and path.is_file():
                found.append((m, str(path), path))
    if not found:
        return None
    m, _, path = max(found)
    return path, m


def sample_image(run: Any) -> tuple[Any, str | None]:
    """(the latest sample as an array, its title naming milestone and step) or (None, None)."""
    got = latest_sample(run)
    if got is None:
        return None, None
    path, m = got
    try:
        with open_png(path) as im:  # a folder, a FIFO or a decompression bomb is a DataError, not a hang or a crash
            image = np.asarray(im.convert("L" if im.mode in ("1", "L", "I", "I;16", "F") else "RGB"))
    except (DataError, *DECODE_ERRORS):  # DECODE_ERRORS: a truncated PNG fails only when its pixels are decoded
        return None, None  # an unreadable or oversized sample is left out, the figure stays
    step = milestone_step(m, save_interval(run.config))
    at = f" (step {step:,})" if step is not None else ""
    return image, f"latest sample: {path.name}, milestone {m}{at}"


def first_screen(run: Any, analysis: Any, smoothing: float = 0.6) -> None:
    """What decides: the title with stage and run, where it began, the verdict box, the figure that matters
    most for the stage (with the latest sample-*.png beside it when the folder has one), what to do."""
    display(text.title(run, analysis), text.verdict_box(analysis))
    if analysis.key_metric is not None:
        sample, caption = sample_image(run)
        show_figure(plots.key_figure(run, analysis, smoothing=smoothing, sample=sample, sample_title=caption),
                    alt=f"key figure: {analysis.key_metric} of this {STAGE_TITLES[analysis.stage].lower()}"
                        + (" and its latest sample" if sample is not None else ""))
    display(Markdown("**What to do, most severe first**"), text.recommendations(analysis))


def resume_points(run: Any, analysis: Any, interactive: bool = False) -> None:
    """Each launch boundary (resume, restart, crash-and-relaunch): its verdicts or what it sets aside, and
    its zoom figure (a picker in JupyterLab)."""
    if not analysis.resumes:
        display(text.no_resumes())
        return
    if interactive:
        display(resume_picker(run, analysis))
        return
    for i in range(len(analysis.resumes)):
        display(text.resume_text(analysis, i))
        show_figure(plots.resume_zoom_figure(run, analysis, i))


def losses(run: Any, analysis: Any, smoothing: float = 0.6, interactive: bool = False,
           log_paths: Any = None, section: int = 5) -> None:
    """Each metric: figure (raw + TensorBoard smoothing), observations and meaning; an explorer in JupyterLab."""
    if interactive:
        display(explorer(run, analysis, smoothing=smoothing, log_paths=log_paths))
    else:
        explore_note(interactive)
    constant = set(text.constant_metrics(analysis))
    if constant:
        display(Markdown("Constant over the whole run, so no figure of their own (their value is in the table at the "
                         "end of section 2): " + ", ".join(md.code(k) for k in analysis.metrics if k in constant) + "."))
    names = [k for k in analysis.metrics if k not in constant]
    for i, name in enumerate(names, 1):
        display(Markdown(f"### {section}.{i} {md.code(name)}"))
        if not interactive:
            show_figure(plots.metric_figure(run, analysis, name, smoothing=smoothing))
        display(text.metric_text(analysis, name))


def overview(run: Any, analysis: Any) -> None:
    """The overview grid, the [0, 1]-normalised levels where at least two metrics trend, the multi-axis figure."""
    if not plots.moving_metrics(analysis):
        display(Markdown("Every logged metric is constant: there is no curve to draw (section 2 lists them)."))
        return
    display(Markdown("Every metric that changes, raw (thin) and smoothed (thick), with the GAN phase shaded and "
                     "launch boundaries marked (constant metrics are in the table of section 2):"))
    show_figure(plots.overview_grid(run, analysis))
    trending = plots.trending_metrics(analysis)
    if len(trending) >= 2:
        display(Markdown("The levels of the metrics that trend, each scaled to [0, 1], to compare their shapes (a "
                         "rolling median, so point noise does not hide them):"))
        show_figure(plots.normalized_figure(run, analysis))
    else:
        display(Markdown(f"No [0, 1]-normalised overview: {len(trending)} metric(s) move beyond their noise over "
                         "the last window, and a shape comparison needs two."))
    display(Markdown("The main losses on independent y axes:"))
    show_figure(plots.multi_axis_figure(run, analysis))


def decomposition(run: Any, analysis: Any) -> None:
    """The total loss taken apart into its terms, figure and latest values (first stage only)."""
    if analysis.stage == STAGE_LDM:
        display(Markdown("Not applicable: the second stage's total_loss is loss_simple plus loss_vlb, both logged "
                         "(section 5)."))
        return
    show_figure(plots.decomposition_figure(run, analysis))
    display(text.decomposition_text(analysis))


def phase_status(run: Any, analysis: Any) -> None:
    """Discriminator start, first activation, GAN-phase progress, and the discriminator panel; for a
    second-stage run its settings (first-stage checkpoint, scale factor, EMA, LR, config) instead."""
    if analysis.stage == STAGE_LDM:
        display(text.second_stage(analysis))
        return
    display(text.phase_status(analysis))
    show_figure(plots.discriminator_figure(run, analysis))


def reconstruction(checkpoint: str | Path | None, data: str = "synthetic", split: str = "test", n: int | None = 16,
                   use_ema: bool = False, config: str | None = None, seed: int = 0) -> Any:
    """Evaluate ``checkpoint`` on held-out maps and show the numbers and example figures (None: a note)."""
    if not checkpoint:
        display(text.no_checkpoint())
        return None
    result = evaluate_checkpoint(checkpoint, data=data, split=split, n=n, use_ema=use_ema, config=config, seed=seed)
    display(text.reconstruction_text(result))
    display(Markdown("Best, median and worst maps by NMSE (input, reconstruction, absolute error; buildings "
                     "outlined):"))
    show_figure(plots.examples_figure(result))
    display(Markdown("Distribution of the per-map metrics:"))
    show_figure(plots.histograms_figure(result))
    return result


def explore_note(interactive: bool) -> None:
    """In a static report: say what the JupyterLab version of this notebook offers."""
    if not interactive:
        display(Markdown("*In JupyterLab (`make lab`, `notebooks/analyze.ipynb`) these figures come with controls: "
                         "metric, smoothing, step range, log scale, step or wall-time axis, a resume-point picker, "
                         "and a live mode that follows a log while it is written.*"))


def _analyse_session_run(session: Any, not_yet: str) -> tuple[Any, Any] | None:
    """Read and analyse the run a train/resume form produced; say `not_yet` when it has not run."""
    if session.result is None:
        display(Markdown(not_yet))
        return None
    run = read_run(session.result.results_folder)
    return run, analyze(run, window=max(3, min(50, len(run.df))))


def training_curves(session: Any) -> Any:
    """After a training launch: its summary and the overview of its logged losses."""
    got = _analyse_session_run(session, "Training has not run yet: press **Train** above, then run this cell again.")
    if got is None:
        return None
    run, analysis = got
    display(text.summary(analysis))
    show_figure(plots.overview_grid(run, analysis))
    return analysis


def resume_continuity(session: Any) -> Any:
    """After a resume: the verdicts at the newest resume point and its zoom figure."""
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
    record(analysis=to_json(analysis), rows=int(len(run.df)),
           evaluation=evaluation.to_json() if evaluation is not None else None)


def record_training(session: Any, analysis: Any = None) -> None:
    """Record where a train/resume launch ended and what its log holds (for tests)."""
    res = session.result
    record(step=res.step if res is not None else None, interrupted=res.interrupted if res is not None else None,
           last_checkpoint=str(res.last_checkpoint) if res is not None and res.last_checkpoint else None,
           results_folder=str(session.results_folder), errors=session.errors,
           analysis=to_json(analysis) if analysis is not None else None)
