"""Run a notebook with papermill and render it to ``<name>.ipynb``, ``<name>.html`` and ``<name>.md``.

Working directory: the notebook's kernel runs in the directory the caller runs from
(``os.getcwd()`` of ``radiodiff report``), so relative paths given as parameters mean what they
mean on the command line. The kernel is the ``python3`` kernelspec when it runs this interpreter;
otherwise this interpreter's kernelspec is installed into ``sys.prefix`` (see :func:`ensure_kernel`).
The kernel gets ``RADIODIFF_HEADLESS=1`` so the notebooks draw plain figures instead of widgets.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..errors import NotebookError
from .env import HEADLESS_ENV
from .export import export_html, export_markdown
from .params import find_notebook, read_notebook, validate_params

KERNEL_NAME = "python3"
FALLBACK_KERNEL_NAME = "radiodiff-python3"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class ReportPaths:
    """Where a rendered notebook landed."""

    ipynb: Path
    html: Path
    md: Path
    seconds: float = 0.0

    def summary(self) -> str:
        """Three lines a user can click or copy."""
        files = self.md.with_name(f"{self.md.stem}_files")
        extra = f" (figures in {files}/)" if files.is_dir() else ""
        lines = [("HTML (open in a browser, works offline)", self.html), ("Markdown", self.md),
                 ("executed notebook", self.ipynb)]
        return f"report rendered in {self.seconds:.1f} s\n" + "\n".join(
            f"  {what}: {path}{extra if path == self.md else ''}" for what, path in lines if path.exists())


def _runs_this_interpreter(argv0: str) -> bool:
    try:
        return Path(argv0).resolve() == Path(sys.executable).resolve()
    except OSError:
        return False


def ensure_kernel() -> str:
    """Name of a kernelspec running this interpreter; installs one into ``sys.prefix`` if none does."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    def usable(name: str) -> bool:
        try:
            spec = KernelSpecManager().get_kernel_spec(name)
        except NoSuchKernel:
            return False
        return bool(spec.argv) and _runs_this_interpreter(spec.argv[0])

    if usable(KERNEL_NAME):
        return KERNEL_NAME
    try:
        from ipykernel.kernelspec import install
    except ImportError as exc:
        raise NotebookError("ipykernel is not installed in this environment: pip install ipykernel") from exc
    # A user-level python3 spec may shadow the one in sys.prefix; the fallback name cannot be shadowed.
    for name in (KERNEL_NAME, FALLBACK_KERNEL_NAME):
        install(kernel_name=name, prefix=sys.prefix)
        if usable(name):
            return name
    raise NotebookError(f"Could not install a Jupyter kernel for {sys.executable} into {sys.prefix}.")


@contextlib.contextmanager
def _kernel_environment() -> Iterator[None]:
    """Environment the kernel inherits: headless flag, inline figures, this package importable."""
    package_parent = str(Path(__file__).resolve().parents[2])
    old = {k: os.environ.get(k) for k in (HEADLESS_ENV, "MPLBACKEND", "PYTHONPATH")}
    os.environ[HEADLESS_ENV] = "1"
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, old["PYTHONPATH"]) if p)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _failure(exc: Exception, notebook: Path, out: Path) -> NotebookError:
    ename, evalue = getattr(exc, "ename", type(exc).__name__), getattr(exc, "evalue", str(exc))
    count = getattr(exc, "exec_count", None)
    where = f"cell [{count}]" if count is not None else "a cell"
    source = (getattr(exc, "source", "") or "").strip().splitlines()
    snippet = f"\n  code: {source[0][:120]}{' ...' if len(source) > 1 else ''}" if source else ""
    return NotebookError(f"{notebook.name}: {where} failed with {ename}: {_ANSI.sub('', str(evalue))}{snippet}\n"
                         f"  partly executed notebook (open it to see the whole traceback): {out}")


class _KnownParameters(logging.Filter):
    """Drops papermill's "Passed unknown parameter" warning: validate_params checked every name against
    the same cell, and papermill's own reading of it skips annotated lines (``name: int | None = ...``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Passed unknown parameter")


def execute_notebook(source: Path, out: Path, params: dict[str, Any], cwd: str | Path | None = None) -> None:
    """Execute ``source`` with papermill into ``out`` (kept, partly executed, when a cell fails)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    kernel = ensure_kernel()
    known = _KnownParameters()
    logging.getLogger("papermill").addFilter(known)
    with _kernel_environment(), contextlib.ExitStack() as stack:
        stack.callback(logging.getLogger("papermill").removeFilter, known)
        try:
            papermill.execute_notebook(str(source), str(out), parameters=params, kernel_name=kernel,
                                       cwd=str(cwd or os.getcwd()), progress_bar=False, log_output=False,
                                       # a save (and schema validation) of the growing notebook after
                                       # every cell costs a second on a report; it is still saved at the
                                       # end, on a failure, and every 30 s of a long cell
                                       request_save_on_cell_execute=False,
                                       # the kernel warns on stderr about plain-TCP transport on localhost
                                       extra_arguments=["--IPKernelApp.log_level=ERROR"])
        except PapermillExecutionError as exc:
            raise _failure(exc, source, out) from None
        except (RuntimeError, TimeoutError) as exc:  # the kernel died or timed out (nbclient's DeadKernelError, timeouts)
            raise NotebookError(f"{source.name}: the notebook kernel stopped before the end ({type(exc).__name__}: "
                                f"{exc}); nothing was saved. Run it in JupyterLab to see where.") from exc


def render_notebook(notebook: str | Path, params: dict[str, Any] | None = None, out_dir: str | Path = "reports",
                    with_code: bool = False, raw_params: bool = False) -> ReportPaths:
    """Run ``notebook`` (path or train/resume/analyze) with papermill; write .ipynb, .html and .md."""
    import time

    started = time.perf_counter()
    source = find_notebook(notebook)
    values = validate_params(source, dict(params or {}), raw=raw_params)
    out = Path(out_dir).resolve()  # absolute paths in the summary: the user can open them from anywhere
    out.mkdir(parents=True, exist_ok=True)
    name = source.stem
    executed = out / f"{name}.ipynb"
    execute_notebook(source, executed, values)
    nb = read_notebook(executed)
    title = nb.metadata.get("title")
    paths = ReportPaths(ipynb=executed, html=export_html(nb, out / f"{name}.html", with_code, title),
                        md=export_markdown(nb, out / f"{name}.md", with_code))
    paths.seconds = time.perf_counter() - started
    return paths
