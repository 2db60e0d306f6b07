"""The one Markdown pipeline: raw HTML off, nh3 last."""

import pytest

from core.markdown import render


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
    html = render(source).lower()
    assert "<script" not in html
    assert "onerror=" not in html and "onload=" not in html
    assert 'href="javascript:' not in html and 'src="javascript:' not in html
    assert "data:text/html" not in html or "href=" not in html


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
