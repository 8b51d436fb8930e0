"""The ledger of a results folder: which checkpoint files this run wrote, so that retention deletes
only those, and the later checkpoints a resume from an earlier point sets aside.

``checkpoints.json`` lists every checkpoint the trainer wrote (name, step, size). Retention counts
and deletes only ledger entries whose file still has the recorded size: a stray ``model-9.pt``, a
file copied from another run, or a checkpoint written before this ledger existed is never touched.
A resume from an earlier checkpoint moves every checkpoint that sorts after it into
``set-aside/<name>/``, so that ``latest`` always means the current line of the run; nothing is
deleted, and ``radiodiff inspect`` lists the set-aside files. A resume from a checkpoint outside the
folder (another run's, a set-aside one) sets every checkpoint of the folder aside, as none is on its
line, and links that checkpoint in (a copy across file systems); the ledger does not list it, so
retention never deletes it.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..vocabulary import CHECKPOINT_LEDGER, SET_ASIDE_FOLDER
from .workbench import checkpoint_sort_key, list_checkpoints, parse_checkpoint_name


@dataclass
class LedgerEntry:
    """One checkpoint file the trainer wrote."""

    name: str
    step: int
    bytes: int


def read_ledger(folder: str | Path) -> list[LedgerEntry]:
    """The ledger's entries (none when the folder has no ledger or it cannot be read)."""
    path = Path(folder) / CHECKPOINT_LEDGER
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [LedgerEntry(str(e["name"]), int(e["step"]), int(e["bytes"])) for e in data["checkpoints"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _write_ledger(folder: Path, entries: list[LedgerEntry]) -> None:
    """Replace the ledger atomically (a kill mid-write leaves the previous one)."""
    path = folder / CHECKPOINT_LEDGER
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps({"checkpoints": [asdict(e) for e in entries]}, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def record_checkpoint(folder: str | Path, path: str | Path, step: int) -> None:
    """Add (or renew) the entry of a checkpoint the trainer has just written in ``folder``."""
    folder, path = Path(folder), Path(path)
    entries = [e for e in read_ledger(folder) if e.name != path.name]
    entries.append(LedgerEntry(path.name, int(step), path.stat().st_size))
    _write_ledger(folder, sorted(entries, key=lambda e: checkpoint_sort_key(e.name)))


def owned_checkpoints(folder: str | Path) -> list[Path]:
    """Checkpoint files of ``folder`` this run wrote and that are unchanged since, oldest first."""
    folder = Path(folder)
    sizes = {e.name: e.bytes for e in read_ledger(folder)}
    return [p for p in list_checkpoints(folder) if sizes.get(p.name) == _size(p)]


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def prune_checkpoints(folder: str | Path, keep_last: int, keep_every: int) -> list[Path]:
    """Delete this run's checkpoints except the newest ``keep_last`` and every ``keep_every``-th
    milestone; files the ledger does not list are never deleted nor counted. Returns the deleted."""
    folder = Path(folder)
    paths = owned_checkpoints(folder)
    keep = set(paths[-keep_last:]) if keep_last > 0 else set()
    for p in paths:
        milestone, extra = parse_checkpoint_name(p.name)  # type: ignore[misc]
        if keep_every and extra == 0 and milestone % keep_every == 0:
            keep.add(p)
    deleted = [p for p in paths if p not in keep]
    for p in deleted:
        p.unlink(missing_ok=True)
    if deleted:
        gone = {p.name for p in deleted}
        _write_ledger(folder, [e for e in read_ledger(folder) if e.name not in gone])
    return deleted


def set_aside_after(folder: str | Path, resumed_from: str | Path) -> tuple[Path | None, list[Path]]:
    """Move every checkpoint of ``folder`` that sorts after ``resumed_from`` into a named subfolder
    of ``set-aside/``; returns (that subfolder or None, the files moved)."""
    folder, resumed_from = Path(folder), Path(resumed_from)
    if parse_checkpoint_name(resumed_from.name) is None or resumed_from.parent.resolve() != folder.resolve():
        return None, []
    after = [p for p in list_checkpoints(folder)
             if checkpoint_sort_key(p.name) > checkpoint_sort_key(resumed_from.name)]
    return _set_aside(folder, after, f"after-{resumed_from.stem}-resumed")


def _set_aside(folder: Path, paths: list[Path], why: str) -> tuple[Path | None, list[Path]]:
    """Move ``paths`` (checkpoints of ``folder``) into ``set-aside/<why>-<time>/`` and out of the ledger."""
    if not paths:
        return None, []
    target = folder / SET_ASIDE_FOLDER / f"{why}-{time.strftime('%Y-%m-%d-%H-%M-%S')}"
    target.mkdir(parents=True, exist_ok=True)
    for p in paths:
        os.replace(p, target / p.name)
    moved = {p.name for p in paths}
    _write_ledger(folder, [e for e in read_ledger(folder) if e.name not in moved])
    return target, [target / p.name for p in paths]


def set_aside_checkpoints(folder: str | Path) -> list[Path]:
    """Checkpoint files in the ``set-aside/`` subfolders of ``folder``, oldest set-aside first."""
    root = Path(folder) / SET_ASIDE_FOLDER
    if not root.is_dir():
        return []
    return [p for sub in sorted(d for d in root.iterdir() if d.is_dir()) for p in list_checkpoints(sub)]


@dataclass
class LineStart:
    """Where a resumed launch's line starts in its results folder."""

    checkpoint: Path  # the checkpoint the launch continues from, in the folder
    linked_from: Path | None  # where it came from, when it was outside the folder
    how: str  # "linked" or "copied" (when linked_from is set)
    aside: Path | None  # the set-aside subfolder, when checkpoints were moved
    moved: list[Path]  # the checkpoints moved there

    def notes(self) -> list[str]:
        """What the launch says about it: where the checkpoint came from, what was set aside."""
        names = ", ".join(p.name for p in self.moved)
        notes = []
        if self.linked_from is not None:
            notes.append(f"{self.linked_from} is outside this results folder: it is {self.how} in as "
                         f"{self.checkpoint.name}, the first checkpoint of this line (retention never deletes it).")
        if self.moved:
            which = "later checkpoint(s)" if self.linked_from is None else "checkpoint(s) of the folder's earlier line"
            notes.append(f"set aside {len(self.moved)} {which} ({names}) in {self.aside}: this launch continues "
                         f"from {self.checkpoint.name}, so 'latest' now means its line; nothing was deleted.")
        return notes


def start_line_at(folder: str | Path, checkpoint: str | Path, name: str) -> LineStart:
    """Make ``checkpoint`` the newest checkpoint of ``folder`` before a launch continues from it, deleting nothing:
    one of the folder keeps its place and those after it are set aside; one from elsewhere comes in as ``name``
    after every checkpoint of the folder is set aside."""
    folder, checkpoint = Path(folder), Path(checkpoint)
    if checkpoint.parent.resolve() == folder.resolve():
        aside, moved = set_aside_after(folder, checkpoint)
        return LineStart(folder / checkpoint.name, None, "", aside, moved)
    aside, moved = _set_aside(folder, list_checkpoints(folder),
                              f"before-resume-from-{checkpoint.parent.name}-{checkpoint.stem}")
    how = _link_or_copy(checkpoint, folder / name)
    return LineStart(folder / name, checkpoint, how, aside, moved)


def _link_or_copy(source: Path, target: Path) -> str:
    """Hard-link ``source`` as ``target`` (no second copy of a large file), or copy it atomically where the two
    are on different file systems or links are refused; returns "linked" or "copied"."""
    try:
        os.link(source, target)
        return "linked"
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES):
            raise
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return "copied"
