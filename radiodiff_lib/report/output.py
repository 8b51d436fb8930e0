"""A report's output folder: one writer at a time, a render staged then moved into place, only the
report's own files ever replaced.

``render_notebook(NAME, out_dir=DIR)`` holds ``DIR/.radiodiff-report.lock`` (``flock``) from before
the notebook runs until its files are in place; a second report into DIR stops at once, naming the
holder. The notebook runs and is exported in ``DIR/.radiodiff-staging-<name>-<random>/`` (the same
file system, so each move into DIR is an atomic rename): nothing in DIR changes before the render
succeeded, and a staging folder that a killed render left is removed by the next one.

What a report owns in DIR: the files named after its notebook (``<name>.ipynb``, ``<name>.html``,
``<name>.md``, ``<name>.failed.ipynb``) and the figures it wrote into ``<name>_files/``, which its
manifest ``DIR/.<name>.manifest.json`` lists. A new render replaces those and removes the ones it
no longer writes; any other file in ``<name>_files/`` is the user's and is never touched (a new
figure whose name one of them holds is written under another name). In a folder rendered before
manifests existed, the figures the old ``<name>.md`` links to are the report's.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from ..errors import NotebookError, OutputError
from ..outputs import check_output_folder, folder_lock, write_text_atomic

LOCK_FILE = ".radiodiff-report.lock"
STAGING_PREFIX = ".radiodiff-staging-"


def manifest_name(name: str) -> str:
    """The manifest file of notebook ``name``'s report: ``.<name>.manifest.json``."""
    return f".{name}.manifest.json"


class ReportFolder:
    """One render's view of its output folder: the staging folder, what the report owns, the install."""

    def __init__(self, folder: Path, name: str, staging: Path) -> None:
        self.folder, self.name, self.staging = folder, name, staging
        self.files_dir = f"{name}_files"
        self.named = {f"{name}.ipynb", f"{name}.html", f"{name}.md", self.failed}

    @property
    def failed(self) -> str:
        """Where a render whose cell failed keeps its partly executed notebook."""
        return f"{self.name}.failed.ipynb"

    def owned(self) -> set[str]:
        """The files of DIR (relative paths) that this report wrote: its named files and the figures its
        manifest lists (without a manifest, the figures its Markdown links to)."""
        listed = self._manifest()
        if listed is None:
            listed = self._linked_figures()
        return self.named | {f for f in listed if self._is_own_name(f)}

    def taken_figure_names(self) -> set[str]:
        """Names in ``<name>_files/`` that hold something the report did not write (a new figure avoids them)."""
        files = self.folder / self.files_dir
        if not files.is_dir():
            return set()
        own = {Path(f).name for f in self.owned() if f.startswith(f"{self.files_dir}/")}
        return {p.name for p in files.iterdir()} - own

    def install(self) -> list[str]:
        """Move every staged file into place, remove the report's files this render did not write again,
        and record the new list; returns the files installed (relative paths)."""
        new = sorted(str(p.relative_to(self.staging)) for p in self.staging.rglob("*") if p.is_file())
        old = self.owned()
        self._write_manifest(old | set(new))  # a render killed half-way still knows every file it owns
        figures_first = sorted(new, key=lambda f: not f.startswith(f"{self.files_dir}/"))
        for rel in figures_first:
            target = self.folder / rel
            target.parent.mkdir(exist_ok=True)
            os.replace(self.staging / rel, target)
        for rel in sorted(old - set(new)):
            stale = self.folder / rel
            if stale.is_file() or stale.is_symlink():
                stale.unlink()
        self._write_manifest(set(new))
        with contextlib.suppress(OSError):  # removed only when nothing is left in it
            (self.folder / self.files_dir).rmdir()
        return new

    def keep_failed(self, staged: Path) -> Path:
        """Move a partly executed notebook into place as ``<name>.failed.ipynb`` (the last good report stays)."""
        target = self.folder / self.failed
        self._write_manifest(self.owned() | {self.failed})
        os.replace(staged, target)
        return target

    def _is_own_name(self, rel: str) -> bool:
        """Only the report's own names are ever deleted, whatever a (possibly edited) manifest says."""
        if rel in self.named:
            return True
        head, _, tail = rel.partition("/")
        return head == self.files_dir and bool(tail) and "/" not in tail and tail not in (".", "..")

    def _manifest(self) -> set[str] | None:
        path = self.folder / manifest_name(self.name)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # missing, unreadable, not JSON: the report owns only what its Markdown links to
            return None
        files = data.get("files") if isinstance(data, dict) else None
        return {f for f in files if isinstance(f, str)} if isinstance(files, list) else None

    def _linked_figures(self) -> set[str]:
        md = self.folder / f"{self.name}.md"
        try:
            text = md.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return set()
        links = re.findall(rf"(?<![\w.-]){re.escape(self.files_dir)}/([^)\s\"'<>/]+)", text)
        return {f"{self.files_dir}/{name}" for name in links}

    def _write_manifest(self, files: set[str]) -> None:
        record = {"notebook": self.name, "files": sorted(files),
                  "about": "files this report wrote here; a new render replaces or removes only these"}
        write_text_atomic(self.folder / manifest_name(self.name), json.dumps(record, indent=1) + "\n")


@contextlib.contextmanager
def report_folder(out_dir: str | Path, name: str) -> Iterator[ReportFolder]:
    """Check and lock ``out_dir`` for a render of notebook ``name``; yields its ``ReportFolder`` (the
    staging folder is removed when the block ends, whatever happened)."""
    folder = check_output_folder(Path(out_dir).absolute(), "report folder")
    files_dir = folder / f"{name}_files"
    if files_dir.exists() and not files_dir.is_dir():
        raise OutputError(f"{files_dir} is a file: the report writes its figures in a folder of that name; "
                          "move the file or give another --out.")
    folder.mkdir(parents=True, exist_ok=True)

    def busy(holder: str) -> NotebookError:
        return NotebookError(f"{folder} is being written by another report ({holder}): wait for it to finish, "
                             "or give another --out.")

    with folder_lock(folder, LOCK_FILE, busy):
        for stale in folder.glob(f"{STAGING_PREFIX}*"):  # left by a killed render (we hold the lock)
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{name}-", dir=folder))
        try:
            yield ReportFolder(folder, name, staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
