"""The groups pages through the real views: invitations, MFA, join requests."""

import datetime
import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from groups import services
from groups.models import Invitation, JoinRequest, Membership, Role, WorkingGroup

from .conftest import enable_mfa, join

pytestmark = pytest.mark.django_db


@pytest.fixture
def invite(moderator, group, django_capture_on_commit_callbacks):
    """Sends an invitation and returns (invitation, the link's path)."""

    def send(email, role="member", **extra):
        with django_capture_on_commit_callbacks(execute=True):
            invitation = services.invitation_send(
                actor=moderator, group=group, email=email, role=role, **extra
            )
        path = re.search(r"http://[^/]+(/invitations/[^/\s]+/)", mail.outbox[-1].body).group(1)
        return invitation, path

    return send


def test_new_person_signs_up_through_invitation_with_email_fixed_and_verified(
    client, invite, group
):
    until = timezone.now() + datetime.timedelta(days=20)
    _, link = invite("new.expert@example.org", role="guest", access_until=until)
    response = client.get(link)
    assert response["Location"] == reverse("account_signup")
    page = client.get(reverse("account_signup"))
    assert page.status_code == 200
    assert 'value="new.expert@example.org"' in page.text and "disabled" in page.text
    response = client.post(
        reverse("account_signup"),
        {
            "display_name": "Nora Expert",
            "email": "someone.else@example.org",  # ignored: the field is fixed
            "password1": "a-long-new-passphrase",
            "password2": "a-long-new-passphrase",
        },
    )
    assert response.status_code == 302, response.content
    user = User.objects.get(email="new.expert@example.org")
    assert user.display_name == "Nora Expert"
    assert EmailAddress.objects.get(user=user).verified
    membership = Membership.objects.get(user=user, group=group)
    assert membership.role == Role.GUEST and membership.expires_at == until
    assert client.session["_auth_user_id"] == str(user.pk)
    assert not User.objects.filter(email="someone.else@example.org").exists()
    # The link is used up.
    client.logout()
    assert client.get(link).status_code == 410


def test_signup_stays_closed_without_invitation(client):
    assert "Sign-up by invitation only" in client.get(reverse("account_signup")).text


def test_existing_user_is_asked_to_sign_in_then_accepts_with_one_click(
    client, invite, outsider, group
):
    _, link = invite(outsider.email)
    page = client.get(link)
    assert page.status_code == 200 and "Sign in to accept" in page.text
    client.force_login(outsider)
    page = client.get(link)
    assert "Accept invitation" in page.text
    assert not Membership.objects.filter(user=outsider).exists()  # GET changes nothing
    response = client.post(link)
    assert response["Location"] == group.get_absolute_url()
    assert Membership.objects.get(user=outsider, group=group).role == Role.MEMBER
    assert client.get(group.get_absolute_url()).status_code == 200


def test_invitation_link_shows_clear_page_if_expired(client, invite, outsider):
    invitation, link = invite(outsider.email)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now())
    page = client.get(link)
    assert page.status_code == 410 and "This invitation has expired" in page.text


def test_invitation_link_shows_clear_page_if_revoked(client, invite, outsider, moderator):
    invitation, link = invite(outsider.email)
    services.invitation_revoke(actor=moderator, invitation=invitation)
    client.force_login(outsider)
    page = client.post(link)
    assert page.status_code == 410 and "This invitation was withdrawn" in page.text
    assert not Membership.objects.filter(user=outsider).exists()


def test_invitation_link_shows_clear_page_if_used(client, invite, outsider):
    _, link = invite(outsider.email)
    client.force_login(outsider)
    client.post(link)
    page = client.get(link)
    assert page.status_code == 410 and "This invitation has been used" in page.text


def test_invitation_link_shows_clear_page_if_signed_in_as_someone_else(client, invite, member):
    _, link = invite("someone@example.org")
    client.force_login(member)
    page = client.post(link)
    assert page.status_code == 403 and "This invitation is for someone else" in page.text
    assert Invitation.objects.get().accepted_at is None


