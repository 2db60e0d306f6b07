"""The one Markdown pipeline: raw HTML off, nh3 last."""

from html.parser import HTMLParser

import pytest

from core.markdown import ALLOWED_TAGS, render


class ElementCollector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.elements = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))


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
                scheme = (
                    (value or "").split(":", 1)[0].strip().lower() if ":" in (value or "") else ""
                )
                assert scheme in {"", "http", "https", "mailto"}, (tag, value)


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
