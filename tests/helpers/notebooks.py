"""Reading an executed report notebook back: the numbers it recorded and its error outputs."""
from __future__ import annotations

from pathlib import Path

import nbformat

from radiodiff_lib.report.export import RECORD_MIME


def records(ipynb: Path) -> dict:
    """The merged records the notebook displayed (report.figures.record)."""
    out: dict = {}
    for cell in nbformat.read(str(ipynb), as_version=4).cells:
        for o in cell.get("outputs", []):
            out.update(o.get("data", {}).get(RECORD_MIME, {}))
    return out


def error_outputs(ipynb: Path) -> list:
    """Every error output (or traceback on stderr) of an executed notebook."""
    return [o for c in nbformat.read(str(ipynb), as_version=4).cells for o in c.get("outputs", [])
            if o.get("output_type") == "error" or o.get("name") == "stderr" and "Traceback" in o.get("text", "")]


def key_figure_output(ipynb: Path) -> tuple[str, str] | None:
    """(alt text, base64 PNG) of the first figure the executed notebook marked as its key figure."""
    for cell in nbformat.read(str(ipynb), as_version=4).cells:
        for o in cell.get("outputs", []):
            alt = (o.get("metadata", {}).get("image/png") or {}).get("alt") or ""
            if alt.startswith("key figure: "):
                return alt, o["data"]["image/png"].replace("\n", "")
    return None
