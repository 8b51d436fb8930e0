"""Where a run came from: the step its logs begin at, the checkpoint it was resumed from, and how
checkpoint milestones map to steps.

RadioDiff writes ``model-<milestone>.pt`` and ``sample-<milestone>.png`` with milestone = step //
``save_and_sample_every``, and a launch with ``resume_milestone: K`` restores ``model-K.pt`` and goes
on from step K x save_and_sample_every (the workbench adds ``model-<m>-step<s>.pt`` between
milestones). So a log that begins at step 35,000 with ``resume_milestone: 7`` and
``save_and_sample_every: 5000`` was resumed from model-7.pt, and the 35,000 steps before it are not
in that log. ``run_start`` states this from the config (``configs.LaunchConfig``); where the config does
not say, a first step that is a whole number of save intervals gives the milestone (marked as inferred).
"""
from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any

import pandas as pd

from .configs import LaunchConfig

_CHECKPOINT = re.compile(r"^model-(\d+)(?:-step(\d+))?\.pt$")
_SAMPLE = re.compile(r"^sample-(\d+)\.png$")


def milestone_step(milestone: int | None, every: int | None) -> int | None:
    """The step a milestone stands for (milestone x save_and_sample_every), or None when unknown."""
    return milestone * every if milestone is not None and every is not None else None


def checkpoint_milestone(path: Any) -> tuple[int, int | None] | None:
    """(milestone, explicit step or None) of a checkpoint named model-<m>[-step<s>].pt, else None."""
    m = _CHECKPOINT.match(PurePath(str(path)).name)
    return (int(m.group(1)), int(m.group(2)) if m.group(2) else None) if m else None


def milestone_of(path: Any) -> int | None:
    """The milestone of a checkpoint named model-<m>[-step<s>].pt (a path or None), else None."""
    got = checkpoint_milestone(path) if path else None
    return got[0] if got else None


def sample_milestone(path: Any) -> int | None:
    """The milestone of a RadioDiff ``sample-<m>.png``, else None."""
    m = _SAMPLE.match(PurePath(str(path)).name)
    return int(m.group(1)) if m else None


def checkpoint_at(step: int, every: int | None) -> str | None:
    """The checkpoint name a launch starting at ``step`` resumed from (RadioDiff's naming), or None."""
    if every is None or step <= 0:
        return None
    milestone, rest = divmod(step, every)
    return f"model-{milestone}.pt" if rest == 0 else f"model-{milestone}-step{step}.pt"


def run_start(first_step: int | None, launch: LaunchConfig, rows: pd.DataFrame) -> dict[str, Any]:
    """Where the analysed run begins: its first step, the milestone it was resumed from (its launch's config,
    else inferred), how many earlier steps the logs hold, and what the config says about resuming."""
    every, configured = launch.save_every, launch.resume_milestone
    out = {"step": first_step, "resumed_from_milestone": None, "earlier_steps_logged": 0,
           "milestone_step": None, "save_and_sample_every": every, "config_resume_milestone": configured,
           "enable_resume": launch.enable_resume, "source": None, "checkpoint": None}
    if first_step is None:
        return out
    if len(rows):
        out["earlier_steps_logged"] = int(rows.loc[rows["step"] < first_step, "step"].nunique())
    if first_step == 0:
        out["source"] = "started at step 0"
        return out
    if configured and milestone_step(configured, every) == first_step:
        milestone, source = configured, "config"
    elif every is not None and first_step % every == 0:
        milestone, source = first_step // every, "inferred from the first step"
    else:
        milestone, source = None, "unknown"
    out.update(resumed_from_milestone=milestone, milestone_step=milestone_step(milestone, every), source=source,
               checkpoint=f"model-{milestone}.pt" if milestone is not None else None)
    return out
