"""Mentions in chat messages, agendas and minutes: the person mentioned is
told (``mention``), at any level but muted, while they take part in the
group; shown only while they may see the message or read the agenda or
minutes; a message without "@" costs no query more."""

import asyncio
import datetime

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core import hooks
from core.models import OutboundEmail
from core.outbox import send_due
from groups.models import Membership, Role
from meetings import permissions as meeting_permissions
from meetings import services as meetings
from meetings.models import ChatRoom, Meeting
from notifications import services
from notifications.models import Kind, Level, Notification, TargetType
from tests.fixtures.people import join
from tests.sockets import open_socket

from .conftest import handle


@pytest.fixture
def room(group):
    return sending_room(meetings.standing_room(group))


def sending_room(room):
    """The room as the chat's socket hands it to ``message_send`` (``room_to_send``)."""
    return meeting_permissions.room_to_send(room.pk)


def told(target_type, target_id) -> dict:
    return {
        n.recipient_id: n.kind
        for n in Notification.objects.filter(target_type=target_type, target_id=target_id)
    }


def count_for(client, user) -> int:
    client.force_login(user)
    return client.get(reverse("notifications:count")).json()["count"]


def schedule(actor, group, *, agenda="", starts_in=datetime.timedelta(days=2)):
    starts_at = timezone.now() + starts_in
    return meetings.meeting_schedule(
        actor=actor,
        group=group,
        data={
            "title": "Session",
            "kind": Meeting.Kind.SESSION,
            "starts_at": starts_at,
            "ends_at": starts_at + datetime.timedelta(hours=1),
            "agenda": agenda,
        },
    )


# --- Chat ------------------------------------------------------------------------------


def test_chat_mention_notifies_the_person_mentioned(client, room, group, member, guest):
    message = meetings.message_send(actor=guest, room=room, body=f"Over to you, {handle(member)}")
    assert told(TargetType.CHAT_MESSAGE, message.pk) == {member.pk: Kind.MENTION}
    notification = Notification.objects.get(recipient=member)
    assert notification.actor == guest
    assert notification.group == group
    assert notification.url == reverse("meetings:group_chat", args=[group.slug])
    assert count_for(client, member) == 1
    html = client.get(reverse("notifications:list")).content.decode()
    assert "Gina Guest mentioned you in the chat of “Fair migration”" in html
    response = client.get(reverse("notifications:open", args=[notification.pk]))
    assert response.url == notification.url
    assert count_for(client, member) == 0


def test_chat_mention_of_oneself_tells_nobody(room, member):
    message = meetings.message_send(actor=member, room=room, body=f"Note to self {handle(member)}")
    assert told(TargetType.CHAT_MESSAGE, message.pk) == {}


def test_chat_mention_reaches_only_people_of_the_group(
    room, member, guest, expired_guest, removed_member, outsider, other_member
):
    body = " ".join(
        handle(person) for person in (guest, expired_guest, removed_member, outsider, other_member)
    )
    message = meetings.message_send(actor=member, room=room, body=body)
    assert told(TargetType.CHAT_MESSAGE, message.pk) == {guest.pk: Kind.MENTION}


def test_chat_mention_respects_levels(room, group, member, guest, moderator):
    services.group_level_set(user=guest, group=group, level=Level.MUTED)
    services.group_level_set(user=moderator, group=group, level=Level.MENTIONS)
    message = meetings.message_send(
        actor=member, room=room, body=f"{handle(guest)} {handle(moderator)}"
    )
    assert told(TargetType.CHAT_MESSAGE, message.pk) == {moderator.pk: Kind.MENTION}


def test_chat_message_without_mention_costs_no_query_more(room, member, guest):
    meetings.message_send(actor=member, room=room, body="warming up")

    def queries(body):
        with CaptureQueriesContext(connection) as context:
            meetings.message_send(actor=member, room=room, body=body)
        return [query["sql"] for query in context.captured_queries]

    with_notifications = queries("no mention here")
    hooks.unregister("meetings.message_mentioned", services.notify_message_mentioned)
    try:
        without = queries("no mention here either")
    finally:
        hooks.register("meetings.message_mentioned", services.notify_message_mentioned)
    assert len(with_notifications) == len(without)
    assert not any("notification" in sql for sql in with_notifications)
    assert not Notification.objects.exists()


def test_chat_edit_tells_only_the_people_newly_mentioned(room, member, guest, moderator):
    message = meetings.message_send(actor=member, room=room, body=f"Hi {handle(guest)}")
    Notification.objects.filter(recipient=guest).update(read_at=timezone.now())
    meetings.message_edit(
        actor=member, message=message, body=f"Hi {handle(guest)} and {handle(moderator)}"
    )
    assert told(TargetType.CHAT_MESSAGE, message.pk) == {
        guest.pk: Kind.MENTION,
        moderator.pk: Kind.MENTION,
    }
    # Already told: not told again, their notification stays read.
    assert Notification.objects.get(recipient=guest).read_at is not None


