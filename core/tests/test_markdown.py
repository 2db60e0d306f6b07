"""The one Markdown pipeline: raw HTML off, nh3 last."""

import re
from html.parser import HTMLParser

import pytest

from core.markdown import ALLOWED_TAGS, render


class ElementCollector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.elements = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))


def url_scheme(value: str) -> str:
    """The scheme a browser's URL parser finds in ``value`` ("" if relative):
    leading and trailing controls and spaces stripped, tabs and newlines dropped."""
    value = re.sub(r"[\t\n\r]", "", value.strip("".join(chr(c) for c in range(0x21))))
    match = re.match(r"([A-Za-z][A-Za-z0-9+.\-]*):", value)
    return match.group(1).lower() if match else ""


def assert_nothing_executable(html: str) -> None:
    """Parses the output as a browser would and finds no script, no event
    handler, no dangerous URL and no tag outside the allowed set."""
    collector = ElementCollector()
    collector.feed(html)
    for tag, attrs in collector.elements:
        assert tag in ALLOWED_TAGS, tag
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert name != "style", (tag, name)
            if name in {"href", "src"}:
                assert url_scheme(value or "") in {"", "http", "https", "mailto"}, (tag, value)


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "[click](&#106;avascript:alert(1))",
        "![x](javascript:alert(1))",
        '<a href="javascript:alert(1)">x</a>',
        "<svg onload=alert(1)>",
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    ],
)
def test_render_outputs_nothing_executable_if_source_is_hostile(source):
    assert_nothing_executable(render(source))


def test_render_keeps_markdown_formatting():
    html = render("**bold** _it_ `code`\n\n- a\n- b\n\n> quote")
    assert "<strong>bold</strong>" in html
    assert "<em>it</em>" in html
    assert "<code>code</code>" in html
    assert "<li>a</li>" in html
    assert "<blockquote>" in html


def test_render_marks_links_nofollow():
    assert 'rel="nofollow noopener noreferrer"' in render("[site](https://example.org)")


def test_render_aligns_table_cells_with_classes_not_styles():
    html = render("| a | b |\n|:-|-:|\n| 1 | 2 |")
    assert 'class="align-right"' in html
    assert "style=" not in html


def test_render_keeps_fenced_code_language_class():
    assert '<code class="language-python">' in render("```python\nx = 1\n```")


def _resolver(handle):
    return ("Mia <b>Member</b>", "/profile/1/") if handle == "mia-member" else None


def test_render_links_mention_with_escaped_display_name():
    html = render("Hi @mia-member.", mentions=_resolver)
    assert html == (
        '<p>Hi <a href="/profile/1/" class="mention" rel="nofollow noopener noreferrer">'
        "@Mia &lt;b&gt;Member&lt;/b&gt;</a>.</p>\n"
    )


@pytest.mark.parametrize(
    "source",
    ["`@mia-member`", "mail@mia-member.org", "@nobody", "```\n@mia-member\n```"],
)
def test_render_links_no_mention_in_code_email_or_if_unknown(source):
    assert "<a " not in render(source, mentions=_resolver)


def test_render_links_no_mention_inside_link_text():
    html = render("[ask @mia-member](https://example.org/q)", mentions=_resolver)
    assert html == (
        '<p><a href="https://example.org/q" rel="nofollow noopener noreferrer">'
        "ask @mia-member</a></p>\n"
    )


@pytest.mark.parametrize(
    "source",
    [
        "[x](java&#9;script:alert(1))",
        "[x](&#x6A;avascript&#x3A;alert(1))",
        "<javascript:alert(1)>",
        "[x][r]\n\n[r]: javascript:alert(1)",
        "[x](vbscript:msgbox(1))",
        "<svg><style><img src=x onerror=alert(1)></style></svg>",
        '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
        '<p style="width: expression(alert(1))">x</p>',
    ],
)
def test_render_outputs_nothing_executable_if_url_or_markup_is_disguised(source):
    assert_nothing_executable(render(source))
