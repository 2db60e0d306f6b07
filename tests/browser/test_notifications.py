"""Notifications in a real Chromium: member 2 mentions member 1, whose bell
counts up without a reload; the notification opens the post and the count
goes down, in the other tab too."""

import re

import pytest
from playwright.sync_api import expect

from discussions import services
from tests.browser.helpers import assert_no_browser_errors, login_with_session
from tests.fixtures.people import join

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_mention_counts_up_the_bell_live_and_opens_the_post(
    new_context, server, member, group, make_user
):
    second = make_user("second@example.org", display_name="Sam Second")
    join(second, group)
    thread = services.thread_create(actor=member, group=group, title="Pathways", body="What works?")
    reader_context, writer_context = new_context(), new_context()
    login_with_session(reader_context, server, member)
    login_with_session(writer_context, server, second)
    reader, other_tab = reader_context.new_page(), reader_context.new_page()
    writer = writer_context.new_page()
    for tab in (reader, other_tab):
        tab.goto(server + "/")
        expect(tab.locator("html[data-socket=open]")).to_have_count(1)
        expect(tab.locator("[data-bell-count]")).to_be_hidden()
        tab.evaluate("window.__notReloaded = true")

    writer.goto(server + f"/threads/{thread.pk}/reply/")
    writer.get_by_label("Your reply").fill("What do you think, @mia-member?")
    writer.get_by_role("button", name="Post reply").click()
    expect(writer.locator("article.post", has_text="What do you think")).to_be_visible()
    post = thread.posts.get(position=2)

    for tab in (reader, other_tab):
        expect(tab.locator("[data-bell-count]")).to_have_text("1")
        expect(tab.locator("[data-bell-count]")).to_be_visible()
        assert tab.evaluate("window.__notReloaded") is True

    reader.get_by_role("link", name=re.compile("^Notifications")).click()
    expect(reader.get_by_role("heading", level=1)).to_have_text("Notifications")
    item = reader.get_by_role("link", name="Sam Second mentioned you in “Pathways”")
    item.click()
    expect(reader).to_have_url(re.compile(rf"/threads/{thread.pk}/#post-{post.pk}$"))
    expect(reader.locator(f"#post-{post.pk}")).to_contain_text("What do you think")
    expect(reader.locator("[data-bell-count]")).to_be_hidden()
    # The tab left open hears of it over its stream as well.
    expect(other_tab.locator("[data-bell]")).to_have_attribute("data-count", "0")
    expect(other_tab.locator("[data-bell-count]")).to_be_hidden()
    assert other_tab.evaluate("window.__notReloaded") is True
    for tab in (reader, other_tab, writer):
        assert_no_browser_errors(tab)