def test_chat_mention_in_a_meeting_room_leads_to_the_meeting(group, member, guest, moderator):
    meeting = schedule(moderator, group, starts_in=datetime.timedelta(minutes=5))
    room = sending_room(ChatRoom.objects.get(meeting=meeting))
    message = meetings.message_send(actor=guest, room=room, body=f"{handle(member)}?")
    notification = Notification.objects.get(recipient=member, target_type=TargetType.CHAT_MESSAGE)
    assert notification.target_id == message.pk
    assert notification.url == meeting.get_absolute_url()
    assert notification.subject == "Session"


def test_chat_mention_not_shown_once_the_message_is_deleted(client, room, member, guest):
    message = meetings.message_send(actor=guest, room=room, body=f"Hi {handle(member)}")
    notification = Notification.objects.get(recipient=member)
    assert count_for(client, member) == 1
    meetings.message_delete(actor=guest, message=message)
    assert count_for(client, member) == 0
    assert client.get(reverse("notifications:open", args=[notification.pk])).status_code == 404
    assert "Gina Guest" not in client.get(reverse("notifications:list")).content.decode()


def test_chat_mention_not_shown_once_the_person_leaves(client, room, group, member, guest):
    meetings.message_send(actor=guest, room=room, body=f"Hi {handle(member)}")
    assert count_for(client, member) == 1
    Membership.objects.filter(user=member, group=group).update(active=False)
    assert count_for(client, member) == 0


# --- Agenda ----------------------------------------------------------------------------


def test_agenda_mention_notifies_when_scheduled(client, group, member, guest, moderator):
    meeting = schedule(moderator, group, agenda=f"1. Report by {handle(member)}")
    assert told(TargetType.AGENDA, meeting.pk) == {member.pk: Kind.MENTION}
    notification = Notification.objects.get(recipient=member, target_type=TargetType.AGENDA)
    assert notification.url == meeting.get_absolute_url()
    client.force_login(member)
    html = client.get(reverse("notifications:list")).content.decode()
    assert "Max Moderator mentioned you in the agenda of “Session”" in html


def test_agenda_edit_tells_only_the_people_newly_mentioned(group, member, guest, moderator):
    meeting = schedule(moderator, group, agenda=f"1. {handle(member)}")
    Notification.objects.update(read_at=timezone.now())
    meetings.meeting_update(
        actor=moderator,
        meeting=meeting,
        data={"agenda": f"1. {handle(member)}\n2. {handle(guest)}", "title": "Session 2"},
    )
    assert told(TargetType.AGENDA, meeting.pk) == {member.pk: Kind.MENTION, guest.pk: Kind.MENTION}
    assert Notification.objects.get(recipient=member, target_type=TargetType.AGENDA).read_at
    # An edit that mentions nobody new tells nobody.
    meetings.meeting_update(actor=moderator, meeting=meeting, data={"title": "Session 3"})
    assert Notification.objects.filter(target_type=TargetType.AGENDA, read_at=None).count() == 1


def test_agenda_mention_skips_muted_and_people_outside(
    group, member, guest, moderator, expired_guest, other_member
):
    services.group_level_set(user=guest, group=group, level=Level.MUTED)
    agenda = " ".join(handle(p) for p in (member, guest, expired_guest, other_member))
    meeting = schedule(moderator, group, agenda=agenda)
    assert told(TargetType.AGENDA, meeting.pk) == {member.pk: Kind.MENTION}


def test_agenda_mention_not_shown_once_the_meeting_is_deleted(client, group, member, moderator):
    meeting = schedule(moderator, group, agenda=f"{handle(member)}")
    assert count_for(client, member) == 2  # scheduled, and the mention
    meeting.delete()
    assert count_for(client, member) == 0


# --- Minutes ---------------------------------------------------------------------------


@pytest.fixture
def co_moderator(make_user, group):
    user = make_user("comod@example.org", display_name="Cora Comod")
    join(user, group, Role.MODERATOR)
    return user


