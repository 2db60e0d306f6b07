"""The posts of a thread in a real Chromium (issue 15, item 6): reactions
shown only when given, added through one menu; replies and quotes written
inline without leaving the thread (and on their own page without
JavaScript); quotes naming and linking their author; the edit history
showing what changed; one report per person and post; no "Hide" for a post
already hidden."""

import pytest
from playwright.sync_api import expect

from discussions import services
from discussions.models import Reaction, Report
from tests.browser.helpers import assert_no_browser_errors, login_with_session

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def thread(member, group):
    return services.thread_create(actor=member, group=group, title="Pathways", body="What works?")


@pytest.fixture
def opening(thread):
    return thread.posts.get(position=1)


def _signed_in(new_context, server, user, **options):
    context = new_context(**options)
    login_with_session(context, server, user)
    return context.new_page()


def test_reactions_show_only_those_given_and_one_menu_adds_one(
    new_context, server, member, guest, thread, opening
):
    services.reaction_toggle(actor=guest, post=opening, kind="heart")
    page = _signed_in(new_context, server, member)
    page.goto(server + thread.get_absolute_url())
    post = page.locator(f"#post-{opening.pk}")
    given = post.locator(".reactions > .reaction")
    expect(given).to_have_count(1)  # not five empty buttons
    expect(given).to_have_attribute("title", "Heart")
    expect(given.locator(".reaction-count")).to_have_text("1")
    expect(post.get_by_role("button", name="Celebrate")).to_be_hidden()

    post.locator("details.reaction-add summary").click()  # the one control
    post.locator(".reaction-menu").get_by_role("button", name="Celebrate").click()
    celebrate = page.locator(f"#post-{opening.pk} .reactions > .reaction[title=Celebrate]")
    expect(celebrate.locator(".reaction-count")).to_have_text("1")
    expect(celebrate).to_have_attribute("aria-pressed", "true")
    expect(page.locator(f"#post-{opening.pk} .reactions > .reaction")).to_have_count(2)
    assert page.url == server + thread.get_absolute_url()
    assert Reaction.objects.filter(post=opening, user=member, kind="celebrate").exists()
    # The menu's own reaction, chosen again, takes it back.
    page.locator(f"#post-{opening.pk} .reactions > .reaction[title=Celebrate]").click()
    expect(page.locator(f"#post-{opening.pk} .reactions > .reaction")).to_have_count(1)
    assert_no_browser_errors(page)


def test_reaction_menu_works_without_javascript(new_context, server, member, thread, opening):
    page = _signed_in(new_context, server, member, java_script_enabled=False)
    page.goto(server + thread.get_absolute_url())
    post = page.locator(f"#post-{opening.pk}")
    expect(post.locator(".reactions > .reaction")).to_have_count(0)
    post.locator("details.reaction-add summary").click()
    post.locator(".reaction-menu").get_by_role("button", name="Thumbs up").click()
    given = page.locator(f"#post-{opening.pk} .reactions > .reaction[title='Thumbs up']")
    expect(given.locator(".reaction-count")).to_have_text("1")
    assert Reaction.objects.filter(post=opening, user=member, kind="thumbs_up").exists()


def test_reply_is_written_inline_without_leaving_the_thread(
    new_context, server, member, guest, thread, opening
):
    services.post_create(actor=member, thread=thread, body="A later post")
    page = _signed_in(new_context, server, guest)
    thread_url = server + thread.get_absolute_url()
    page.goto(thread_url)
    page.evaluate("window.__notReloaded = true")
    post = page.locator(f"#post-{opening.pk}")
    post.locator(".post-actions").get_by_role("link", name="Reply", exact=True).click()
    slot = page.locator(f"#reply-slot-{opening.pk}")
    field = slot.get_by_label("Your reply")
    expect(field).to_be_focused()
    field.fill("Skills *partnerships*")
    slot.get_by_role("button", name="Preview").click()
    expect(slot.locator(f"#reply-preview-{opening.pk} em")).to_have_text("partnerships")
    slot.get_by_role("button", name="Post reply").click()
    expect(slot).to_contain_text("Your reply was posted.")
    reply = page.locator("article.post", has_text="Skills partnerships")
    expect(reply).to_be_visible()
    expect(reply).to_have_count(1)
    # In its place: under the post it answers, before the later post.
    order = page.locator("#posts > article.post").evaluate_all(
        "posts => posts.map(p => p.textContent.includes('Skills partnerships') ? 'reply'"
        " : p.textContent.includes('A later post') ? 'later' : 'opening')"
    )
    assert order == ["opening", "reply", "later"]
    assert page.url == thread_url
    assert page.evaluate("window.__notReloaded") is True
    new = thread.posts.get(position=3)
    assert new.parent_id == opening.pk and new.author_id == guest.pk
    assert_no_browser_errors(page)


def test_inline_reply_shows_an_error_in_place_and_saves_nothing(
    new_context, server, guest, thread, opening
):
    page = _signed_in(new_context, server, guest)
    page.goto(server + thread.get_absolute_url())
    page.locator(f"#post-{opening.pk} .post-actions").get_by_role("link", name="Reply").click()
    slot = page.locator(f"#reply-slot-{opening.pk}")
    slot.get_by_label("Your reply").fill("   ")
    slot.get_by_role("button", name="Post reply").click()
    expect(slot.locator(".errorlist")).to_be_visible()
    assert page.url == server + thread.get_absolute_url()
    assert thread.posts.count() == 1
    slot.get_by_role("button", name="Cancel").click()
    expect(slot.locator("form")).to_have_count(0)
    assert_no_browser_errors(page)


