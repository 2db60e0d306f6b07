"""The reply form of a thread and the chat, used with the keyboard alone: the
Tab key reaches each field and its button, typing and Enter send, and what
was sent shows up (no mouse, no click)."""

import pytest
from playwright.sync_api import Page, expect

from discussions import services as discussion_services

from .helpers import assert_no_browser_errors, login_with_session

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MAX_TABS = 200


def tab_to(page: Page, selector: str) -> None:
    """Presses Tab until the element matching ``selector`` has the focus."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{MAX_TABS} presses of Tab never reached {selector}")


def test_reply_by_keyboard_alone(new_context, server, group, member):
    thread = discussion_services.thread_create(
        actor=member, group=group, title="Keyboard thread", body="The first post."
    )
    context = new_context()
    login_with_session(context, server, member)
    page = context.new_page()
    page.goto(f"{server}/threads/{thread.pk}/")
    tab_to(page, "#reply textarea")
    page.keyboard.type("Written without a mouse.")
    tab_to(page, "#reply button[type=submit]:not([formaction])")
    page.keyboard.press("Enter")
    expect(page.locator("#posts")).to_contain_text("Written without a mouse.")
    assert_no_browser_errors(page)


def test_chat_by_keyboard_alone(new_context, server, group, member):
    context = new_context()
    login_with_session(context, server, member)
    page = context.new_page()
    page.goto(f"{server}/groups/{group.slug}/chat/")
    expect(page.locator("html[data-socket=open]")).to_have_count(1)
    tab_to(page, "textarea[name=body], input[name=body]")
    page.keyboard.type("Hello from the keyboard")
    page.keyboard.press("Enter")
    expect(page.locator("[data-chat-messages] > li .chat-body")).to_have_text(
        ["Hello from the keyboard"]
    )
    assert_no_browser_errors(page)
