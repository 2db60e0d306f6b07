"""Services: each checks permission, writes an audit entry, publishes after commit."""

import datetime

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from groups import services
from groups.models import AuditEntry, Invitation, JoinRequest, Membership, Role

pytestmark = pytest.mark.django_db

SOON = timezone.now() + datetime.timedelta(days=10)


def test_membership_create_adds_member_audits_and_publishes(
    group, moderator, outsider, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        membership = services.membership_create(
            actor=moderator, group=group, user=outsider, role=Role.MEMBER
        )
    assert membership.is_valid
    assert AuditEntry.objects.filter(group=group, action="membership.created").exists()
    changed = {"group": group.pk, "user": outsider.pk, "role": "member", "active": True}
    assert (f"group:{group.pk}", "membership.changed", changed) in published
    assert (f"user:{outsider.pk}", "membership.created", {"group": group.pk}) in published


def test_membership_create_denied_and_silent_if_actor_is_member(
    group, member, outsider, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(PermissionDenied):
        services.membership_create(actor=member, group=group, user=outsider, role=Role.MEMBER)
    assert not Membership.objects.filter(user=outsider).exists()
    assert published == []


def test_membership_create_requires_end_date_if_guest(group, moderator, outsider):
    with pytest.raises(ValidationError):
        services.membership_create(actor=moderator, group=group, user=outsider, role=Role.GUEST)


def test_events_are_not_sent_if_transaction_rolls_back(
    group, moderator, outsider, published, django_capture_on_commit_callbacks
):
    from django.db import transaction

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.membership_create(actor=moderator, group=group, user=outsider, role="member")
        raise RuntimeError("boom")
    assert callbacks == []
    assert published == []
    assert not Membership.objects.filter(user=outsider).exists()


def test_membership_revoke_ends_access_and_tells_the_person(
    group, moderator, member, published, django_capture_on_commit_callbacks
):
    membership = member.memberships.get(group=group)
    with django_capture_on_commit_callbacks(execute=True):
        services.membership_revoke(actor=moderator, membership=membership)
    membership.refresh_from_db()
    assert not membership.active
    assert (f"user:{member.pk}", "membership.revoked", {"group": group.pk}) in published
    assert AuditEntry.objects.filter(action="membership.revoked", actor=moderator).exists()


def test_membership_revoke_denied_if_actor_is_moderator_elsewhere(group, member, other_moderator):
    with pytest.raises(PermissionDenied):
        services.membership_revoke(
            actor=other_moderator, membership=member.memberships.get(group=group)
        )
    assert member.memberships.get(group=group).active


def test_last_moderator_can_neither_leave_nor_be_demoted(group, moderator, organiser):
    membership = moderator.memberships.get(group=group)
    with pytest.raises(ValidationError):
        services.membership_leave(actor=moderator, group=group)
    with pytest.raises(ValidationError):
        services.membership_change_role(actor=organiser, membership=membership, role="member")
    membership.refresh_from_db()
    assert membership.active and membership.role == Role.MODERATOR


def test_membership_change_role_to_guest_needs_end_date(group, moderator, member):
    membership = member.memberships.get(group=group)
    with pytest.raises(ValidationError):
        services.membership_change_role(actor=moderator, membership=membership, role="guest")
    services.membership_change_role(
        actor=moderator, membership=membership, role="guest", expires_at=SOON
    )
    membership.refresh_from_db()
    assert membership.role == Role.GUEST and membership.expires_at == SOON


def test_membership_extend_moves_guest_end(group, moderator, guest):
    membership = guest.memberships.get(group=group)
    later = timezone.now() + datetime.timedelta(days=90)
    services.membership_extend(actor=moderator, membership=membership, expires_at=later)
    membership.refresh_from_db()
    assert membership.expires_at == later


def test_membership_extend_restores_an_expired_guest(group, moderator, expired_guest):
    from groups.permissions import is_member

    membership = expired_guest.memberships.get(group=group)
    assert not is_member(expired_guest, group)
    services.membership_extend(actor=moderator, membership=membership, expires_at=SOON)
    assert is_member(expired_guest, group)


def test_invitation_send_emails_text_and_html_in_the_invitees_language(
    group, moderator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invitation = services.invitation_send(
            actor=moderator, group=group, email="Neu@Example.org", role="member", language="de"
        )
    assert invitation.email == "neu@example.org"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["neu@example.org"]
    assert "Einladung" in message.subject
    assert "/invitations/" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and "/invitations/" in html
    assert '<html lang="de">' in html
    # Only the hash of the token is stored.
    token = message.body.split("/invitations/")[1].split("/")[0]
    assert token not in invitation.token_hash
    assert Invitation.objects.by_token(token).get() == invitation


def test_invitation_send_refuses_member_and_duplicate(group, moderator, member):
    with pytest.raises(ValidationError):
        services.invitation_send(actor=moderator, group=group, email=member.email, role="member")
    services.invitation_send(actor=moderator, group=group, email="a@example.org", role="member")
    with pytest.raises(ValidationError):
        services.invitation_send(actor=moderator, group=group, email="A@example.org", role="member")


def test_invitation_send_denied_if_actor_is_guest(group, guest):
    with pytest.raises(PermissionDenied):
        services.invitation_send(actor=guest, group=group, email="a@example.org", role="member")
    assert not Invitation.objects.exists()


def test_invitation_send_many_reports_each_address(group, moderator, member):
    results = services.invitation_send_many(
        actor=moderator,
        group=group,
        emails_text=f"a@example.org, not-an-address\n{member.email}; a@example.org b@example.org",
        role="member",
    )
    outcomes = [(address, outcome) for address, outcome, _ in results]
    assert outcomes == [
        ("a@example.org", "sent"),
        ("not-an-address", "error"),
        (member.email, "error"),
        ("a@example.org", "error"),
        ("b@example.org", "sent"),
    ]
    assert set(Invitation.objects.values_list("email", flat=True)) == {
        "a@example.org",
        "b@example.org",
    }


def test_invitation_resend_invalidates_the_old_link(group, moderator, outsider):
    invitation = services.invitation_send(
        actor=moderator, group=group, email=outsider.email, role="member"
    )
    old_hash = invitation.token_hash
    services.invitation_resend(actor=moderator, invitation=invitation)
    invitation.refresh_from_db()
    assert invitation.token_hash != old_hash


def test_invitation_accept_adds_membership_once(
    group, moderator, outsider, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.invitation_send(
            actor=moderator, group=group, email=outsider.email, role="guest", access_until=SOON
        )
    token = mail.outbox[0].body.split("/invitations/")[1].split("/")[0]
    membership = services.invitation_accept(user=outsider, token=token)
    assert membership.role == Role.GUEST and membership.expires_at == SOON
    with pytest.raises(services.InvitationUnusable) as used:
        services.invitation_accept(user=outsider, token=token)
    assert used.value.reason == "accepted"


def test_invitation_accept_denied_if_email_differs(
    group, moderator, outsider, member, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.invitation_send(actor=moderator, group=group, email=outsider.email, role="member")
    token = mail.outbox[0].body.split("/invitations/")[1].split("/")[0]
    other = member
    with pytest.raises(PermissionDenied):
        services.invitation_accept(user=other, token=token)
    assert Invitation.objects.get().accepted_at is None


def test_join_request_decide_accept_sends_invitation(
    group, moderator, django_capture_on_commit_callbacks
):
    join_request = JoinRequest.objects.create(
        name="Jo", email="jo@example.org", motivation="x", group=group, language="de"
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.join_request_decide(actor=moderator, join_request=join_request, accept=True)
    join_request.refresh_from_db()
    assert join_request.status == "accepted" and join_request.handled_by == moderator
    invitation = Invitation.objects.get(email="jo@example.org")
    assert invitation.role == Role.MEMBER and invitation.language == "de"
    assert mail.outbox[0].to == ["jo@example.org"]


def test_join_request_decide_decline_sends_the_message(
    group, moderator, django_capture_on_commit_callbacks
):
    join_request = JoinRequest.objects.create(
        name="Jo", email="jo@example.org", motivation="x", group=group
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.join_request_decide(
            actor=moderator, join_request=join_request, accept=False, message="The group is full."
        )
    join_request.refresh_from_db()
    assert join_request.status == "declined"
    assert not Invitation.objects.exists()
    assert "The group is full." in mail.outbox[0].body
    with pytest.raises(ValidationError):
        services.join_request_decide(actor=moderator, join_request=join_request, accept=True)


def test_join_request_decide_denied_if_moderator_of_another_group(group, other_moderator):
    join_request = JoinRequest.objects.create(
        name="Jo", email="jo@example.org", motivation="x", group=group
    )
    with pytest.raises(PermissionDenied):
        services.join_request_decide(actor=other_moderator, join_request=join_request, accept=True)
    join_request.refresh_from_db()
    assert join_request.status == "pending"


def test_group_update_audits_and_publishes(
    group, moderator, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.group_update(actor=moderator, group=group, data={"name": "Renamed"})
    assert group.name == "Renamed"
    assert AuditEntry.objects.filter(action="group.updated").exists()
    assert (f"group:{group.pk}", "group.updated", {"group": group.pk}) in published


def test_group_create_denied_if_not_organiser(moderator, organiser):
    with pytest.raises(PermissionDenied):
        services.group_create(actor=moderator, name="X", slug="x")
    assert services.group_create(actor=organiser, name="X", slug="x").slug == "x"


def test_mentioned_people_are_the_group_people_newly_mentioned(
    group, member, guest, expired_guest, other_member, django_assert_num_queries
):
    from groups.mentions import mentioned_people

    text = "@mia-member and @gina-guest, @ex-guest, @otto-other"
    assert mentioned_people(text, group) == [guest, member]
    assert mentioned_people(text, group, before="Hi @mia-member") == [guest]
    with django_assert_num_queries(0):
        assert mentioned_people(text, group, before=text) == []
        assert mentioned_people("no mention", group) == []


def test_membership_revoke_and_change_role_denied_if_on_oneself(group, moderator, member):
    # Another moderator, so that the last-moderator rule is not what refuses.
    Membership.objects.filter(user=member, group=group).update(role=Role.MODERATOR)
    membership = moderator.memberships.get(group=group)
    with pytest.raises(PermissionDenied):
        services.membership_revoke(actor=moderator, membership=membership)
    with pytest.raises(PermissionDenied):
        services.membership_change_role(actor=moderator, membership=membership, role="member")
    membership.refresh_from_db()
    assert membership.active and membership.role == Role.MODERATOR