def test_invitation_link_of_unknown_token_is_not_found(client):
    page = client.get(reverse("groups:invitation", args=["x" * 43]))
    assert page.status_code == 404 and "Invitation not found" in page.text


def test_removal_takes_effect_on_the_next_request(client, moderator, member, group):
    client.force_login(member)
    assert client.get(group.get_absolute_url()).status_code == 200
    services.membership_revoke(actor=moderator, membership=member.memberships.get(group=group))
    assert client.get(group.get_absolute_url()).status_code == 404


def test_role_change_takes_effect_on_the_next_request(client, moderator, member, group):
    enable_mfa(member)
    client.force_login(member)
    manage = reverse("groups:manage", args=[group.slug])
    assert client.get(manage).status_code == 403
    client.force_login(moderator)
    response = client.post(
        reverse("groups:membership_role", args=[group.slug, member.memberships.get().pk]),
        {"role": "moderator"},
    )
    assert response.status_code == 302
    client.force_login(member)
    assert client.get(manage).status_code == 200


def test_guest_loses_access_at_once_when_access_ends(client, guest, group):
    client.force_login(guest)
    assert client.get(group.get_absolute_url()).status_code == 200
    Membership.objects.filter(user=guest).update(expires_at=timezone.now())
    assert client.get(group.get_absolute_url()).status_code == 404


def test_moderator_without_mfa_is_led_to_enrol_before_any_moderator_action(
    client, make_user, group
):
    moderator = make_user("nomfa@example.org")
    join(moderator, group, Role.MODERATOR)
    client.force_login(moderator)
    for name in ["groups:manage", "groups:settings", "groups:audit", "groups:invite_many"]:
        response = client.get(reverse(name, args=[group.slug]))
        assert response["Location"] == reverse("mfa_index"), name
    response = client.post(
        reverse("groups:invite", args=[group.slug]),
        {"email": "x@example.org", "role": "member", "language": "en"},
    )
    assert response["Location"] == reverse("mfa_index")
    assert not Invitation.objects.exists()
    enable_mfa(moderator)
    assert client.get(reverse("groups:manage", args=[group.slug])).status_code == 200


def test_group_settings_saves_the_changes_and_audits_them(client, moderator, group):
    client.force_login(moderator)
    response = client.post(
        reverse("groups:settings", args=[group.slug]),
        {"name": "Fair and safe migration", "description": "New theme", "public_summary": ""},
    )
    assert response.status_code == 302
    group.refresh_from_db()
    assert (group.name, group.description) == ("Fair and safe migration", "New theme")
    entry = group.audit_entries.get(action="group.updated")
    assert entry.summary == "name, description"


def test_join_request_queue_leads_moderator_without_mfa_to_enrol(client, make_user, group):
    moderator = make_user("nomfa@example.org")
    join(moderator, group, Role.MODERATOR)
    JoinRequest.objects.create(
        name="Jo Applicant", email="jo@example.org", motivation="Hello", group=group
    )
    client.force_login(moderator)
    response = client.get(reverse("groups:join_requests"))
    assert response["Location"] == reverse("mfa_index")
    enable_mfa(moderator)
    assert "jo@example.org" in client.get(reverse("groups:join_requests")).text


def test_organiser_without_mfa_is_led_to_enrol_before_creating_a_group(client, make_user):
    organiser = make_user("staff@example.org", is_staff=True)
    client.force_login(organiser)
    response = client.post(reverse("groups:create"), {"name": "New", "slug": "new"})
    assert response["Location"] == reverse("mfa_index")
    assert not WorkingGroup.objects.filter(slug="new").exists()


