"""Discussions in a real Chromium: two members in one thread, one replies and
the other sees it appear without reload; edits, hides, reactions and a lock
arrive the same way."""

import pytest
from playwright.sync_api import expect

from discussions import services
from tests.browser.helpers import assert_no_browser_errors, login_with_session

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_reply_appears_for_other_member_without_reload(new_context, server, member, guest, group):
    thread = services.thread_create(actor=member, group=group, title="Pathways", body="What works?")
    opening = thread.posts.get()
    reader_context, writer_context = new_context(), new_context()
    login_with_session(reader_context, server, member)
    login_with_session(writer_context, server, guest)
    reader, writer = reader_context.new_page(), writer_context.new_page()
    reader.goto(server + thread.get_absolute_url())
    expect(reader.locator("html[data-socket=open]")).to_have_count(1)
    reader.evaluate("window.__notReloaded = true")

    writer.goto(server + f"/threads/{thread.pk}/reply/?parent={opening.pk}")
    writer.get_by_label("Your reply").fill("Skills *partnerships*")
    writer.get_by_role("button", name="Preview").click()  # htmx, nothing saved
    expect(writer.locator("#reply-preview em")).to_have_text("partnerships")
    writer.get_by_role("button", name="Post reply").click()
    expect(writer.locator("article.post", has_text="Skills partnerships")).to_be_visible()

    arrived = reader.locator("article.post", has_text="Skills partnerships")
    expect(arrived).to_be_visible()
    expect(arrived).to_have_class("post depth-1 post-new post-arrived")
    assert reader.evaluate("window.__notReloaded") is True
    # A reaction, then an edit, reach the reader the same way.
    writer.locator(f"#post-{opening.pk} details.reaction-add summary").click()
    writer.locator(f"#post-{opening.pk} .reaction-menu button[title=Heart]").click()
    heart_count = reader.locator(
        f"#post-{opening.pk} .reactions > button[title=Heart] .reaction-count"
    )
    expect(heart_count).to_have_text("1")
    post = thread.posts.get(position=2)
    writer.goto(server + f"/posts/{post.pk}/edit/")
    writer.get_by_label("Text").fill("Skills partnerships, revised")
    writer.get_by_role("button", name="Save changes").click()
    expect(reader.locator(f"#post-{post.pk}")).to_contain_text("revised")
    assert reader.evaluate("window.__notReloaded") is True
    assert_no_browser_errors(reader)
    assert_no_browser_errors(writer)


def test_hide_and_lock_reach_a_member_without_reload(
    new_context, server, member, guest, moderator, group
):
    thread = services.thread_create(actor=member, group=group, title="Pathways", body="What works?")
    post = services.post_create(actor=guest, thread=thread, body="Off-topic rant")
    reader_context, moderator_context = new_context(), new_context()
    login_with_session(reader_context, server, member)
    login_with_session(moderator_context, server, moderator)
    reader, mod = reader_context.new_page(), moderator_context.new_page()
    reader.goto(server + thread.get_absolute_url())
    expect(reader.locator("html[data-socket=open]")).to_have_count(1)

    mod.goto(server + f"/posts/{post.pk}/hide/")
    mod.get_by_label("Reason").fill("Please stay on topic")
    mod.get_by_role("button", name="Hide").click()
    expect(reader.locator(f"#post-{post.pk}")).to_contain_text("Hidden by a moderator")
    expect(reader.locator(f"#post-{post.pk}")).not_to_contain_text("rant")

    mod.goto(server + thread.get_absolute_url())
    mod.locator("details.moderation summary").click()
    mod.get_by_role("button", name="Lock").click()
    expect(reader.locator(".live-notice")).to_contain_text("locked")
    expect(reader.locator("#reply form")).to_have_count(0)
    assert_no_browser_errors(reader)
    assert_no_browser_errors(mod)
