"""Run a notebook with papermill and render it to ``<name>.ipynb``, ``<name>.html`` and ``<name>.md``.

Working directory: the notebook's kernel runs in the directory the caller runs from
(``os.getcwd()`` of ``radiodiff report``), so relative paths given as parameters mean what they
mean on the command line. The kernel is the ``python3`` kernelspec when it runs this interpreter;
otherwise this interpreter's kernelspec is installed into ``sys.prefix`` (see :func:`ensure_kernel`).
The kernel gets ``RADIODIFF_HEADLESS=1`` so the notebooks draw plain figures instead of widgets.
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import nbformat

from ..errors import NotebookError
from .env import HEADLESS_ENV
from .export import export_html, export_markdown
from .output import report_folder
from .params import find_notebook, inject_parameters, read_notebook, validate_params

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


class CellFailed(NotebookError):
    """A cell of the notebook raised; the message names the cell, the error and the partly executed notebook."""


def _failure(exc: Exception, notebook: Path, partial: Path) -> NotebookError:
    ename, evalue = getattr(exc, "ename", type(exc).__name__), getattr(exc, "evalue", str(exc))
    count = getattr(exc, "exec_count", None)
    where = f"cell [{count}]" if count is not None else "a cell"
    source = (getattr(exc, "source", "") or "").strip().splitlines()
    snippet = f"\n  code: {source[0][:120]}{' ...' if len(source) > 1 else ''}" if source else ""
    return CellFailed(f"{notebook.name}: {where} failed with {ename}: {_ANSI.sub('', str(evalue))}{snippet}\n"
                      f"  partly executed notebook (open it to see the whole traceback): {partial}")


def _literal_path(path: Path) -> str:
    """``path`` for papermill, which formats its input and output paths with the parameters (``{x}``)."""
    return str(path).replace("{", "{{").replace("}", "}}")


def execute_notebook(source: Path, out: Path, params: dict[str, Any], cwd: str | Path | None = None,
                     final: Path | None = None, partial: Path | None = None) -> nbformat.NotebookNode:
    """Execute ``source`` with ``params`` into ``out`` and return the executed notebook. The parameters are
    written into the injected cell by ``params.inject_parameters`` (papermill gets none to write). ``final``
    and ``partial`` (default ``out``) are where the caller will move ``out`` after a success (recorded in the
    notebook) and after a failing cell (named in the error; ``out`` is then kept, partly executed)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    kernel = ensure_kernel()
    with tempfile.TemporaryDirectory(prefix="radiodiff-notebook-") as tmp, _kernel_environment():
        prepared = Path(tmp) / source.name
        nbformat.write(inject_parameters(read_notebook(source), params), str(prepared))
        try:
            nb = papermill.execute_notebook(_literal_path(prepared), _literal_path(out), kernel_name=kernel,
                                            cwd=str(cwd or os.getcwd()), progress_bar=False, log_output=False,
                                            # a save (and schema validation) of the growing notebook after
                                            # every cell costs a second on a report; it is still saved at the
                                            # end, on a failure, and every 30 s of a long cell
                                            request_save_on_cell_execute=False,
                                            # the kernel warns on stderr about plain-TCP transport on localhost
                                            extra_arguments=["--IPKernelApp.log_level=ERROR"])
        except PapermillExecutionError as exc:
            raise _failure(exc, source, partial or out) from None
        except (RuntimeError, TimeoutError) as exc:  # the kernel died or timed out (nbclient's DeadKernelError, timeouts)
            raise NotebookError(f"{source.name}: the notebook kernel stopped before the end ({type(exc).__name__}: "
                                f"{exc}); nothing was saved. Run it in JupyterLab to see where.") from exc
    nb.metadata.papermill["parameters"] = params  # as papermill records the parameters it writes itself
    nb.metadata.papermill["input_path"] = str(source)  # not the temporary copy papermill was given
    nb.metadata.papermill["output_path"] = str(final or out)
    nbformat.write(nb, str(out))
    return nb


def render_notebook(notebook: str | Path, params: dict[str, Any] | None = None, out_dir: str | Path = "reports",
                    with_code: bool = False, raw_params: bool = False) -> ReportPaths:
    """Run ``notebook`` (path or train/resume/analyze/compare) with papermill; write .ipynb, .html and .md
    into ``out_dir`` (see ``report.output``: one writer at a time, only the report's own files replaced)."""
    started = time.perf_counter()
    source = find_notebook(notebook)
    values = validate_params(source, dict(params or {}), raw=raw_params)
    name = source.stem
    with report_folder(Path(out_dir).resolve(), name) as folder:
        staged = folder.staging / f"{name}.ipynb"
        try:
            nb = execute_notebook(source, staged, values, final=folder.folder / staged.name,
                                  partial=folder.folder / folder.failed)
        except CellFailed:
            folder.keep_failed(staged)
            raise
        export_html(nb, folder.staging / f"{name}.html", with_code, nb.metadata.get("title"))
        export_markdown(nb, folder.staging / f"{name}.md", with_code, taken=folder.taken_figure_names())
        folder.install()
    out = folder.folder  # absolute paths in the summary: the user can open them from anywhere
    return ReportPaths(ipynb=out / f"{name}.ipynb", html=out / f"{name}.html", md=out / f"{name}.md",
                       seconds=time.perf_counter() - started)
