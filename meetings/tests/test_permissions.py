"""meetings.permissions for chat: who may see a message, write, and mute."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils import timezone, translation

from meetings import permissions, services
from meetings.models import Meeting

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    """The reasons are matched in English, whatever an earlier test activated."""
    with translation.override("en"):
        yield


@pytest.fixture
def room(group):
    return services.standing_room(group)


@pytest.fixture
def message(member, room):
    return services.message_send(actor=member, room=room, body="hello")


def test_access_message_finds_it_with_room_group_and_meeting_if_in_group(
    guest, message, django_assert_num_queries
):
    with django_assert_num_queries(2):  # the guest's groups (groups.permissions.roles), then it
        found = permissions.access_message(guest, message.pk)
        assert (found, found.room.group, found.room.meeting) == (
            message,
            message.room.group,
            None,
        )


@pytest.mark.parametrize("who", ["outsider", "other_member", "expired_guest", "removed_member"])
def test_access_message_404_if_outside_group(request, message, who):
    with pytest.raises(Http404):
        permissions.access_message(request.getfixturevalue(who), message.pk)


def test_access_message_404_if_missing(member, message):
    with pytest.raises(Http404):
        permissions.access_message(member, message.pk + 1)


def test_check_send_message_allows_people_of_the_group(guest, organiser, room):
    permissions.check_send_message(guest, room)
    permissions.check_send_message(organiser, room)


def test_check_send_message_denied_if_muted(member, moderator, room):
    services.member_mute(actor=moderator, room=room, user=member, minutes=5)
    with pytest.raises(PermissionDenied, match="muted you"):
        permissions.check_send_message(member, room)
    assert permissions.muted_until(member, room) > timezone.now()


def test_check_send_message_allows_if_mute_has_ended(member, moderator, room):
    services.member_mute(actor=moderator, room=room, user=member, minutes=5)
    room.mutes.update(until=timezone.now() - datetime.timedelta(seconds=1))
    assert permissions.muted_until(member, room) is None
    permissions.check_send_message(member, room)


def test_check_send_message_denied_if_group_archived(member, group, room):
    group.archived = True
    group.save()
    with pytest.raises(PermissionDenied, match="archived"):
        permissions.check_send_message(member, room)


def _later_meeting_room(group):
    starts = timezone.now() + datetime.timedelta(days=1)
    meeting = Meeting.objects.create(
        group=group, title="Later", starts_at=starts, ends_at=starts + datetime.timedelta(hours=1)
    )
    return services.meeting_room(meeting)


def test_can_send_when_open_if_member_of_a_room_not_yet_open(member, group):
    room = _later_meeting_room(group)
    with pytest.raises(PermissionDenied, match="closed"):
        permissions.check_send_message(member, room)
    assert permissions.can_send_when_open(room, member=True, muted=None) is True


def test_can_send_when_open_not_if_muted_or_not_member_or_cancelled(group):
    room = _later_meeting_room(group)
    muted = timezone.now() + datetime.timedelta(minutes=5)
    assert permissions.can_send_when_open(room, member=True, muted=muted) is False
    assert permissions.can_send_when_open(room, member=False, muted=None) is False
    room.meeting.status = Meeting.Status.CANCELLED
    assert permissions.can_send_when_open(room, member=True, muted=None) is False


def test_can_mute_member_if_moderator_and_target_in_group(moderator, member, guest, room):
    assert permissions.can_mute_member(moderator, room, member)
    assert permissions.can_mute_member(moderator, room, guest)


def test_can_mute_member_not_if_member_or_target_outside_or_self(
    moderator, member, guest, outsider, expired_guest, room
):
    assert not permissions.can_mute_member(member, room, guest)
    assert not permissions.can_mute_member(moderator, room, outsider)
    assert not permissions.can_mute_member(moderator, room, expired_guest)
    assert not permissions.can_mute_member(moderator, room, None)
    assert not permissions.can_mute_member(moderator, room, moderator)


@pytest.fixture
def moderator_without_mfa(make_user, group):
    from groups.models import Role
    from tests.fixtures.people import join

    user = make_user("nomfa@example.org", display_name="Nomfa Moderator")
    join(user, group, Role.MODERATOR)
    return user


def test_moderator_actions_in_chat_if_moderator_has_mfa(moderator, member, message, room):
    assert permissions.can_mute(moderator, room)
    assert permissions.can_delete_message(moderator, message)
    permissions.check_delete_message(moderator, message)


def test_moderator_actions_in_chat_need_mfa(moderator_without_mfa, member, message, room):
    from groups.permissions import MFARequired

    assert not permissions.can_mute(moderator_without_mfa, room)
    assert not permissions.can_mute_member(moderator_without_mfa, room, member)
    with pytest.raises(MFARequired, match="two-factor"):
        permissions.check_mute_member(moderator_without_mfa, room, member)
    assert not permissions.can_delete_message(moderator_without_mfa, message)
    with pytest.raises(MFARequired):
        permissions.check_delete_message(moderator_without_mfa, message)
    # Their own messages are theirs to delete, two-factor or not.
    own = services.message_send(actor=moderator_without_mfa, room=room, body="mine")
    permissions.check_delete_message(moderator_without_mfa, own)


def test_check_delete_message_refuses_a_member_others_message_plainly(guest, message):
    from groups.permissions import MFARequired

    with pytest.raises(PermissionDenied) as refused:
        permissions.check_delete_message(guest, message)
    assert not isinstance(refused.value, MFARequired)


def test_messages_visible_to_the_group_and_organisers(member, guest, organiser, message):
    for person in (member, guest, organiser):
        assert list(permissions.messages_visible_to(person)) == [message]


@pytest.mark.parametrize("who", ["outsider", "other_member", "expired_guest", "removed_member"])
def test_messages_visible_to_nobody_outside_the_group(request, message, who):
    assert not permissions.messages_visible_to(request.getfixturevalue(who)).exists()


@pytest.fixture
def meeting(group, moderator):
    starts = timezone.now() + datetime.timedelta(days=1)
    return Meeting.objects.create(
        group=group, title="Session", starts_at=starts, ends_at=starts + datetime.timedelta(hours=1)
    )


def readers(meeting, user_ids) -> set[int]:
    pairs = permissions.minutes_audience([meeting], user_ids)
    assert {meeting_id for meeting_id, _user_id in pairs} <= {meeting.pk}
    return {user_id for _meeting_id, user_id in pairs}


def test_minutes_audience_of_a_draft_is_its_moderators_and_organisers(
    meeting,
    member,
    guest,
    moderator,
    organiser,
    outsider,
    other_moderator,
    django_assert_num_queries,
):
    people = {p.pk for p in (member, guest, moderator, organiser, outsider, other_moderator)}
    with django_assert_num_queries(2):
        audience = readers(meeting, people)
    assert audience == {moderator.pk, organiser.pk}
    for person in (member, guest, moderator, organiser, outsider, other_moderator):
        assert permissions.can_read_minutes(person, meeting) == (person.pk in audience)


def test_minutes_audience_of_published_minutes_is_the_group(
    meeting, member, guest, moderator, organiser, outsider, expired_guest, removed_member
):
    meeting.minutes_published_at = timezone.now()
    meeting.save()
    everyone = (member, guest, moderator, organiser, outsider, expired_guest, removed_member)
    audience = readers(meeting, {p.pk for p in everyone})
    assert audience == {member.pk, guest.pk, moderator.pk, organiser.pk}
    for person in everyone:
        assert permissions.can_read_minutes(person, meeting) == (person.pk in audience)


def test_minutes_audience_leaves_out_deactivated_people(meeting, moderator):
    moderator.is_active = False
    moderator.save()
    assert readers(meeting, {moderator.pk}) == set()
