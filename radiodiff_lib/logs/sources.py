"""Which files of a run are read, as what, and what each was used for.

Discovery in a results folder (``source="all"``, the default): ``metrics.jsonl`` (the workbench
trainer's full-precision record; then ``train.log``, the same numbers printed with 8 digits, is not
read), every other ``*.log`` (RadioDiff's ``<YYYY-MM-DD-HH-MM>_.log``, one per launch) and every
TensorBoard ``events.out.tfevents.*`` below the folder, except in a workbench folder: there
``metrics.jsonl`` holds every scalar the trainer also wrote to its event files, at full precision.
When text logs (or the metrics file) and
event files are both read, the reader merges them into one row per step (``merge.py``): the events
give the dense rows, the text logs the config, the launch boundaries and any step the events lack.
``source`` keeps one kind only: ``text`` (the ``*.log`` files, ``train.log`` included),
``tensorboard`` (event files) or ``metrics`` (``metrics.jsonl``); it applies to named files too,
and every file left out is listed with the reason.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import LogFormatError
from ..vocabulary import METRICS_FILE, SOURCE_CHOICES, TEXT_LOG

KIND_EVENTS = "tensorboard"
KIND_METRICS = "workbench-metrics"
KIND_WORKBENCH_LOG = "workbench-log"
KIND_RADIODIFF_LOG = "radiodiff-log"
# which --source value keeps which kind of file
_FAMILY = {KIND_EVENTS: "tensorboard", KIND_METRICS: "metrics", KIND_WORKBENCH_LOG: "text",
           KIND_RADIODIFF_LOG: "text"}


@dataclass
class LeftOut:
    """A file of the run that was found and not read, and why."""

    path: str
    kind: str
    reason: str


def kind_of(path: Path) -> str:
    """The parser a file needs, from its name."""
    name = path.name
    if name.startswith("events.out.tfevents"):
        return KIND_EVENTS
    if name.endswith(".jsonl"):
        return KIND_METRICS
    if name == TEXT_LOG:
        return KIND_WORKBENCH_LOG
    return KIND_RADIODIFF_LOG


def check_source(source: str) -> str:
    """The source choice, or a clear error listing the valid ones."""
    if source not in SOURCE_CHOICES:
        raise LogFormatError(f"unknown log source {source!r}: choose one of {', '.join(SOURCE_CHOICES)}")
    return source


def _found(folder: Path) -> list[Path]:
    """Every log file of a results folder (event files searched below it)."""
    metrics = folder / METRICS_FILE
    logs = sorted(p for p in folder.glob("*.log") if p.is_file())
    events = sorted(p for p in folder.rglob("events.out.tfevents.*") if p.is_file())
    return ([metrics] if metrics.is_file() else []) + logs + events


def discover(paths: list[Path], source: str) -> tuple[list[Path], list[LeftOut]]:
    """(files to read, files left out with the reason) for the given files and folders."""
    chosen: list[Path] = []
    left: list[LeftOut] = []
    for p in paths:
        files = _found(p) if p.is_dir() else [p]
        in_folder = set(files) if p.is_dir() else set()
        for f in files:
            kind = kind_of(f)
            if source != "all" and _FAMILY[kind] != source:
                left.append(LeftOut(str(f), kind, f"not read: --source {source}"))
            elif (f in in_folder and source == "all" and kind == KIND_WORKBENCH_LOG
                  and (f.parent / METRICS_FILE).is_file()):
                left.append(LeftOut(str(f), kind, f"not read: {f.parent / METRICS_FILE} holds the same rows "
                                                  "at full precision"))
            elif f in in_folder and source == "all" and kind == KIND_EVENTS and (p / METRICS_FILE).is_file():
                # the workbench trainer writes its event files from the values of metrics.jsonl
                left.append(LeftOut(str(f), kind, f"not read: {p / METRICS_FILE} holds the same scalars at full "
                                                  "precision (name the event file to read it too)"))
            else:
                chosen.append(f)
    return chosen, left


def roles(kinds: list[str]) -> dict[str, str]:
    """What each kind of file read is used for, given the kinds read together."""
    merged = KIND_EVENTS in kinds and any(k != KIND_EVENTS for k in kinds)
    if not merged:
        return {k: "rows, config and launches" if k != KIND_EVENTS else "rows (one launch per file)" for k in kinds}
    text = "config, launch boundaries and the steps the events lack"
    return {k: ("dense rows (every step, full precision)" if k == KIND_EVENTS else
                "config, launches, rows at full precision" if k == KIND_METRICS else text) for k in kinds}
