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
Only regular files are read: a named pipe, a device or a socket named as a log is an error (a
pipe would block the reader, ``/dev/zero`` never ends), and one found in a folder under a log's
name is left out with the reason, as is a folder with a log's name.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ..errors import LogFormatError
from ..outputs import not_regular
from ..vocabulary import (
    KIND_EVENTS, KIND_METRICS, KIND_RADIODIFF_LOG, KIND_WORKBENCH_LOG, METRICS_FILE, SOURCE_CHOICES, TEXT_LOG,
)

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


def check_log_path(path: Path) -> None:
    """A LogFormatError unless the path names a folder or a regular file (a FIFO must not block a read)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        raise LogFormatError(f"no such log file or folder: {path} (pass a RadioDiff .log file, a metrics.jsonl, a "
                             "TensorBoard events file or a results folder)") from None
    what = not_regular(mode)
    if what is not None and not stat.S_ISDIR(mode):
        raise LogFormatError(f"{path} is {what}, not a regular file: pass a RadioDiff .log file, a metrics.jsonl, "
                             "a TensorBoard events file or a results folder")


def _found(folder: Path) -> tuple[list[Path], list[LeftOut]]:
    """Every log file of a results folder (event files searched below it), and what has a log's
    name but is not a regular file."""
    candidates = [folder / METRICS_FILE] + sorted(folder.glob("*.log")) + sorted(folder.rglob("events.out.tfevents.*"))
    files, left = [], []
    for p in candidates:
        try:
            mode = p.stat().st_mode
        except OSError:  # metrics.jsonl absent, a file gone since the listing, or a broken link
            if p.is_symlink():
                left.append(LeftOut(str(p), kind_of(p), "not read: a link to nothing"))
            continue
        what = not_regular(mode)
        if what is None:
            files.append(p)
        else:
            left.append(LeftOut(str(p), kind_of(p), f"not read: {what}, not a regular file"))
    return files, left


def discover(paths: list[Path], source: str) -> tuple[list[Path], list[LeftOut]]:
    """(files to read, files left out with the reason) for the given files and folders."""
    chosen: list[Path] = []
    left: list[LeftOut] = []
    for p in paths:
        files, odd = _found(p) if p.is_dir() else ([p], [])
        left += odd
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
