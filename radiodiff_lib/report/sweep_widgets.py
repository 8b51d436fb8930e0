"""The checkpoint picker for JupyterLab: pick a swept checkpoint, see its gallery and its latent histograms.

The gallery re-runs the picked checkpoint (and the run's final one, beside it) on the picked one's
best, median and worst items; the histograms are of the posterior means it gave on the swept
items, which the sweep kept in its cache, so picking costs three forward passes per checkpoint
(and a load from disk only for a checkpoint not among the last few drawn).
"""
from __future__ import annotations

import functools
from typing import Any

from IPython.display import Markdown

from .. import plots
from ..evaluation import candidate_model, gallery
from . import markdown as md
from .widgets import show_in

MODELS_KEPT = 3  # loaded checkpoints the picker keeps (the final one and the last two picked)


class CheckpointPicker:
    """A dropdown over the scored checkpoints of a sweep, redrawing the gallery and the latent histograms."""

    def __init__(self, result: Any):
        import ipywidgets as W

        self.result = result
        # the final checkpoint is drawn beside every pick, and a user goes back and forth: the last few stay loaded
        self.model_of = functools.lru_cache(maxsize=MODELS_KEPT)(functools.partial(candidate_model, result))
        options = [(result.candidates[k].label + f" (step {result.candidates[k].step})", k) for k in result.scored]
        self.pick = W.Dropdown(options=options, value=result.chosen, description="checkpoint",
                               layout={"width": "520px"}, style={"description_width": "80px"})
        self.status = W.HTML()
        self.gallery_out, self.latent_out = W.Output(), W.Output()
        self.pick.observe(lambda _change: self.redraw(), names="value")
        self.widget = W.VBox([W.HBox([self.pick, self.status]), self.gallery_out, self.latent_out])
        self.redraw()

    def redraw(self) -> None:
        """Draw the gallery and the histograms of the picked checkpoint."""
        k, final = self.pick.value, self.result.final()
        cand = self.result.candidates[k]
        other = final if final != k else None
        try:
            examples, beside = gallery(self.result, k, other, self.model_of)
        except Exception as exc:  # a checkpoint that stopped loading: say so, keep the picker usable
            show_in(self.gallery_out, Markdown(f"cannot draw {md.code(cand.label)}: {md.text(exc)}"))
            return
        right = self.result.candidates[other].label if other is not None else None
        show_in(self.gallery_out, plots.sweep_gallery_figure(examples, cand.label, beside, right))
        show_in(self.latent_out, plots.latent_histogram_figure(
            cand.latent["samples"], f"{cand.label}: posterior means on the {len(self.result.items)} swept items",
            cand.latent["mean"], cand.latent["std"]))
        self.status.value = f"step {cand.step}"


def checkpoint_picker(result: Any) -> Any:
    """The picker widget (see :class:`CheckpointPicker`)."""
    return CheckpointPicker(result).widget
