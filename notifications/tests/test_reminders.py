"""Reminders, the periodic work of ``notifications.periodic``: a meeting
starting in 15 minutes, a guest's access ending in 7 days. Once per start
time or end date; written through ``_fan_out`` like every other kind, and
shown only while the recipient may see the object."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from groups.models import Membership, Role
from meetings import services as meetings
from meetings.models import Meeting
from notifications import selectors, services
from notifications.models import Kind, Level, Notification, TargetType
from notifications.periodic import tick
from tests.fixtures.people import join

pytestmark = pytest.mark.django_db


def schedule(moderator, group, *, minutes, title="Session"):
    starts = timezone.now() + datetime.timedelta(minutes=minutes)
    return meetings.meeting_schedule(
        actor=moderator,
        group=group,
        data={
            "title": title,
            "starts_at": starts,
            "ends_at": starts + datetime.timedelta(hours=1),
            "video_link": "https://video.example.org/room-1",
        },
    )


def reminded(meeting) -> dict:
    return {
        n.recipient_id: n
        for n in Notification.objects.filter(
            kind=Kind.MEETING_SOON, target_type=TargetType.MEETING, target_id=meeting.pk
        )
    }


@pytest.fixture
def people(group, member, guest, moderator, expired_guest, removed_member, outsider, make_user):
    silent = make_user("silent@example.org", display_name="Si Lent")
    join(silent, group)
    services.group_level_set(user=silent, group=group, level=Level.MUTED)
    listener = make_user("listener@example.org", display_name="Lis Tener")
    join(listener, group)
    services.group_level_set(user=listener, group=group, level=Level.MENTIONS)
    return {"silent": silent, "listener": listener}


def test_meeting_reminder_goes_to_the_groups_people_not_muted_once(
    group, member, guest, moderator, expired_guest, removed_member, outsider, people
):
    meeting = schedule(moderator, group, minutes=10)
    assert tick()["meetings"] == 1
    told = reminded(meeting)
    # Every valid membership not muted, the one who scheduled it included
    # (a reminder has no actor); never the muted, the expired, the removed,
    # the outsider.
    assert set(told) == {member.pk, guest.pk, moderator.pk, people["listener"].pk}
    notification = told[member.pk]
    assert notification.actor_id is None
    assert notification.url == meeting.get_absolute_url()
    assert notification.subject == "Session"
    # The meeting page it leads to carries the video link.
    assert selectors.access_notification(member, notification.pk) == notification
    # A second tick (or a retried one) tells no one again.
    Notification.objects.update(read_at=timezone.now())
    assert tick()["meetings"] == 0
    assert not Notification.objects.filter(kind=Kind.MEETING_SOON, read_at__isnull=True).exists()


def test_meeting_reminder_waits_until_the_meeting_is_15_minutes_away(group, member, moderator):
    meeting = schedule(moderator, group, minutes=40)
    assert tick()["meetings"] == 0
    assert reminded(meeting) == {}
    assert tick(now=meeting.starts_at - datetime.timedelta(minutes=16))["meetings"] == 0
    assert tick(now=meeting.starts_at - datetime.timedelta(minutes=15))["meetings"] == 1
    assert set(reminded(meeting)) == {member.pk, moderator.pk}


def test_meeting_reminder_comes_again_if_the_meeting_is_moved_later(group, member, moderator):
    meeting = schedule(moderator, group, minutes=10)
    tick()
    Notification.objects.filter(kind=Kind.MEETING_SOON).update(read_at=timezone.now())
    later = meeting.starts_at + datetime.timedelta(hours=2)
    meetings.meeting_update(
        actor=moderator,
        meeting=meeting,
        data={"starts_at": later, "ends_at": later + datetime.timedelta(hours=1)},
    )
    assert tick()["meetings"] == 0  # the new time is not near yet
    assert tick(now=later - datetime.timedelta(minutes=14))["meetings"] == 1
    notification = reminded(meeting)[member.pk]
    assert notification.read_at is None  # told again, unread
    assert tick(now=later - datetime.timedelta(minutes=5))["meetings"] == 0


def test_meeting_reminder_is_not_sent_for_a_cancelled_or_past_meeting(group, member, moderator):
    cancelled = schedule(moderator, group, minutes=10, title="Cancelled")
    meetings.meeting_update(
        actor=moderator, meeting=cancelled, data={"status": Meeting.Status.CANCELLED}
    )
    past = schedule(moderator, group, minutes=-5, title="Started")
    assert tick()["meetings"] == 0
    assert reminded(cancelled) == {} and reminded(past) == {}


def test_meeting_reminder_reaches_no_one_outside_the_group(
    group, other_group, member, moderator, other_member
):
    meeting = schedule(moderator, group, minutes=5)
    tick()
    assert other_member.pk not in reminded(meeting)
    assert not Notification.objects.filter(recipient=other_member).exists()


def test_meeting_soon_is_on_the_notifications_page(client, group, member, moderator):
    schedule(moderator, group, minutes=10, title="Weekly call")
    tick()
    client.force_login(member)
    html = client.get(reverse("notifications:list")).content.decode()
    assert "The meeting “Weekly call” starts soon" in html
    # Opening it leads to the meeting's page, with the video link.
    notification = Notification.objects.get(recipient=member, kind=Kind.MEETING_SOON)
    opened = client.get(reverse("notifications:open", args=[notification.pk]), follow=True)
    assert 'href="https://video.example.org/room-1"' in opened.content.decode()


@pytest.fixture
def expiring_guest(group, make_user):
    user = make_user("leaving@example.org", display_name="Lea Ving")
    membership = join(
        user, group, Role.GUEST, expires_at=timezone.now() + datetime.timedelta(days=6)
    )
    return membership


def guest_told(membership) -> dict:
    return {
        n.recipient_id: n
        for n in Notification.objects.filter(
            kind=Kind.GUEST_EXPIRING,
            target_type=TargetType.MEMBERSHIP,
            target_id=membership.pk,
        )
    }


def test_guest_expiry_notice_goes_to_the_guest_and_the_moderators_once(
    group, member, guest, moderator, expiring_guest, other_moderator
):
    assert tick()["guests"] == 1  # ``guest`` ends in 30 days: not yet
    told = guest_told(expiring_guest)
    assert set(told) == {expiring_guest.user_id, moderator.pk}
    assert told[expiring_guest.user_id].actor_id is None
    assert told[expiring_guest.user_id].url == reverse("groups:detail", args=[group.slug])
    assert told[moderator.pk].actor_id == expiring_guest.user_id
    assert told[moderator.pk].url == reverse("groups:members", args=[group.slug])
    # Both may see it (memberships_visible_to), and read it on their page.
    for notification in told.values():
        assert selectors.notifications_visible_to(notification.recipient).filter(pk=notification.pk)
    Notification.objects.update(read_at=timezone.now())
    assert tick()["guests"] == 0
    assert not Notification.objects.filter(read_at__isnull=True).exists()


def test_guest_expiry_notice_comes_again_before_an_extended_end(group, moderator, expiring_guest):
    tick()
    Notification.objects.update(read_at=timezone.now())
    new_end = timezone.now() + datetime.timedelta(days=30)
    Membership.objects.filter(pk=expiring_guest.pk).update(expires_at=new_end)
    assert tick()["guests"] == 0
    assert tick(now=new_end - datetime.timedelta(days=7, minutes=-1))["guests"] == 1
    assert all(n.read_at is None for n in guest_told(expiring_guest).values())


def test_guest_expiry_notice_is_not_sent_to_a_muted_moderator_or_after_the_end(
    group, moderator, expiring_guest, make_user
):
    services.group_level_set(user=moderator, group=group, level=Level.MUTED)
    tick()
    assert set(guest_told(expiring_guest)) == {expiring_guest.user_id}
    ended = join(
        make_user("gone@example.org"),
        group,
        Role.GUEST,
        expires_at=timezone.now() - datetime.timedelta(hours=1),
    )
    tick()
    assert guest_told(ended) == {}


def test_guest_expiring_speaks_to_the_guest_and_of_the_guest(
    client, group, moderator, expiring_guest
):
    tick()
    client.force_login(expiring_guest.user)
    html = client.get(reverse("notifications:list")).content.decode()
    assert "Your guest access to Fair migration ends soon" in html
    client.force_login(moderator)
    html = client.get(reverse("notifications:list")).content.decode()
    assert "Lea Ving’s guest access to Fair migration ends soon" in html