def test_minutes_draft_mention_reaches_readers_now_and_the_others_on_publication(
    client, group, member, moderator, co_moderator
):
    meeting = schedule(moderator, group)
    Notification.objects.all().delete()
    text = f"Decisions: {handle(member)} writes, {handle(co_moderator)} reviews."
    meetings.minutes_save(actor=moderator, meeting=meeting, minutes=text)
    # The draft: only those who may read it (its moderators) are told.
    assert told(TargetType.MINUTES, meeting.pk) == {co_moderator.pk: Kind.MENTION}
    Notification.objects.update(read_at=timezone.now())
    meetings.minutes_save(
        actor=moderator, meeting=meeting, minutes=text, publish=True, before_start_confirmed=True
    )
    assert told(TargetType.MINUTES, meeting.pk) == {
        co_moderator.pk: Kind.MENTION,
        member.pk: Kind.MENTION,
    }
    # The moderator told of the draft is not told again.
    assert Notification.objects.get(recipient=co_moderator, target_type=TargetType.MINUTES).read_at
    mention = Notification.objects.get(recipient=member, target_type=TargetType.MINUTES)
    assert mention.read_at is None
    assert mention.url == meeting.get_absolute_url() + "#minutes"
    client.force_login(member)
    html = client.get(reverse("notifications:list")).content.decode()
    assert "Max Moderator mentioned you in the minutes of “Session”" in html


def test_minutes_mention_of_a_draft_hidden_once_the_reader_may_not_read_it(
    client, group, moderator, co_moderator
):
    meeting = schedule(moderator, group)
    meetings.minutes_save(actor=moderator, meeting=meeting, minutes=f"{handle(co_moderator)}")
    assert count_for(client, co_moderator) == 2  # scheduled, and the mention
    Membership.objects.filter(user=co_moderator).update(role=Role.MEMBER)
    # Still in the group (the meeting stays), but the draft is no longer theirs to read.
    assert count_for(client, co_moderator) == 1


def test_minutes_edit_after_publication_tells_only_the_people_newly_mentioned(
    group, member, guest, moderator
):
    meeting = schedule(moderator, group)
    meetings.minutes_save(
        actor=moderator,
        meeting=meeting,
        minutes=f"{handle(member)}",
        publish=True,
        before_start_confirmed=True,
    )
    assert told(TargetType.MINUTES, meeting.pk) == {member.pk: Kind.MENTION}
    meeting.refresh_from_db()
    meetings.minutes_save(
        actor=moderator, meeting=meeting, minutes=f"{handle(member)} {handle(guest)}"
    )
    assert told(TargetType.MINUTES, meeting.pk) == {
        member.pk: Kind.MENTION,
        guest.pk: Kind.MENTION,
    }


# --- The bell, live --------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_chat_mention_rings_the_bell_over_the_socket(member, guest, group):
    async def scenario():
        socket = await open_socket(member)
        room = await database_sync_to_async(lambda: sending_room(meetings.standing_room(group)))()
        await database_sync_to_async(meetings.message_send)(
            actor=guest, room=room, body=f"{handle(member)}, a question"
        )
        while True:
            frame = await socket.receive_json_from(3)
            if frame.get("type") == "event" and frame.get("event") == "notifications.changed":
                break
        assert frame["stream"] == f"user:{member.pk}"
        await socket.disconnect()

    asyncio.run(scenario())


# --- By email ----------------------------------------------------------------------------


def _emailed(mailbox, user) -> list:
    OutboundEmail.objects.filter(sent_at__isnull=True).update(due_at=timezone.now())
    send_due()
    return [message for message in mailbox.messages if message["To"] == user.email]


def test_chat_mention_email_quotes_the_message_unless_the_group_is_confidential(
    smtp_mailer, room, group, member, guest
):
    meetings.message_send(actor=guest, room=room, body=f"Over to you, {handle(member)}: quotas?")
    [message] = _emailed(smtp_mailer, member)
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "Gina Guest mentioned you in the chat of “Fair migration”" in text
    assert "quotas?" in text

    group.emails_without_text = True
    group.save(update_fields=["emails_without_text"])
    meetings.message_send(actor=guest, room=room, body=f"And {handle(member)}: budgets?")
    [_first, second] = _emailed(smtp_mailer, member)
    text = second.get_body(preferencelist=("plain",)).get_content()
    assert "mentioned you in the chat" in text
    assert "budgets?" not in text


def test_chat_mention_email_dropped_if_the_message_is_deleted_meanwhile(
    smtp_mailer, room, member, guest
):
    message = meetings.message_send(actor=guest, room=room, body=f"Hi {handle(member)}")
    meetings.message_delete(actor=guest, message=message)
    assert _emailed(smtp_mailer, member) == []
    assert OutboundEmail.objects.get(to=member.email).dropped


def test_agenda_mention_email_gives_the_meeting_time_and_the_agenda(
    smtp_mailer, group, member, moderator
):
    schedule(moderator, group, agenda=f"1. Report by {handle(member)} on housing")
    [message] = _emailed(smtp_mailer, member)
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "Max Moderator mentioned you in the agenda of “Session”" in text
    assert "on housing" in text
