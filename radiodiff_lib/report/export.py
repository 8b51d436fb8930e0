"""Export an executed notebook to a self-contained offline HTML file and to Markdown with figure files.

nbconvert's lab template loads require.js, MathJax, mermaid and the widget renderer from public
CDNs. A report must open offline, so the template below blanks those blocks, widget state and
widget views are dropped (their figures never survive a static export anyway), and the result is
checked for any remaining network load.

A report is shared, so opening one must never run code. Names from a log enter its Markdown
escaped (``report.markdown``); behind that, the export sanitises every Markdown and HTML output
with nbconvert's ``sanitize_html`` option and our allow-list (``clean_html``: text, headings,
lists, tables, code; no script, event handler, ``javascript:`` URL, image, svg, iframe, object,
embed or form), and the page is then checked for anything that could still run (``script_risks``).
The report needs no script of its own: its figures are PNGs embedded by the template.
"""
from __future__ import annotations

import copy
import re
from html.parser import HTMLParser
from pathlib import Path

import bleach
import nbformat
from bleach.css_sanitizer import CSSSanitizer
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


# What Markdown and HTML outputs may keep: what Markdown renders to (nbconvert's mistune: headings with
# their anchor links, pygments-highlighted code) and the <br> of the diagnostics list. Anything else
# is escaped into visible text (bleach's strip=False), comments are dropped.
ALLOWED_TAGS = frozenset({"a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "div", "dl", "dt",
                          "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "kbd", "li", "ol", "p", "pre", "s",
                          "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul"})
ALLOWED_ATTRIBUTES = {"*": ["class", "id", "title"], "a": ["href"], "th": ["style"], "td": ["style"]}
ALLOWED_PROTOCOLS = frozenset({"http", "https", "mailto"})  # and relative links (#anchors)
_CSS = CSSSanitizer(allowed_css_properties=["text-align"])  # a Markdown table's column alignment


def clean_html(element: str | bytes) -> str:
    """An HTML fragment with everything outside the allow-list escaped into text (the export's filter)."""
    element = element.decode() if isinstance(element, bytes) else str(element)
    return bleach.clean(element, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, protocols=ALLOWED_PROTOCOLS,
                        strip=False, strip_comments=True, css_sanitizer=_CSS)


# Elements that run code, load another document or submit data; a report has none of them.
_RISKY_TAGS = frozenset({"script", "iframe", "frame", "frameset", "object", "embed", "applet", "svg", "math",
                         "form", "input", "button", "base", "link", "portal", "template", "audio", "video"})
_URL_ATTRIBUTES = frozenset({"href", "src", "action", "formaction", "xlink:href", "data", "poster", "srcset"})
_FIGURE_URL = re.compile(r"data:image/(png|jpeg);base64,", re.IGNORECASE)


class _RiskFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.risks: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in _RISKY_TAGS or (tag == "meta" and any(k == "http-equiv" for k, _ in attrs)):
            self.risks.append(f"<{tag}>")
        for name, value in attrs:
            url = re.sub(r"[\x00-\x20]", "", value or "").lower()
            if name.startswith("on"):
                self.risks.append(f"<{tag} {name}>")
            elif name in _URL_ATTRIBUTES and url.startswith(("javascript:", "vbscript:", "data:")) \
                    and not (tag == "img" and name == "src" and _FIGURE_URL.match(url)):
                self.risks.append(f"<{tag} {name}={url[:30]}>")


def script_risks(html: str) -> list[str]:
    """Every element, event handler or URL of a page that could run code (none in a report)."""
    finder = _RiskFinder()
    finder.feed(html)
    finder.close()
    return finder.risks


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
        sanitize_html=True, filters={"clean_html": clean_html},
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
    risks = script_risks(html)
    if risks:
        raise NotebookError(f"The HTML export of {path.name} holds {sorted(set(risks))[:3]}, which could run code; "
                            "nothing was written: report this, the sanitiser misses a case.")
    path.write_text(html, encoding="utf-8")
    return path


def export_markdown(nb: nbformat.NotebookNode, path: Path, with_code: bool = False,
                    taken: set[str] | frozenset[str] = frozenset()) -> Path:
    """Write Markdown with its figures as files in ``<name>_files/`` beside it; a figure whose name is in
    ``taken`` (a file the report did not write, see ``report.output``) is written under another name."""
    files_dir = path.with_name(f"{path.stem}_files")
    exporter = MarkdownExporter(exclude_input=not with_code, exclude_input_prompt=True,
                                exclude_output_prompt=True)
    body, resources = exporter.from_notebook_node(_for_export(nb), resources={"output_files_dir": files_dir.name})
    outputs = resources.get("outputs", {})
    used = set(taken) | {Path(name).name for name in outputs}
    for name in [n for n in outputs if Path(n).name in taken]:
        free = _free_name(Path(name).name, used)
        used.add(free)
        outputs[f"{files_dir.name}/{free}"] = outputs.pop(name)
        body = re.sub(re.escape(name) + r"(?![\w.-])", lambda _: f"{files_dir.name}/{free}", body)
    if outputs:
        files_dir.mkdir(parents=True, exist_ok=True)
    for name, data in outputs.items():
        (path.parent / name).write_bytes(data)
    path.write_text(body, encoding="utf-8")
    return path


def _free_name(name: str, used: set[str]) -> str:
    """``name`` with the first ``-k`` before its suffix that no file in ``used`` has."""
    stem, suffix = Path(name).stem, Path(name).suffix
    return next(f"{stem}-{k}{suffix}" for k in range(1, len(used) + 2) if f"{stem}-{k}{suffix}" not in used)
