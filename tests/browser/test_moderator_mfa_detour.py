"""The two-factor detour in a real browser (issue 15, item 2): a moderator
without two-factor authentication is told on their home that moderating
needs it; trying to pin a thread leads them to turn it on, without a second
password prompt moments after signing in, and back to the thread, where
pinning then works."""

import re

import pytest
from playwright.sync_api import expect

from discussions import services as discussions
from groups.models import Role
from tests.fixtures.people import join
from tests.totp import totp

from .helpers import assert_no_browser_errors, login, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_moderator_turns_on_2fa_without_password_again_and_returns_to_pin_the_thread(
    page, server, make_user, password, group, member
):
    moderator = make_user("fresh.moderator@example.org", display_name="Fiona Fresh")
    join(moderator, group, Role.MODERATOR)
    thread = discussions.thread_create(
        actor=member, group=group, title="Seasonal work visas", body="What do we know?"
    )

    login(page, server, moderator.email, password)
    notice = page.locator("#mfa-notice")
    expect(notice).to_contain_text("Moderating needs two-factor authentication")
    shot(page, "mfa-detour-dashboard-notice")

    thread_url = f"{server}{thread.get_absolute_url()}"
    page.goto(thread_url)
    page.get_by_text("Moderate", exact=True).click()
    page.get_by_role("button", name="Pin", exact=True).click()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/$"))
    expect(page.locator("#mfa-resume")).to_contain_text("Once it is on, you go back")

    page.get_by_role("link", name="Activate").click()
    # No second password prompt moments after signing in.
    expect(page).to_have_url(re.compile(r"/accounts/2fa/totp/activate/$"))
    expect(page.get_by_label("Password")).to_have_count(0)
    secret = page.locator("#authenticator_secret").input_value()
    page.get_by_label("Authenticator code").fill(totp(secret, fresh=True))
    page.get_by_role("button", name="Activate").click()

    expect(page).to_have_url(re.compile(r"/accounts/2fa/recovery-codes/$"))
    resume = page.locator("#mfa-resume")
    expect(resume).to_contain_text("Two-factor authentication is on")
    shot(page, "mfa-detour-recovery-codes")
    resume.get_by_role("link", name="Continue where you were").click()

    # Back on the thread (the POST is not replayed): pinning now works.
    expect(page).to_have_url(thread_url)
    thread.refresh_from_db()
    assert not thread.pinned
    page.get_by_text("Moderate", exact=True).click()
    page.get_by_role("button", name="Pin", exact=True).click()
    expect(page).to_have_url(thread_url)
    expect(page.locator(".badge-pinned")).to_be_visible()
    thread.refresh_from_db()
    assert thread.pinned
    # Once used, the way back is not offered again.
    page.goto(f"{server}/accounts/2fa/")
    expect(page.locator("#mfa-resume")).to_have_count(0)
    assert_no_browser_errors(page)
