"""Who may see and do what in meetings and chat rooms; built on groups.permissions."""

import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from core.streams import Access
from groups import permissions as group_permissions

from .models import ChatMessage, ChatRoom, Meeting, RoomMute


def meetings_visible_to(user) -> QuerySet[Meeting]:
    return Meeting.objects.filter(group_permissions.in_groups_visible_to(user))


def meetings_audience(meetings, user_ids) -> set[tuple[int, int]]:
    """``meetings_visible_to`` for many people and meetings at once: the
    pairs (meeting id, user id) where that person may see that meeting now
    (``meetings``: Meeting objects), in the queries of
    ``groups.permissions.groups_audience``."""
    return _audience(list(meetings), user_ids, moderators=False)


def minutes_audience(meetings, user_ids) -> set[tuple[int, int]]:
    """``can_read_minutes`` for many people and meetings at once: the pairs
    (meeting id, user id) where that person may read that meeting's minutes
    now (published: the group's people; drafts: its moderators)."""
    meetings = list(meetings)
    published = [m for m in meetings if m.minutes_published_at is not None]
    drafts = [m for m in meetings if m.minutes_published_at is None]
    return _audience(published, user_ids, moderators=False) | _audience(
        drafts, user_ids, moderators=True
    )


def _audience(meetings: list[Meeting], user_ids, *, moderators: bool) -> set[tuple[int, int]]:
    if not meetings:
        return set()
    pairs = group_permissions.groups_audience(
        {m.group_id for m in meetings}, user_ids, moderators=moderators
    )
    people_by_group: dict[int, list[int]] = {}
    for group_id, user_id in pairs:
        people_by_group.setdefault(group_id, []).append(user_id)
    return {
        (meeting.pk, user_id)
        for meeting in meetings
        for user_id in people_by_group.get(meeting.group_id, ())
    }


def access_meeting(user, pk) -> Meeting:
    """The meeting if the user may see it; Http404 otherwise (missing and forbidden alike)."""
    meeting = meetings_visible_to(user).select_related("group").filter(pk=pk).first()
    if meeting is None:
        raise Http404
    return meeting


def rooms_visible_to(user) -> QuerySet[ChatRoom]:
    return ChatRoom.objects.filter(group_permissions.in_groups_visible_to(user))


def access_room(user, pk) -> ChatRoom:
    """The chat room if the user may see it (with its group and meeting);
    Http404 otherwise (missing and forbidden alike)."""
    room = rooms_visible_to(user).select_related("group", "meeting").filter(pk=pk).first()
    if room is None:
        raise Http404
    return room


def room_to_send(pk) -> ChatRoom | None:
    """The room ``pk`` with its group and meeting, or None, *unchecked*: for
    ``message_send``, whose ``check_send_message`` applies the group's rule
    (``is_member``) itself. Reading the room through ``access_room`` as well
    would decide the same rule twice for every chat message. Whoever is
    refused because they do not take part must be answered as for a room
    that does not exist (``meetings.chat``)."""
    return ChatRoom.objects.select_related("group", "meeting").filter(pk=pk).first()


def can_schedule(user, group) -> bool:
    """Schedule, edit, cancel meetings and write and publish minutes: moderators."""
    return group_permissions.is_moderator(user, group) and not group.archived


def check_schedule(user, group) -> None:
    if not can_schedule(user, group):
        raise PermissionDenied


def can_read_minutes(user, meeting: Meeting) -> bool:
    """Published minutes for the group's people; drafts for its moderators."""
    if meeting.minutes_published_at is not None:
        return group_permissions.is_member(user, meeting.group)
    return group_permissions.is_moderator(user, meeting.group)


def minutes_readable_q(user) -> Q:
    """``can_read_minutes`` for many meetings, as a filter on meetings the user
    sees already (``meetings_visible_to``): published minutes, or drafts in the
    groups the user moderates."""
    return Q(minutes_published_at__isnull=False) | group_permissions.in_groups_moderated_by(user)


def messages_visible_to(user) -> QuerySet[ChatMessage]:
    """The messages of the rooms the user may see (deleted ones too: their
    place in the room stays, without text)."""
    return ChatMessage.objects.filter(room__in=rooms_visible_to(user))


def messages_audience(messages, user_ids) -> set[tuple[int, int]]:
    """``messages_visible_to`` for many people and messages at once: the
    pairs (message id, user id) where that person may see the message's room
    now (``messages``: ChatMessage objects with ``room`` loaded), in the
    queries of ``groups.permissions.groups_audience``."""
    return group_permissions.objects_audience(
        [(message.pk, message.room.group_id) for message in messages], user_ids
    )


