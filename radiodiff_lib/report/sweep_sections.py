"""Sections of ``checkpoints.ipynb`` (which checkpoint goes to the second stage) and the sweep's verdict in
``analyze.ipynb``. Each displays Markdown from ``sweep_text`` and figures from ``plots``; in JupyterLab the
gallery and the latent histograms come with a checkpoint picker (``sweep_widgets``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from IPython.display import Markdown, display

from .. import plots
from ..analysis import analyze
from ..errors import RadiodiffError
from ..evaluation import gallery, read_sweep, sweep_checkpoints
from ..logs import read_run
from ..vocabulary import METRIC_NAMES, SWEEP_METRICS
from . import markdown as md
from . import sweep_text
from .figures import record, show_figure
from .sweep_widgets import checkpoint_picker


def run_sweep(run: str, **settings: Any) -> Any:
    """Sweep the run (what the cache holds is not scored again) and return the result."""
    return sweep_checkpoints(run, **settings)


def resume_steps(run: str | Path) -> tuple[list[int], str]:
    """The steps the run was resumed at, read from its logs, and a note when they could not be read."""
    try:
        log = read_run([str(run)])
        return [int(r.step) for r in analyze(log).resumes], ""
    except RadiodiffError as exc:
        return [], f"Resumes not marked: the run's logs could not be read ({exc})."


def title(result: Any) -> None:
    """What was swept."""
    display(sweep_text.title(result.to_json(), str(result.run)))


def verdict(result: Any) -> None:
    """Best, indistinguishable set, earliest, and the choice."""
    display(sweep_text.verdict(result.to_json()))


def table(result: Any) -> None:
    """Every candidate with its intervals."""
    display(sweep_text.candidates_table(result.to_json()))


def metric_figures(result: Any, section: int = 3) -> None:
    """NMSE, SSIM and PSNR against step, with the GAN phase and the run's resumes marked."""
    payload = result.to_json()
    steps, note = resume_steps(result.run)
    if note:
        display(Markdown(md.text(note)))
    for i, metric in enumerate(SWEEP_METRICS, 1):
        display(Markdown(f"### {section}.{i} {METRIC_NAMES[metric]}"))
        show_figure(plots.sweep_metric_figure(payload, metric, steps, payload.get("disc_start")))


def confirmation(result: Any) -> None:
    """The handed-off checkpoint on the test maps."""
    display(sweep_text.confirmation(result.to_json()))


def gallery_section(result: Any, interactive: bool = False) -> None:
    """The chosen checkpoint's best, median and worst items beside the final one (a picker in JupyterLab)."""
    if result.chosen is None:
        display(Markdown("No checkpoint was scored: nothing to show."))
        return
    if interactive:
        display(checkpoint_picker(result))
        return
    display(Markdown("*In JupyterLab (`notebooks/checkpoints.ipynb`) a checkpoint picker redraws this gallery and "
                     "the latent histograms for any swept checkpoint.*"))
    final = result.final()
    other = final if final != result.chosen else None
    chosen = result.candidates[result.chosen]
    right = result.candidates[other].label if other is not None else None
    examples, beside = gallery(result, result.chosen, other)
    show_figure(plots.sweep_gallery_figure(examples, chosen.label, beside, right))


def latents(result: Any) -> None:
    """The chosen checkpoint's latent statistics over the training split, and their histograms."""
    display(sweep_text.latents(result.to_json()))
    if result.latent is not None and result.latent.samples.size:
        chosen = result.candidates[result.chosen]
        lat = result.latent
        show_figure(plots.latent_histogram_figure(
            lat.samples, f"{chosen.label}: latents (posterior samples) on {lat.n_maps} {lat.split} maps", lat.mean,
            lat.std, lat.near_zero))


def handoff(result: Any) -> None:
    """``handoff.yaml``, the first-stage copy, and the stage-2 config check."""
    text = result.handoff.read_text(encoding="utf-8") if result.handoff else None
    display(sweep_text.handoff(result.to_json(), text))


def appendix(result: Any, params: dict | None = None) -> None:
    """Skipped checkpoints, cache use, timings and the notebook parameters."""
    display(sweep_text.appendix(result.to_json(), params))


def record_sweep(result: Any) -> None:
    """Record the sweep's JSON (for tests)."""
    record(sweep=result.to_json())


def analyze_verdict(sweep: str | None) -> Any:
    """In a run's analysis report: the verdict of the sweep in folder ``sweep`` (a note when None)."""
    if not sweep:
        display(sweep_text.no_sweep())
        return None
    payload = read_sweep(sweep)
    display(Markdown("### Which checkpoint to hand to the second stage"), sweep_text.analyze_verdict(payload, sweep))
    show_figure(plots.sweep_metric_figure(payload, payload["metric"], disc_start=payload.get("disc_start")))
    record(sweep=payload)
    return payload
