"""The kinds beyond posts: documents, meetings, join requests, reports, an
accepted invitation, a changed role. Each is written by the service that
makes the change (through its hook), to the right people at the right
levels, never to the actor, and shown only while its object is still the
recipient's to see."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from discussions import services as discussions
from documents import services as documents
from documents.tests.conftest import PDF, upload
from groups import services as groups
from groups.models import Invitation, JoinRequest, Membership, Role
from meetings import services as meetings
from meetings.models import Meeting
from notifications import selectors, services
from notifications.models import Kind, Level, Notification, TargetType
from tests.fixtures.people import enable_mfa, join


@pytest.fixture(autouse=True)
def _media(media_root):
    """Uploaded files go to a fresh folder (tests.fixtures.media)."""


@pytest.fixture
def everyone(
    group, member, guest, moderator, expired_guest, removed_member, outsider, other_member
):
    """The group's people and those around it; ``listener`` hears mentions
    only, ``silent`` muted the group."""
    listener = join_new(group, "listener@example.org", "Lis Tener")
    silent = join_new(group, "silent@example.org", "Si Lent")
    services.group_level_set(user=listener, group=group, level=Level.MENTIONS)
    services.group_level_set(user=silent, group=group, level=Level.MUTED)
    return {
        "member": member,
        "guest": guest,
        "moderator": moderator,
        "listener": listener,
        "silent": silent,
    }


def join_new(group, email, name, role=Role.MEMBER):
    from accounts.models import User

    user = User.objects.create_user(email=email, password="x-long-password-1", display_name=name)
    join(user, group, role=role)
    return user


def told(target_type, target_id) -> dict:
    return {
        n.recipient_id: n.kind
        for n in Notification.objects.filter(target_type=target_type, target_id=target_id)
    }


def count_for(client, user) -> int:
    client.force_login(user)
    return client.get(reverse("notifications:count")).json()["count"]


def schedule(actor, group, *, title="Session", days=2):
    starts_at = timezone.now() + datetime.timedelta(days=days)
    return meetings.meeting_schedule(
        actor=actor,
        group=group,
        data={
            "title": title,
            "kind": Meeting.Kind.SESSION,
            "starts_at": starts_at,
            "ends_at": starts_at + datetime.timedelta(hours=1),
        },
    )


# --- Documents ------------------------------------------------------------------


def test_new_document_notifies_the_group_at_tracking_or_watching(everyone, group, member):
    services.group_level_set(user=everyone["moderator"], group=group, level=Level.WATCHING)
    document = documents.document_upload(
        actor=member, group=group, uploaded=upload("plan.pdf", PDF), title="Work plan"
    )
    version = document.current_version
    # Not the uploader, not mentions only, not muted, nobody outside.
    assert told(TargetType.VERSION, version.pk) == {
        everyone["guest"].pk: Kind.DOCUMENT_NEW,
        everyone["moderator"].pk: Kind.DOCUMENT_NEW,
    }
    notification = Notification.objects.get(recipient=everyone["guest"])
    assert notification.actor == member
    assert notification.subject == "Work plan"
    assert notification.url == document.get_absolute_url()


def test_new_version_and_restore_notify_as_new_versions(everyone, group, member, guest):
    document = documents.document_upload(
        actor=member, group=group, uploaded=upload("plan.pdf", PDF), title="Work plan"
    )
    second = documents.version_add(
        actor=guest, document=document, uploaded=upload("plan2.pdf", PDF + b"% 2\n")
    )
    assert told(TargetType.VERSION, second.pk) == {
        member.pk: Kind.DOCUMENT_VERSION,
        everyone["moderator"].pk: Kind.DOCUMENT_VERSION,
    }
    first = document.versions.get(number=1)
    restored = documents.version_restore(actor=member, version=first)
    assert told(TargetType.VERSION, restored.pk) == {
        guest.pk: Kind.DOCUMENT_VERSION,
        everyone["moderator"].pk: Kind.DOCUMENT_VERSION,
    }


def test_document_notification_is_not_shown_once_the_document_is_deleted(
    client, group, member, guest
):
    document = documents.document_upload(
        actor=member, group=group, uploaded=upload("plan.pdf", PDF), title="Work plan"
    )
    notification = Notification.objects.get(recipient=guest)
    assert count_for(client, guest) == 1
    documents.document_delete(actor=member, document=document)
    assert count_for(client, guest) == 0
    assert client.get(reverse("notifications:open", args=[notification.pk])).status_code == 404


# --- Meetings -------------------------------------------------------------------


def test_meeting_scheduled_notifies_everyone_not_muted(everyone, group, moderator):
    meeting = schedule(moderator, group)
    assert told(TargetType.MEETING, meeting.pk) == {
        everyone["member"].pk: Kind.MEETING_SCHEDULED,
        everyone["guest"].pk: Kind.MEETING_SCHEDULED,
        everyone["listener"].pk: Kind.MEETING_SCHEDULED,
    }


def test_meeting_moved_notifies_and_a_second_move_renews_the_notification(
    everyone, group, moderator, member
):
    meeting = schedule(moderator, group)
    services.notifications_mark_read(user=member)
    meetings.meeting_update(actor=moderator, meeting=meeting, data={"title": "Renamed"})
    assert not Notification.objects.filter(kind=Kind.MEETING_MOVED).exists()
    later = meeting.starts_at + datetime.timedelta(days=1)
    meetings.meeting_update(
        actor=moderator,
        meeting=meeting,
        data={"starts_at": later, "ends_at": later + datetime.timedelta(hours=1)},
    )
    moved = Notification.objects.filter(kind=Kind.MEETING_MOVED)
    assert {n.recipient_id for n in moved} == {
        member.pk,
        everyone["guest"].pk,
        everyone["listener"].pk,
    }
    first = moved.get(recipient=member)
    services.notifications_mark_read(user=member)
    even_later = later + datetime.timedelta(hours=3)
    meetings.meeting_update(
        actor=moderator,
        meeting=meeting,
        data={"starts_at": even_later, "ends_at": even_later + datetime.timedelta(hours=1)},
    )
    again = Notification.objects.get(kind=Kind.MEETING_MOVED, recipient=member)
    assert again.pk == first.pk
    assert again.read_at is None
    assert again.created_at > first.created_at


def test_meeting_cancelled_notifies_once(everyone, group, moderator, member):
    meeting = schedule(moderator, group)
    meetings.meeting_update(
        actor=moderator, meeting=meeting, data={"status": Meeting.Status.CANCELLED}
    )
    cancelled = Notification.objects.filter(kind=Kind.MEETING_CANCELLED)
    assert {n.recipient_id for n in cancelled} == {
        member.pk,
        everyone["guest"].pk,
        everyone["listener"].pk,
    }
    assert not Notification.objects.filter(kind=Kind.MEETING_MOVED).exists()


def test_minutes_published_notifies_on_first_publication_only(everyone, group, moderator):
    meeting = schedule(moderator, group)
    meetings.minutes_save(actor=moderator, meeting=meeting, minutes="Draft")
    assert not Notification.objects.filter(kind=Kind.MINUTES_PUBLISHED).exists()
    meetings.minutes_save(
        actor=moderator, meeting=meeting, minutes="Final", publish=True, before_start_confirmed=True
    )
    published = Notification.objects.filter(kind=Kind.MINUTES_PUBLISHED)
    assert {n.recipient_id for n in published} == {
        everyone["member"].pk,
        everyone["guest"].pk,
        everyone["listener"].pk,
    }
    services.notifications_mark_read(user=everyone["member"])
    meetings.minutes_save(
        actor=moderator,
        meeting=meeting,
        minutes="Final, typo",
        publish=True,
        before_start_confirmed=True,
    )
    assert not Notification.objects.filter(
        kind=Kind.MINUTES_PUBLISHED, recipient=everyone["member"], read_at__isnull=True
    ).exists()


def test_meeting_notification_leads_to_the_meeting_and_is_read_when_opened(
    client, group, moderator, member
):
    meeting = schedule(moderator, group, title="Third session")
    notification = Notification.objects.get(recipient=member)
    client.force_login(member)
    html = client.get(reverse("notifications:list")).content.decode()
    assert "Max Moderator scheduled the meeting “Third session”" in html
    response = client.get(reverse("notifications:open", args=[notification.pk]))
    assert response.url == meeting.get_absolute_url()
    assert count_for(client, member) == 0


@pytest.mark.parametrize("change", ["removed", "expired", "deleted"])
def test_meeting_notification_is_not_shown_once_the_meeting_is_out_of_sight(
    change, client, group, moderator, member
):
    schedule(moderator, group)
    notification = Notification.objects.get(recipient=member)
    assert count_for(client, member) == 1
    if change == "removed":
        groups.membership_revoke(
            actor=moderator, membership=Membership.objects.get(user=member, group=group)
        )
    elif change == "expired":
        Membership.objects.filter(user=member, group=group).update(
            role=Role.GUEST, expires_at=timezone.now()
        )
    else:
        Meeting.objects.filter(pk=notification.target_id).delete()
    assert count_for(client, member) == 0
    html = client.get(reverse("notifications:list")).content.decode()
    assert f'id="notification-{notification.pk}"' not in html
    assert client.get(reverse("notifications:open", args=[notification.pk])).status_code == 404


def test_meeting_notifications_announce_the_change_on_each_recipients_stream(
    group, moderator, member, guest, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        schedule(moderator, group)
    own = sorted(
        (stream, event) for stream, event, _data in published if stream.startswith("user:")
    )
    assert own == [
        (f"user:{member.pk}", "notifications.changed"),
        (f"user:{guest.pk}", "notifications.changed"),
    ]


def test_meeting_notification_speaks_german(client, group, moderator, member):
    member.language = "de"
    member.save(update_fields=["language"])
    schedule(moderator, group, title="Dritte Sitzung")
    client.force_login(member)
    html = client.get(reverse("notifications:list")).content.decode()
    assert "Max Moderator hat die Sitzung „Dritte Sitzung“ angesetzt" in html


@pytest.mark.parametrize("size", [10, 100])
def test_group_fan_out_queries_do_not_grow_with_the_group(
    size, group, moderator, make_user, django_assert_num_queries
):
    for number in range(size):
        join(make_user(f"m{size}-{number}@example.org", display_name=f"M {number}"), group)
    meeting = schedule(moderator, group)
    Notification.objects.all().delete()
    # 4 for the notifications, 2 for their emails (addresses and preferences; insert)
    with django_assert_num_queries(6):
        services.notify_meeting_changed(meeting=meeting, actor=moderator, change="scheduled")
    assert Notification.objects.count() == size


# --- Join requests and reports --------------------------------------------------


def request_to_join(group) -> JoinRequest:
    return groups.join_request_create(
        name="Jo Applicant",
        email="jo@example.org",
        affiliation="NGO",
        sector="civil_society",
        motivation="I work on this.",
        group=group,
        language="en",
    )


def test_join_request_notifies_the_groups_moderators_not_muted(
    everyone, group, moderator, other_moderator, make_user
):
    quiet = join_new(group, "quietmod@example.org", "Quiet Mod", role=Role.MODERATOR)
    services.group_level_set(user=quiet, group=group, level=Level.MUTED)
    former = join_new(group, "formermod@example.org", "Former Mod", role=Role.MODERATOR)
    Membership.objects.filter(user=former).update(active=False)
    join_request = request_to_join(group)
    assert told(TargetType.JOIN_REQUEST, join_request.pk) == {moderator.pk: Kind.JOIN_REQUEST}
    notification = Notification.objects.get(recipient=moderator)
    assert notification.actor is None
    assert notification.subject == "Jo Applicant"
    assert notification.url == reverse("groups:join_request_detail", args=[join_request.pk])


def test_join_request_notification_is_not_shown_to_a_former_moderator(
    client, group, moderator, member
):
    join_new(group, "mod2@example.org", "Mo Two", role=Role.MODERATOR)
    request_to_join(group)
    assert count_for(client, moderator) == 1
    Membership.objects.filter(user=moderator, group=group).update(role=Role.MEMBER)
    assert count_for(client, moderator) == 0


def test_report_notifies_the_groups_moderators_not_the_reporter(
    everyone, group, moderator, member, guest
):
    other_mod = join_new(group, "mod2@example.org", "Mo Two", role=Role.MODERATOR)
    thread = discussions.thread_create(actor=guest, group=group, title="Spam?", body="Buy now")
    report = discussions.report_create(actor=member, post=thread.posts.get(), reason="Advertising")
    assert told(TargetType.REPORT, report.pk) == {
        moderator.pk: Kind.REPORT,
        other_mod.pk: Kind.REPORT,
    }
    by_moderator = discussions.report_create(
        actor=moderator, post=thread.posts.get(), reason="Seen it too"
    )
    assert told(TargetType.REPORT, by_moderator.pk) == {other_mod.pk: Kind.REPORT}
    notification = Notification.objects.get(recipient=moderator, target_id=report.pk)
    assert notification.actor == member
    assert notification.url == reverse("discussions:report_queue", args=[group.slug])


def test_report_notification_follows_the_post_when_its_thread_moves(
    client, group, other_group, moderator, member, guest
):
    both = enable_mfa(join_new(other_group, "both@example.org", "Bo Th", role=Role.MODERATOR))
    join(both, group, role=Role.MODERATOR)
    thread = discussions.thread_create(actor=guest, group=group, title="Spam?", body="Buy now")
    discussions.report_create(actor=member, post=thread.posts.get(), reason="Advertising")
    assert count_for(client, moderator) == 1
    discussions.thread_move(actor=both, thread=thread, to_group=other_group)
    # The moderator of the old group moderates the post no more.
    assert count_for(client, moderator) == 0
    [(shown_group, items)] = selectors.notification_groups(both)
    assert shown_group == other_group
    assert [n.kind for n in items] == [Kind.REPORT]


# --- Invitations and roles ------------------------------------------------------


def invite(group, moderator, email) -> str:
    invitation = Invitation(
        email=email,
        group=group,
        role=Role.MEMBER,
        invited_by=moderator,
        expires_at=timezone.now() + datetime.timedelta(days=7),
    )
    token = invitation.set_new_token()
    invitation.save()
    return token


def test_invitation_accepted_notifies_the_inviter_only(everyone, group, moderator, outsider):
    token = invite(group, moderator, outsider.email)
    membership = groups.invitation_accept(user=outsider, token=token)
    assert told(TargetType.MEMBERSHIP, membership.pk) == {moderator.pk: Kind.INVITATION_ACCEPTED}
    notification = Notification.objects.get(recipient=moderator)
    assert notification.actor == outsider
    assert notification.url == reverse("groups:members", args=[group.slug])


def test_invitation_accepted_tells_no_inviter_who_muted_the_group_or_left_it(
    group, moderator, outsider, make_user
):
    services.group_level_set(user=moderator, group=group, level=Level.MUTED)
    first = groups.invitation_accept(user=outsider, token=invite(group, moderator, outsider.email))
    assert told(TargetType.MEMBERSHIP, first.pk) == {}
    inviter = join_new(group, "inviter@example.org", "In Viter")
    token = invite(group, inviter, "late@example.org")
    Membership.objects.filter(user=inviter).update(active=False)
    late = make_user("late@example.org", display_name="Late Comer")
    second = groups.invitation_accept(user=late, token=token)
    assert told(TargetType.MEMBERSHIP, second.pk) == {}


def test_invitation_accepted_is_not_shown_once_the_new_member_left(
    client, group, moderator, outsider
):
    groups.invitation_accept(user=outsider, token=invite(group, moderator, outsider.email))
    assert count_for(client, moderator) == 1
    groups.membership_leave(actor=outsider, group=group)
    assert count_for(client, moderator) == 0


def test_role_changed_notifies_the_person_concerned(everyone, group, moderator, member):
    membership = Membership.objects.get(user=member, group=group)
    groups.membership_change_role(actor=moderator, membership=membership, role=Role.MODERATOR)
    assert told(TargetType.MEMBERSHIP, membership.pk) == {member.pk: Kind.ROLE_CHANGED}
    notification = Notification.objects.get(recipient=member)
    assert notification.actor == moderator
    assert notification.subject == group.name
    services.notifications_mark_read(user=member)
    groups.membership_change_role(actor=moderator, membership=membership, role=Role.MEMBER)
    again = Notification.objects.get(recipient=member)
    assert again.pk == notification.pk and again.read_at is None


def test_role_changed_tells_nobody_if_muted_or_unchanged(group, moderator, member):
    membership = Membership.objects.get(user=member, group=group)
    groups.membership_change_role(actor=moderator, membership=membership, role=Role.MEMBER)
    services.group_level_set(user=member, group=group, level=Level.MUTED)
    groups.membership_change_role(actor=moderator, membership=membership, role=Role.MODERATOR)
    assert not Notification.objects.exists()


def test_role_changed_is_not_shown_once_the_person_is_removed(client, group, moderator, member):
    membership = Membership.objects.get(user=member, group=group)
    until = timezone.now() + datetime.timedelta(days=3)
    groups.membership_change_role(
        actor=moderator, membership=membership, role=Role.GUEST, expires_at=until
    )
    assert count_for(client, member) == 1
    groups.membership_revoke(actor=moderator, membership=membership)
    assert count_for(client, member) == 0


def test_page_says_what_each_kind_is_about(client, group, moderator, member, guest, outsider):
    thread = discussions.thread_create(actor=guest, group=group, title="Spam?", body="Buy now")
    discussions.report_create(actor=member, post=thread.posts.get(), reason="Advertising")
    request_to_join(group)
    documents.document_upload(
        actor=member, group=group, uploaded=upload("plan.pdf", PDF), title="Work plan"
    )
    groups.invitation_accept(user=outsider, token=invite(group, moderator, outsider.email))
    client.force_login(moderator)
    html = client.get(reverse("notifications:list")).content.decode()
    assert "Mia Member reported a post in “Spam?”" in html
    assert "Jo Applicant asks to join the group" in html
    assert "Mia Member added the document “Work plan”" in html
    assert "Out Sider accepted your invitation to Fair migration" in html
    membership = Membership.objects.get(user=member, group=group)
    groups.membership_change_role(actor=moderator, membership=membership, role=Role.MODERATOR)
    client.force_login(member)
    html = client.get(reverse("notifications:list")).content.decode()
    assert "Max Moderator changed your role in Fair migration" in html
