"""The demo in a real browser (issue 15, item 8): after ``seed_demo`` a demo
member signs in and finds their group full: threads with nested replies and
reactions, documents in folders with two versions, a past meeting with its
minutes and chat, the group's chat, an upcoming session and webinar."""

import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from accounts.management.commands.seed_demo import DEMO_PASSWORD

from .helpers import assert_no_browser_errors, login, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_demo_member_sees_threads_documents_meetings_and_chat(page, server):
    call_command("seed_demo", verbosity=0)
    login(page, server, "member1@example.org", DEMO_PASSWORD)
    page.get_by_role("link", name="Impact of multiple crises on migration and mobility").click()
    expect(page).to_have_url(f"{server}/groups/crises/")

    page.goto(f"{server}/groups/crises/threads/")
    page.get_by_role("link", name="Displacement after the 2023 earthquakes").click()
    expect(page.locator("h1")).to_have_text(
        "Displacement after the 2023 earthquakes: what the data shows"
    )
    expect(page.get_by_text("Mostly not in construction")).to_be_visible()
    # A reply to a reply to a reply, and reactions with their counts.
    expect(page.locator("article.post.depth-3")).not_to_have_count(0)
    expect(page.locator(".reaction-count").first).to_be_visible()
    expect(page.locator("a.mention", has_text="Lucía Fernández").first).to_be_visible()
    shot(page, "demo-thread")

    page.goto(f"{server}/groups/crises/documents/")
    page.get_by_role("link", name="Background reading").click()
    page.get_by_role("link", name="Reading list").click()
    expect(page.get_by_text("Added OECD and IDMC reports")).to_be_visible()
    expect(page.get_by_text("First list")).to_be_visible()
    shot(page, "demo-document")

    page.goto(f"{server}/groups/crises/meetings/")
    expect(page.get_by_text("Working session: draft recommendations")).to_be_visible()
    expect(page.get_by_text("Public webinar: Impact of multiple crises")).to_be_visible()
    page.get_by_role("link", name="Kick-off session").click()
    expect(page.get_by_text("The draft recommendations go to the whole group")).to_be_visible()
    expect(
        page.locator(".chat-message", has_text="Agreed. The minutes follow tomorrow.")
    ).to_be_visible()
    shot(page, "demo-meeting")

    page.goto(f"{server}/groups/crises/chat/")
    expect(
        page.locator(".chat-message", has_text="World Bank brief on remittances")
    ).to_be_visible()
    assert_no_browser_errors(page)


def test_demo_group_in_german_has_german_threads(page, server):
    call_command("seed_demo", verbosity=0)
    login(page, server, "member5@example.org", DEMO_PASSWORD)
    page.goto(f"{server}/groups/future-of-migration/threads/")
    expect(page.get_by_role("link", name=re.compile("Szenarien 2040"))).to_be_visible()
    assert_no_browser_errors(page)
