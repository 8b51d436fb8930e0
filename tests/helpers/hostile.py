"""A run whose folder, file, metric and config names carry markup, and a parse-based check that a
rendered report runs no script (any test may import this).

The check is the tests' own oracle, written independently of ``report.export``: it walks the page
with ``html.parser`` and lists every element, attribute or URL that could run code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

from tests.helpers.logfactory import (
    START, default_values, radiodiff_config, write_radiodiff_log, write_workbench_folder,
)

# Each one is live markup if it reaches the HTML unescaped, or breaks out of a code span or a table.
SCRIPT = "<script>alert(10)</script>"
IMG = "<img src=x onerror=alert(11)>"
SVG = "<svg onload=alert(12)>"
LINK = "[x](javascript:alert(13))"
TICKS = "`<img src=x onerror=alert(15)>`"
PIPE = "a|b"
MATH = "$\\frac{$"  # a matplotlib mathtext error if a figure title parsed it
HOSTILE_METRICS = [f"train/{SCRIPT}", f"train/`{IMG}`", f"train/{SVG}", f"train/{LINK}", f"train/{PIPE}{MATH}"]
CONFIG_TRAP = "```\n" + IMG + "\n```"  # closes a fenced code block that uses three backticks


@dataclass
class HostileRun:
    """Where the hostile run is, and the names a report must show as text."""

    folder: Path
    log_file: Path
    metrics: list[str] = field(default_factory=lambda: list(HOSTILE_METRICS))

    @property
    def names(self) -> list[str]:
        """Every hostile text that a report shows: the folder, the file and the metric names."""
        return [str(self.folder), self.log_file.name, *self.metrics]


def write_hostile_run(root: Path) -> HostileRun:
    """A workbench folder (two launches, hostile metric keys and config values) holding a RadioDiff
    text log with a hostile file name (a third launch), inside folders whose names carry markup.

    The folder path holds ``<script>...</script>``: its ``/`` is the separator between two folders."""
    folder = root / f"run_{IMG}{TICKS}{LINK}{PIPE}{SVG}<script>alert(10)<" / "script>"
    config = radiodiff_config(disc_start=50, train_num_steps=200)
    config["trainer"]["results_folder"] = CONFIG_TRAP
    config["data"][SVG] = TICKS

    def values(step: int) -> dict:
        gen, disc = default_values(step, 50, train_num_steps=200)
        extra = {name: 1.0 + 0.01 * k + 0.001 * (step % 7) for k, name in enumerate(HOSTILE_METRICS)}
        return {**gen, **{k: v for k, v in disc.items() if k != "lr"}, **extra}

    write_workbench_folder(folder, [{"steps": range(0, 40), "config": config, "values": values},
                                    {"steps": range(30, 60), "config": config, "values": values}])
    log_file = folder / f"2024-01-01-00-00_b{TICKS}.log"
    write_radiodiff_log(log_file, range(60, 90), disc_start=50, total_steps=200,
                        start_time=START + timedelta(days=400))
    return HostileRun(folder=folder, log_file=log_file)


# Elements that run code, embed another document, or submit a form.
_ACTIVE_TAGS = {"script", "iframe", "frame", "frameset", "object", "embed", "applet", "svg", "math", "form",
                "input", "button", "textarea", "select", "base", "link", "portal", "template", "noscript",
                "audio", "video", "source", "track"}
_URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "data", "poster", "background", "srcset",
              "cite", "ping", "lowsrc", "dynsrc"}
_FIGURE_DATA = ("data:image/png;base64,", "data:image/jpeg;base64,")


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.text: list[str] = []
        self._raw_depth = 0  # inside <style>: not page text

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in _ACTIVE_TAGS:
            self.problems.append(f"<{tag}> element")
        if tag == "style":
            self._raw_depth += 1
        if tag == "meta" and any(k == "http-equiv" for k, _ in attrs):
            self.problems.append("<meta http-equiv>")
        for name, value in attrs:
            value = "".join(ch for ch in (value or "") if ch > " ").lower()
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}>")
            elif name in _URL_ATTRS and value.startswith(("javascript:", "vbscript:", "data:")):
                if not (tag == "img" and name == "src" and value.startswith(_FIGURE_DATA)):
                    self.problems.append(f"<{tag} {name}={value[:40]}>")
            elif name == "style" and ("expression(" in value or "url(" in value):
                self.problems.append(f"<{tag} style={value[:40]}>")
        if tag == "img" and not any(k == "src" and (v or "").startswith(_FIGURE_DATA) for k, v in attrs):
            self.problems.append("<img> that is not an embedded figure")

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self.handle_starttag(tag, attrs)
        if tag == "style":
            self._raw_depth -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._raw_depth = max(0, self._raw_depth - 1)

    def handle_data(self, data: str) -> None:
        if not self._raw_depth:
            self.text.append(data)


def active_content(html: str) -> list[str]:
    """Every element, attribute or URL of the page that could run code (empty for a safe page)."""
    page = _Page()
    page.feed(html)
    page.close()
    return page.problems


def page_text(html: str) -> str:
    """The text a reader of the page sees (entities decoded, tags and style blocks left out)."""
    page = _Page()
    page.feed(html)
    page.close()
    return "".join(page.text)