def test_reply_without_javascript_goes_to_the_reply_page_and_posts(
    new_context, server, guest, thread, opening
):
    page = _signed_in(new_context, server, guest, java_script_enabled=False)
    page.goto(server + thread.get_absolute_url())
    page.locator(f"#post-{opening.pk} .post-actions").get_by_role("link", name="Reply").click()
    expect(page).to_have_url(server + f"/threads/{thread.pk}/reply/?parent={opening.pk}")
    page.get_by_label("Your reply").fill("Without scripts")
    page.get_by_role("button", name="Post reply").click()
    expect(page.locator("article.post", has_text="Without scripts")).to_be_visible()
    assert thread.posts.get(position=2).parent_id == opening.pk


def test_quote_names_and_links_its_author(new_context, server, member, guest, thread, opening):
    page = _signed_in(new_context, server, guest)
    page.goto(server + thread.get_absolute_url())
    page.locator(f"#post-{opening.pk} .post-actions").get_by_role("link", name="Quote").click()
    field = page.locator(f"#reply-slot-{opening.pk}").get_by_label("Your reply")
    expect(field).to_have_value(
        f"> **{member}** [wrote](/posts/{opening.pk}/):\n>\n> What works?\n\n"
    )
    field.press("End")
    field.type("Training does.")
    page.locator(f"#reply-slot-{opening.pk}").get_by_role("button", name="Post reply").click()
    reply = page.locator("article.post", has_text="Training does.")
    quote = reply.locator(".post-body blockquote")
    expect(quote.locator("strong")).to_have_text(str(member))
    expect(quote.get_by_role("link", name="wrote")).to_have_attribute(
        "href", f"/posts/{opening.pk}/"
    )
    quote.get_by_role("link", name="wrote").click()
    expect(page).to_have_url(server + thread.get_absolute_url() + f"#post-{opening.pk}")
    assert_no_browser_errors(page)


def test_edit_history_shows_what_each_version_changed(new_context, server, member, thread, opening):
    services.post_edit(actor=member, post=opening, body="What works <b>for</b> whom?")
    page = _signed_in(new_context, server, member)
    page.goto(server + f"/posts/{opening.pk}/history/")
    latest = page.locator("#revision-2")
    expect(latest.locator("table.diff ins")).to_have_text([" <b>for</b> whom"])
    expect(latest.locator("table.diff del")).to_have_count(0)
    expect(latest.locator("table.diff b")).to_have_count(0)  # escaped, never markup
    expect(page.locator("#revision-1 table.diff")).to_have_count(0)
    expect(page.locator("#revision-1 .revision-body")).to_have_text("What works?")
    services.post_edit(actor=member, post=opening, body="What fails?")
    page.reload()
    newest = page.locator("#revision-3")
    expect(newest.locator("table.diff del")).to_contain_text(["works"])
    expect(newest.locator("table.diff ins")).to_contain_text(["fails"])
    assert_no_browser_errors(page)


def test_reporting_a_post_twice_makes_one_queue_entry(
    new_context, server, member, guest, thread, opening
):
    page = _signed_in(new_context, server, guest)
    report_url = server + f"/posts/{opening.pk}/report/"
    for attempt in range(2):
        page.goto(report_url)
        page.get_by_label("What is wrong with this post?").fill(f"Spam, attempt {attempt}")
        page.get_by_role("button", name="Send report").click()
    expect(page.locator(".errorlist")).to_contain_text("You have already reported this post")
    assert Report.objects.filter(post=opening, reporter=guest).count() == 1
    assert_no_browser_errors(page, expected=[".*status of 400.*"])


def test_hidden_post_offers_no_hide(new_context, server, moderator, guest, thread, opening, group):
    post = services.post_create(actor=guest, thread=thread, body="Off-topic rant")
    services.report_create(actor=opening.author, post=post, reason="Off topic")
    services.post_set_hidden(actor=moderator, post=post, hidden=True, reason="Stay on topic")
    page = _signed_in(new_context, server, moderator)
    page.goto(server + f"/groups/{group.slug}/reports/")
    report = page.locator(".report", has_text="Off topic")
    expect(report.get_by_role("link", name="Hide the post")).to_have_count(0)
    report.get_by_role("link", name="Show the post again").click()
    page.get_by_role("button", name="Show it again").click()
    post.refresh_from_db()
    assert post.hidden is False
    page.goto(server + thread.get_absolute_url())
    actions = page.locator(f"#post-{post.pk} .post-actions")
    expect(actions.get_by_role("link", name="Hide", exact=True)).to_be_visible()
    services.post_set_hidden(actor=moderator, post=post, hidden=True, reason="Again")
    page.reload()
    expect(actions.get_by_role("link", name="Hide", exact=True)).to_have_count(0)
    expect(actions.get_by_role("link", name="Unhide")).to_be_visible()
    page.goto(server + f"/groups/{group.slug}/reports/")
    expect(page.get_by_role("link", name="Hide the post")).to_have_count(0)
    assert_no_browser_errors(page)
