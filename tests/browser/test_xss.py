"""Hostile posts in a real Chromium: written through the real reply form, shown
to another member, and nothing of them runs — no dialog, no script, no CSP
violation."""

import pytest
from playwright.sync_api import expect

from discussions import services
from tests.browser.helpers import assert_no_browser_errors, login_with_session

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAYLOADS = [
    "<script>alert('script')</script>",
    "<img src=x onerror=alert('img')>",
    "[click me](javascript:alert('link'))",
    "[entity](&#106;avascript:alert('entity'))",
    "<svg><script>alert('svg')</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert('mxss')>",
    "<a href=\"javascript:alert('raw')\">raw</a>",
    "![pic](javascript:alert('image'))",
    "<iframe src=\"javascript:alert('frame')\"></iframe>",
    "<details open ontoggle=alert('toggle')>",
    "<javascript:alert('autolink')>",
    '[quote](https://example.org "a\\" onmouseover=\\"alert(1)")',
]


def test_hostile_posts_run_nothing_in_the_browser(new_context, server, member, guest, group):
    thread = services.thread_create(actor=member, group=group, title="Payloads", body="Start")
    writer_context = new_context()
    login_with_session(writer_context, server, guest)
    writer = writer_context.new_page()
    dialogs = []
    writer.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    for payload in PAYLOADS[:4]:  # through the real form: preview, then post
        writer.goto(server + f"/threads/{thread.pk}/reply/")
        writer.get_by_label("Your reply").fill(payload)
        writer.get_by_role("button", name="Preview").click()
        writer.get_by_role("button", name="Post reply").click()
        expect(writer.locator("article.post").last).to_be_visible()
    for payload in PAYLOADS[4:]:
        services.post_create(actor=guest, thread=thread, body=payload)

    reader_context = new_context()
    login_with_session(reader_context, server, member)
    reader = reader_context.new_page()
    reader.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    reader.goto(server + thread.get_absolute_url())
    expect(reader.locator("article.post")).to_have_count(len(PAYLOADS) + 1)
    # Hover and click everything a payload might have turned into a handler.
    for link in reader.locator("article.post a").all():
        link.hover()
    reader.wait_for_timeout(300)

    assert dialogs == []
    injected = reader.evaluate(
        """() => [...document.querySelectorAll('article.post *')].filter(
            (el) => ['SCRIPT', 'IFRAME', 'SVG', 'MATH', 'STYLE', 'OBJECT', 'EMBED']
                .includes(el.tagName.toUpperCase())
                || [...el.attributes].some((a) => a.name.startsWith('on')
                || /^\\s*javascript:/i.test(a.value))).length"""
    )
    assert injected == 0
    assert_no_browser_errors(reader)
    assert_no_browser_errors(writer)
