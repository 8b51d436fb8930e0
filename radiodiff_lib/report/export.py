"""Export an executed notebook to a self-contained offline HTML file and to Markdown with figure files.

nbconvert's lab template loads require.js, MathJax, mermaid and the widget renderer from public
CDNs. A report must open offline, so the template below blanks those blocks, widget state and
widget views are dropped (their figures never survive a static export anyway), and the result is
checked for any remaining network load.
"""
from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

import nbformat
from jinja2 import DictLoader
from nbconvert import HTMLExporter, MarkdownExporter

from ..errors import NotebookError
from .env import RECORD_MIME

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

_OFFLINE_TEMPLATE = r"""{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block extra_css %}
<style type="text/css">
/* A readable report: one centred column, figures never wider than the page. */
body.jp-Notebook { max-width: 1040px; margin: 0 auto; padding: 24px 28px 64px; }
.jp-RenderedImage img { max-width: 100%; height: auto; }
.jp-RenderedHTMLCommon table { margin: 0.6em 0 1em; font-size: 13px; }
.jp-RenderedHTMLCommon td, .jp-RenderedHTMLCommon th { padding: 3px 10px; }
.jp-RenderedHTMLCommon h1 { margin-top: 0.2em; }
.jp-RenderedHTMLCommon h2 { border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 1.6em; }
.jp-OutputArea-prompt, .jp-InputPrompt { display: none; }
</style>
{% endblock extra_css %}
"""

# A network load is a src/href/url()/@import that points at http(s) or a protocol-relative //host.
_LOAD_ATTR = re.compile(r"<(?P<tag>[a-zA-Z][\w-]*)\b[^>]*?\b(?:src|href|data)\s*=\s*[\"']?\s*(?P<url>(?:https?:)?//[^\"'\s>]+)",
                        re.IGNORECASE)
_CSS_LOAD = re.compile(r"(?:url\(\s*[\"']?|@import\s+[\"'])(?P<url>(?:https?:)?//[^\"')\s]+)", re.IGNORECASE)
_STYLE_BLOCK = re.compile(r"<style\b[^>]*>.*?</style>", re.IGNORECASE | re.DOTALL)
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)


def external_loads(html: str) -> list[str]:
    """Every URL the page would fetch from the network (plain ``<a href>`` links are not loads)."""
    found = [m.group("url") for m in _LOAD_ATTR.finditer(html) if m.group("tag").lower() != "a"]
    for block in _STYLE_BLOCK.findall(html):
        found += [m.group("url") for m in _CSS_LOAD.finditer(_CSS_COMMENT.sub("", block))]
    return found


def _for_export(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy without widget state, widget views and test records (none can render offline)."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            data = out.get("data")
            if data is not None:
                data.pop(RECORD_MIME, None)
                data.pop(WIDGET_MIME, None)
                if not data:
                    continue
            kept.append(out)
        cell.outputs = kept
    return nb


def export_html(nb: nbformat.NotebookNode, path: Path, with_code: bool = False, title: str | None = None) -> Path:
    """Write a self-contained HTML (figures as base64, no scripts from the network)."""
    exporter = HTMLExporter(
        template_name="lab", extra_loaders=[DictLoader({"radiodiff_offline.html.j2": _OFFLINE_TEMPLATE})],
        template_file="radiodiff_offline.html.j2", exclude_input=not with_code,
        exclude_input_prompt=True, exclude_output_prompt=True, embed_images=True,
    )
    nb = _for_export(nb)
    if title:
        nb.metadata["title"] = title
    html, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": path.stem}})
    # Belt and braces: strip any script that still points at the network, then verify.
    html = re.sub(r"<script\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//[^>]*>\s*</script>", "", html, flags=re.IGNORECASE)
    remaining = external_loads(html)
    if remaining:
        raise NotebookError(f"The HTML export of {path.name} would load {remaining[:3]} from the network; "
                            "report this: the offline template misses a block.")
    path.write_text(html, encoding="utf-8")
    return path


def export_markdown(nb: nbformat.NotebookNode, path: Path, with_code: bool = False) -> Path:
    """Write Markdown with its figures as files in ``<name>_files/`` beside it."""
    files_dir = path.with_name(f"{path.stem}_files")
    exporter = MarkdownExporter(exclude_input=not with_code, exclude_input_prompt=True,
                                exclude_output_prompt=True)
    body, resources = exporter.from_notebook_node(_for_export(nb), resources={"output_files_dir": files_dir.name})
    if files_dir.exists():
        shutil.rmtree(files_dir)  # figures of an earlier render would otherwise linger
    outputs = resources.get("outputs", {})
    if outputs:
        files_dir.mkdir(parents=True)
    for name, data in outputs.items():
        (path.parent / name).write_bytes(data)
    path.write_text(body, encoding="utf-8")
    return path