def test_organiser_without_mfa_is_led_to_enrol_before_the_admin(client, make_user):
    organiser = make_user("staff@example.org", is_staff=True, is_superuser=True)
    client.force_login(organiser)
    assert client.get("/admin/")["Location"] == reverse("mfa_index")
    enable_mfa(organiser)
    assert client.get("/admin/").status_code == 200


def test_invite_form_shows_field_errors_and_sends_nothing(client, moderator, group):
    client.force_login(moderator)
    response = client.post(
        reverse("groups:invite", args=[group.slug]),
        {"email": "not-an-address", "role": "guest", "language": "en"},
    )
    assert response.status_code == 400
    assert "Enter a valid email address." in response.text
    assert "A guest&#x27;s access needs an end date." in response.text
    assert not Invitation.objects.exists()
    assert mail.outbox == []


def test_bulk_invite_page_shows_a_result_per_address(client, moderator, group, member):
    client.force_login(moderator)
    response = client.post(
        reverse("groups:invite_many", args=[group.slug]),
        {"emails": f"a@example.org\nbroken\n{member.email}", "role": "member", "language": "en"},
    )
    assert response.status_code == 200
    assert response.text.count('class="result result-sent"') == 1
    assert response.text.count('class="result result-error"') == 2
    assert "This person is already in the group." in response.text


def test_join_request_form_stores_request_and_thanks(client, group):
    response = client.post(
        reverse("groups:join"),
        {
            "name": "Jo",
            "email": "jo@example.org",
            "group": group.pk,
            "motivation": "Research",
            "consent": "on",
        },
    )
    assert response["Location"] == reverse("groups:join_thanks")
    assert JoinRequest.objects.get().email == "jo@example.org"


def test_join_request_form_needs_consent_and_changes_nothing(client, group):
    response = client.post(
        reverse("groups:join"),
        {"name": "Jo", "email": "jo@example.org", "group": group.pk, "motivation": "Research"},
    )
    assert response.status_code == 400
    assert 'id="id_consent_error"' in response.text
    assert not JoinRequest.objects.exists()


def test_join_request_form_is_rate_limited(client, group, settings):
    settings.JOIN_REQUEST_RATE_LIMIT = "2/3600"
    data = {
        "name": "Jo",
        "email": "jo@example.org",
        "group": group.pk,
        "motivation": "x",
        "consent": "on",
    }
    for _ in range(2):
        assert client.post(reverse("groups:join"), data).status_code == 302
    response = client.post(reverse("groups:join"), data)
    assert response.status_code == 429
    assert JoinRequest.objects.count() == 2


def test_join_request_queue_lets_moderator_accept(
    client, moderator, group, django_capture_on_commit_callbacks
):
    join_request = JoinRequest.objects.create(
        name="Jo", email="jo@example.org", motivation="x", group=group
    )
    client.force_login(moderator)
    assert "Jo" in client.get(reverse("groups:join_requests")).text
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("groups:join_request_detail", args=[join_request.pk]), {"decision": "accept"}
        )
    assert response.status_code == 302
    join_request.refresh_from_db()
    assert join_request.status == "accepted"
    assert Invitation.objects.filter(email="jo@example.org", group=group).exists()


def test_leave_group_ends_membership(client, member, moderator, group):
    client.force_login(member)
    response = client.post(reverse("groups:leave", args=[group.slug]))
    assert response["Location"] == reverse("groups:dashboard")
    assert client.get(group.get_absolute_url()).status_code == 404


def test_membership_remove_of_oneself_is_refused_and_changes_nothing(
    client, group, moderator, make_user
):
    # Another moderator: the last-moderator rule is not what refuses here.
    join(make_user("second@example.org"), group, Role.MODERATOR)
    own = moderator.memberships.get(group=group)
    client.force_login(moderator)
    url = reverse("groups:membership_remove", args=[group.slug, own.pk])
    assert client.get(url).status_code == 403
    assert client.post(url).status_code == 403
    own.refresh_from_db()
    assert own.active and own.role == Role.MODERATOR