def access_message(user, pk) -> ChatMessage:
    """A message of a room the user may see (with its room, group and
    meeting); Http404 otherwise (missing and forbidden alike)."""
    message = (
        messages_visible_to(user)
        .select_related("room__group", "room__meeting")
        .filter(pk=pk)
        .first()
    )
    if message is None:
        raise Http404
    return message


def muted_until(user, room: ChatRoom) -> datetime.datetime | None:
    """The end of the user's mute in ``room``, or None."""
    mute = RoomMute.objects.filter(room=room, user=user, until__gt=timezone.now()).first()
    return mute.until if mute else None


def send_refusal(room: ChatRoom, *, member: bool, muted: datetime.datetime | None) -> str | None:
    """Why someone may not write in ``room`` now, or None if they may:
    ``member`` says whether they take part in its group (``is_member``),
    ``muted`` is the end of their mute there (``muted_until``). The caller
    reads both, so that a page showing them asks once."""
    if not member:
        return _("You are not in this group.")
    if room.group.archived:
        return _("This group is archived.")
    if not room.is_open():
        return _("This meeting room is closed.")
    if muted is not None:
        return _("A moderator muted you in this room for a while.")
    return None


def check_send_message(user, room: ChatRoom) -> None:
    """PermissionDenied unless the user takes part in the room's group, the group
    is active, the room is open and the user is not muted there.
    The exception's message says which."""
    member = group_permissions.is_member(user, room.group)
    refusal = send_refusal(room, member=member, muted=muted_until(user, room) if member else None)
    if refusal is not None:
        raise PermissionDenied(refusal)


def can_send_when_open(room: ChatRoom, *, member: bool, muted: datetime.datetime | None) -> bool:
    """Could write in ``room`` now or once its meeting's room opens: takes part
    in the group, which is not archived, and is not muted (``member`` and
    ``muted`` as for ``send_refusal``)."""
    if send_refusal(room, member=member, muted=muted) is None:
        return True
    return (
        member
        and muted is None
        and not room.group.archived
        and (room.meeting is None or room.meeting.status == Meeting.Status.SCHEDULED)
    )


def can_edit_message(user, message: ChatMessage) -> bool:
    return message.deleted_at is None and message.author_id == user.pk


def can_delete_message(user, message: ChatMessage) -> bool:
    """Its author, and the group's moderators with two-factor authentication
    (``can_act_as_moderator``); nobody once it is deleted."""
    if message.deleted_at is not None:
        return False
    return message.author_id == user.pk or group_permissions.can_act_as_moderator(
        user, message.room.group
    )


def check_delete_message(user, message: ChatMessage) -> None:
    """PermissionDenied unless ``can_delete_message``; MFARequired (a
    PermissionDenied) for a moderator without two-factor authentication
    deleting someone else's message."""
    if can_delete_message(user, message):
        return
    if message.deleted_at is None and group_permissions.is_moderator(user, message.room.group):
        # Someone else's message (its author may delete it): what is missing
        # is the second factor.
        raise group_permissions.MFARequired
    raise PermissionDenied(_("You may not delete this message."))


def can_mute(user, room: ChatRoom) -> bool:
    """Mute people in ``room`` at all: the group's moderators with two-factor
    authentication (``can_act_as_moderator``)."""
    return group_permissions.can_act_as_moderator(user, room.group)


def check_mute_member(actor, room: ChatRoom, target) -> None:
    """PermissionDenied unless ``actor`` may mute people in ``room``
    (``can_mute``; MFARequired for a moderator without two-factor
    authentication); ValidationError (code ``target``) unless ``target`` (a
    user, or None for nobody) is someone else who takes part in the group."""
    if not group_permissions.is_moderator(actor, room.group):
        raise PermissionDenied(_("Only moderators mute people."))
    group_permissions.check_act_as_moderator(actor, room.group)
    if target is None or not group_permissions.is_member(target, room.group):
        raise ValidationError(_("This person is not in the group."), code="target")
    if target.pk == actor.pk:
        raise ValidationError(_("You cannot mute yourself."), code="target")


def can_mute_member(actor, room: ChatRoom, target) -> bool:
    """Whether ``check_mute_member`` lets ``actor`` mute ``target`` in ``room``."""
    try:
        check_mute_member(actor, room, target)
    except (PermissionDenied, ValidationError):
        return False
    return True


def room_stream_access(user, key: str):
    """Socket access to a chat room (``room:<id>``): the group's people, until
    their access ends."""
    room = rooms_visible_to(user).filter(pk=key).first()
    if room is None:
        return None
    membership = group_permissions.membership_of(user, room.group)
    return Access(group_id=room.group_id, expires_at=membership.expires_at if membership else None)
