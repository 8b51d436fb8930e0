"""The Markdown escaping helpers: any text, rendered as nbconvert renders a report, shows as itself and
adds no element, attribute or URL that runs code (property over random text plus the known attacks)."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from nbconvert.filters.markdown_mistune import markdown2html_mistune

from radiodiff_lib.report import markdown as md
from tests.helpers.hostile import HOSTILE_METRICS, IMG, LINK, SCRIPT, SVG, TICKS, active_content, page_text

ATTACKS = [SCRIPT, IMG, SVG, LINK, TICKS, "a|b", "``x``|<img src=x onerror=alert(1)>", "\\`<b>x</b>`\\",
           "<!-- x -->", "&lt;img src=x onerror=alert(2)&gt;", "1. - # title", "$x$ $$y$$", "<http://x>",
           "x\n\n<script>alert(3)</script>", "\\|<i onclick=alert(4)>x</i>", *HOSTILE_METRICS]
# any text: markup characters, backslashes and line breaks are drawn far more often than by chance
chars = st.one_of(st.sampled_from(list("<>`|[]()\\*_#!&$~{}=-+.: \n\r\t'\"/1")), st.characters())
any_text = st.one_of(st.sampled_from(ATTACKS), st.text(chars, max_size=40))


def render(markdown: str) -> str:
    return markdown2html_mistune(markdown)


def shown(value: str) -> str:
    """What a reader must see: the text with controls written out (md.visible), spaces as rendered."""
    return " ".join(md.visible(value).split())


def same_text(html: str, value: str) -> bool:
    return " ".join(page_text(html).split()) == shown(value)


@settings(max_examples=300, deadline=None)
@given(any_text)
def test_text_shows_itself_inline_and_at_a_line_start(value):
    for markdown, prefix in ((f"x {md.text(value)}", "x "), (md.text(value), ""), (f"- {md.text(value)}", "")):
        html = render(markdown)
        assert active_content(html) == [], (value, html)
        assert " ".join(page_text(html).split()) == " ".join((prefix + md.visible(value)).split()), (value, html)


@settings(max_examples=300, deadline=None)
@given(any_text)
def test_code_span_holds_any_text(value):
    html = render(f"see {md.code(value)} here")
    assert active_content(html) == [], (value, html)
    assert html.count("<code>") == 1, (value, html)
    assert (" ".join(page_text(html).split()) == " ".join(
        f"see {md.visible(value)} here".split())), (value, html)


@settings(max_examples=200, deadline=None)
@given(st.lists(any_text, min_size=1, max_size=4))
def test_table_keeps_its_shape_and_shows_every_cell(values):
    table = md.table(["name", "code"], [[v, md.code(v)] for v in values])
    html = render(table)
    assert active_content(html) == [], (values, html)
    assert html.count("<tr>") == len(values) + 1, (values, html)
    assert html.count("<td>") == 2 * len(values), (values, html)
    for v in values:
        assert shown(v) in " ".join(page_text(html).split()), (v, html)


@settings(max_examples=200, deadline=None)
@given(any_text)
def test_fenced_block_cannot_be_closed_from_inside(value):
    body = f"config:\n{value}\n```\n{IMG}\n~~~"
    html = render("before\n\n" + md.fenced(body, "yaml") + "\n\nafter")
    assert active_content(html) == [], (value, html)
    assert html.count("<pre") == 1, (value, html)
    assert html.rstrip().endswith("<p>after</p>"), (value, html)
    assert f"```\n{IMG}\n~~~" in page_text(html)  # the lines that try to close the block, shown as text


def test_known_attacks_are_escaped_in_the_markdown_itself():
    for value in ATTACKS:
        for out in (md.text(value), md.code(value)):
            assert "\n" not in out
        assert "<" not in md.text(value).replace("\\<", "")  # every < of a name is escaped in the .md
