"""Inviting a guest, end to end: a moderator with two-factor authentication sends
the invitation, the guest follows the emailed link, signs up and sees exactly
the group they were invited to."""

import base64
import datetime
import re
import secrets

import pytest
from allauth.mfa.totp.internal.auth import TOTP
from django.utils import timezone, translation
from django.utils.formats import date_format
from playwright.sync_api import expect

from groups.models import Invitation, Membership, Role, WorkingGroup

from .helpers import NOT_FOUND_ERROR, assert_no_browser_errors, login_with_totp, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

GUEST_EMAIL = "gwen.guest@example.org"
GUEST_NAME = "Gwen Guest"
GUEST_PASSWORD = "a-long-guest-passphrase-7"


@pytest.fixture
def group_a(db):
    return WorkingGroup.objects.create(
        name="Labour mobility", slug="labour-mobility", description="Fair recruitment."
    )


@pytest.fixture
def group_b(make_user):
    group = WorkingGroup.objects.create(name="Climate displacement", slug="climate-displacement")
    for email, name, role in [
        ("bea@example.org", "Bea Bystander", Role.MODERATOR),
        ("bo@example.org", "Bo Background", Role.MEMBER),
    ]:
        Membership.objects.create(user=make_user(email, display_name=name), group=group, role=role)
    return group


@pytest.fixture
def totp_secret():
    return base64.b32encode(secrets.token_bytes(20)).decode()


@pytest.fixture
def moderator(make_user, group_a, totp_secret):
    """Moderates group A, with a TOTP authenticator stored the way allauth
    stores one after enrolment."""
    user = make_user("mona@example.org", display_name="Mona Moderator")
    TOTP.activate(user, totp_secret)
    Membership.objects.create(user=user, group=group_a, role=Role.MODERATOR)
    return user


@pytest.fixture
def member_a(make_user, group_a):
    user = make_user("ali@example.org", display_name="Ali Alpha")
    Membership.objects.create(user=user, group=group_a, role=Role.MEMBER)
    return user


def _background(locator) -> str:
    return locator.evaluate("element => getComputedStyle(element).backgroundColor")


def test_invited_guest_signs_up_and_sees_only_the_inviting_group(
    page,
    new_context,
    server,
    mailbox,
    password,
    totp_secret,
    moderator,
    member_a,
    group_a,
    group_b,
):
    # The moderator signs in with password and authenticator code.
    login_with_totp(page, server, moderator.email, password, totp_secret)
    page.goto(server + group_a.get_absolute_url())
    page.get_by_role("link", name="Manage membership").click()
    expect(page).to_have_url(f"{server}/groups/{group_a.slug}/manage/")
    expect(page.locator("h1")).to_have_text(f"Membership of {group_a.name}")

    # The invite form: a guest, whose access ends in 30 days, invited in English.
    access_end = timezone.localdate() + datetime.timedelta(days=30)
    form = page.get_by_role("region", name="Invite someone")
    form.get_by_label("Email address").fill(GUEST_EMAIL)
    form.get_by_label("Role", exact=True).select_option(label="Guest")
    form.get_by_label("Guest access ends").fill(access_end.isoformat())
    form.get_by_label("Language of the invitation").select_option(label="English")
    shot(page, "invite-filled")
    form.get_by_role("button", name="Send invitation").click()

    expect(page).to_have_url(f"{server}/groups/{group_a.slug}/manage/")
    expect(page.get_by_role("status")).to_contain_text(f"An invitation was sent to {GUEST_EMAIL}.")
    pending = page.get_by_role("region", name="Pending invitations")
    expect(pending.get_by_role("row", name=GUEST_EMAIL)).to_contain_text("Guest")
    assert_no_browser_errors(page)

    invitation = Invitation.objects.get(group=group_a, email=GUEST_EMAIL)
    assert invitation.role == Role.GUEST
    assert invitation.language == "en"
    assert timezone.localtime(invitation.access_until).date() == access_end

    # The email, as the server wrote it: English, with a link back to the server.
    message = mailbox.wait_for(to=GUEST_EMAIL)
    assert group_a.name in message["Subject"]
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert f"{moderator.display_name} invites you to the working group" in text
    with translation.override("en"):
        assert f"Your access lasts until {date_format(access_end)}." in text
    links = re.findall(r"https?://\S+/invitations/[\w-]+/", text)
    assert len(links) == 1, text
    link = links[0]
    assert link.startswith(server + "/invitations/")
    html = message.get_body(preferencelist=("html",)).get_content()
    assert f'href="{link}"' in html

    # The guest, in a browser of their own, follows the link to the sign-up.
    guest_page = new_context().new_page()
    guest_page.goto(link)
    expect(guest_page).to_have_url(server + "/accounts/signup/")
    email_field = guest_page.get_by_label("Email")
    expect(email_field).to_be_disabled()
    expect(email_field).to_have_value(GUEST_EMAIL)
    # Fixed, and visibly so: it does not look like the fields to fill in.
    assert _background(email_field) != _background(guest_page.get_by_label("Display name"))
    guest_page.get_by_label("Display name").fill(GUEST_NAME)
    guest_page.get_by_label("Password", exact=True).fill(GUEST_PASSWORD)
    guest_page.get_by_label("Password (again)").fill(GUEST_PASSWORD)
    shot(guest_page, "invitation-signup")
    assert_no_browser_errors(guest_page)
    guest_page.get_by_role("button", name="Sign Up").click()

    # Signed in, and the dashboard shows group A and nothing of group B.
    expect(guest_page).to_have_url(server + "/")
    expect(guest_page.get_by_role("heading", level=1, name="My groups")).to_be_visible()
    expect(guest_page.locator("main")).to_contain_text(GUEST_NAME)
    expect(guest_page.locator(".group-card")).to_have_count(1)
    expect(guest_page.locator(".group-card")).to_contain_text(group_a.name)
    expect(guest_page.locator(".group-card")).to_contain_text("Guest")
    assert group_b.name not in guest_page.content()
    shot(guest_page, "invitation-dashboard")
    assert_no_browser_errors(guest_page)

    guest = Membership.objects.get(group=group_a, user__email=GUEST_EMAIL)
    assert guest.role == Role.GUEST
    assert timezone.localtime(guest.expires_at).date() == access_end
    invitation.refresh_from_db()
    assert invitation.accepted_by == guest.user

    # Group A's member directory: its members, none of group B's.
    guest_page.goto(f"{server}/groups/{group_a.slug}/members/")
    expect(guest_page.locator("h1")).to_have_text(f"Members of {group_a.name}")
    names = guest_page.locator(".member-card h2")
    expect(names).to_have_count(3)
    assert sorted(names.all_inner_texts()) == sorted(
        [moderator.display_name, member_a.display_name, GUEST_NAME]
    )
    assert "Bea Bystander" not in guest_page.content()
    assert_no_browser_errors(guest_page)

    # Group B does not exist for the guest: a 404 that names nothing of it.
    # (The server runs with DEBUG, which shows Django's "Page not found" page.)
    response = guest_page.goto(f"{server}/groups/{group_b.slug}/")
    assert response.status == 404
    expect(guest_page.locator("h1")).to_have_text(re.compile("not found", re.IGNORECASE))
    content = guest_page.content()
    assert group_b.name not in content
    assert "Bea Bystander" not in content
    # The 404 itself is the only thing the browser may complain about.
    assert_no_browser_errors(guest_page, expected=[NOT_FOUND_ERROR])
