"""The way to two-factor authentication for moderators (issue 15, item 2):
said up front, no second password prompt right after signing in, and the
way back to the page of the action (``groups.decorators.mfa_gate``,
``groups:mfa_resume``)."""

import re
import time

import pytest
from django.core import mail
from django.urls import reverse

from discussions import services as discussions
from groups import services
from groups.adapter import SIGNED_IN_AT
from groups.decorators import MFA_RESUME
from groups.models import Role

from .conftest import enable_mfa, join

pytestmark = pytest.mark.django_db

MFA_NOTE = "Moderating needs two-factor authentication"


@pytest.fixture
def fresh_moderator(make_user, group):
    user = make_user("fresh@example.org", display_name="Fiona Fresh")
    join(user, group, Role.MODERATOR)
    return user


@pytest.fixture
def thread(group, member):
    return discussions.thread_create(actor=member, group=group, title="Visas", body="Hm?")


def test_dashboard_says_moderating_needs_2fa_if_moderator_without_it(client, fresh_moderator):
    client.force_login(fresh_moderator)
    assert MFA_NOTE in client.get(reverse("groups:dashboard")).text
    enable_mfa(fresh_moderator)
    assert MFA_NOTE not in client.get(reverse("groups:dashboard")).text


def test_dashboard_says_nothing_of_2fa_to_members(client, member):
    client.force_login(member)
    assert MFA_NOTE not in client.get(reverse("groups:dashboard")).text


def test_invitation_to_moderate_says_2fa_is_needed_and_to_member_does_not(
    group, moderator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.invitation_send(
            actor=moderator, group=group, email="m@example.org", role="moderator"
        )
        services.invitation_send(actor=moderator, group=group, email="n@example.org", role="member")
    by_address = {message.to[0]: message for message in mail.outbox}
    assert MFA_NOTE in by_address["m@example.org"].body
    assert MFA_NOTE in by_address["m@example.org"].alternatives[0][0]
    assert MFA_NOTE not in by_address["n@example.org"].body


def test_mfa_gate_remembers_the_page_a_post_came_from(client, fresh_moderator, thread):
    client.force_login(fresh_moderator)
    response = client.post(
        reverse("discussions:thread_moderate", args=[thread.pk]),
        {"action": "pin"},
        headers={"referer": f"http://testserver{thread.get_absolute_url()}?page=1"},
    )
    assert response.status_code == 302 and response.url == reverse("mfa_index")
    assert client.session[MFA_RESUME] == f"{thread.get_absolute_url()}?page=1"
    thread.refresh_from_db()
    assert not thread.pinned


def test_mfa_gate_remembers_nothing_if_the_post_came_from_elsewhere(
    client, fresh_moderator, thread
):
    client.force_login(fresh_moderator)
    client.post(
        reverse("discussions:thread_moderate", args=[thread.pk]),
        {"action": "pin"},
        headers={"referer": "https://evil.example.com/groups/"},
    )
    assert MFA_RESUME not in client.session


def test_mfa_gate_remembers_a_get_page_itself(client, fresh_moderator, group):
    client.force_login(fresh_moderator)
    url = reverse("groups:manage", args=[group.slug])
    client.get(url)
    assert client.session[MFA_RESUME] == url


def test_mfa_resume_leads_to_2fa_while_it_is_off(client, fresh_moderator, thread):
    client.force_login(fresh_moderator)
    session = client.session
    session[MFA_RESUME] = thread.get_absolute_url()
    session.save()
    response = client.get(reverse("groups:mfa_resume"))
    assert response.url == reverse("mfa_index")


def test_mfa_resume_returns_to_the_page_once_2fa_is_on(client, fresh_moderator, thread):
    enable_mfa(fresh_moderator)
    client.force_login(fresh_moderator)
    session = client.session
    session[MFA_RESUME] = thread.get_absolute_url()
    session.save()
    response = client.get(reverse("groups:mfa_resume"))
    assert response.url == thread.get_absolute_url()
    assert MFA_RESUME not in client.session
    # Used once: then home.
    assert client.get(reverse("groups:mfa_resume")).url == reverse("groups:dashboard")


def test_mfa_resume_goes_home_if_the_remembered_page_is_elsewhere(client, fresh_moderator):
    enable_mfa(fresh_moderator)
    client.force_login(fresh_moderator)
    session = client.session
    session[MFA_RESUME] = "//evil.example.com/"
    session.save()
    assert client.get(reverse("groups:mfa_resume")).url == reverse("groups:dashboard")


def test_activating_2fa_asks_no_password_right_after_sign_in(client, fresh_moderator):
    client.force_login(fresh_moderator)
    response = client.get(reverse("mfa_activate_totp"))
    assert response.status_code == 200 and "authenticator_secret" in response.text


def test_activating_2fa_asks_the_password_if_signed_in_long_ago(client, fresh_moderator):
    client.force_login(fresh_moderator)
    session = client.session
    session[SIGNED_IN_AT] = time.time() - 3600
    session.save()
    response = client.get(reverse("mfa_activate_totp"))
    assert response.status_code == 302 and "/reauthenticate/" in response.url


def test_mfa_gate_remembers_the_page_in_the_address_bar_for_htmx(client, fresh_moderator, thread):
    client.force_login(fresh_moderator)
    client.post(
        reverse("discussions:thread_moderate", args=[thread.pk]),
        {"action": "pin"},
        headers={
            "hx-request": "true",
            "hx-current-url": f"http://testserver{thread.get_absolute_url()}",
            "referer": "http://testserver/elsewhere/",
        },
    )
    assert client.session[MFA_RESUME] == thread.get_absolute_url()


def test_invitation_to_moderate_says_2fa_is_needed_on_the_sign_up_page(
    client, group, moderator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.invitation_send(
            actor=moderator, group=group, email="new@example.org", role="moderator"
        )
    link = re.search(r"http://[^/]+(/invitations/[^/\s]+/)", mail.outbox[-1].body).group(1)
    page = client.get(link, follow=True)
    assert page.request["PATH_INFO"] == reverse("account_signup")
    assert MFA_NOTE in page.text


def test_invitation_to_moderate_says_2fa_is_needed_on_the_accept_page(
    client, group, moderator, make_user, django_capture_on_commit_callbacks
):
    invitee = make_user("known@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        services.invitation_send(
            actor=moderator, group=group, email=invitee.email, role="moderator"
        )
    link = re.search(r"http://[^/]+(/invitations/[^/\s]+/)", mail.outbox[-1].body).group(1)
    client.force_login(invitee)
    assert MFA_NOTE in client.get(link).text
