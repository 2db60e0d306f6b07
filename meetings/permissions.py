"""Who may see and do what in meetings and chat rooms; built on groups.permissions."""

import functools

from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from core import rows
from core.streams import Access
from groups import permissions as group_permissions
from groups.models import WorkingGroup

from .models import ChatMessage, ChatRoom, Meeting, RoomMute


def meetings_visible_to(user) -> QuerySet[Meeting]:
    return Meeting.objects.filter(group__in=group_permissions.groups_visible_to(user))


def access_meeting(user, pk) -> Meeting:
    """The meeting if the user may see it; Http404 otherwise (missing and forbidden alike)."""
    meeting = meetings_visible_to(user).select_related("group").filter(pk=pk).first()
    if meeting is None:
        raise Http404
    return meeting


def rooms_visible_to(user) -> QuerySet[ChatRoom]:
    return ChatRoom.objects.filter(group__in=group_permissions.groups_visible_to(user))


def access_room(user, pk) -> ChatRoom:
    room = rooms_visible_to(user).select_related("group", "meeting").filter(pk=pk).first()
    if room is None:
        raise Http404
    return room


@functools.cache
def _room_to_send_sql(vendor: str) -> tuple[str, tuple[rows.Columns, ...]]:
    """The query of ``access_room_to_send`` and the columns of its models."""
    columns = (
        rows.Columns(ChatRoom, "r"),
        rows.Columns(WorkingGroup, "g"),
        rows.Columns(Meeting, "m"),
    )
    sql = f"""
        SELECT {", ".join(part.select for part in columns)},
            (SELECT mu.until FROM {rows.table(RoomMute)} mu
              WHERE mu.room_id = r.id AND mu.user_id = %(user)s AND mu.until > %(now)s
              ORDER BY mu.until DESC LIMIT 1)
        FROM {rows.table(ChatRoom)} r
        JOIN {rows.table(WorkingGroup)} g ON g.id = r.group_id
        LEFT JOIN {rows.table(Meeting)} m ON m.id = r.meeting_id
        WHERE r.id = %(pk)s AND {group_permissions.visible_group_sql("r.group_id")}
    """  # noqa: S608 (table and column names are the models'; values are parameters)
    return sql, columns


def access_room_to_send(user, pk) -> ChatRoom:
    """``access_room`` that also reads, in the same query, what
    ``check_send_message`` needs besides the room: the user's mute there. The
    room is one of the rooms the user may see (``rooms_visible_to``: a valid
    membership of its group, or an organiser), so that they take part in its
    group is known too.

    Hand-written SQL (core.rows): this runs for every chat message, and
    building the equivalent queryset (nested subqueries) cost Django about
    2 ms of CPU per message, a fifth of the server's whole cost of storing and
    fanning out a message to ten people (bench/chat_send.py). Tests compare it
    with the queryset functions for every kind of person (meetings/tests)."""
    sql, columns = _room_to_send_sql(connection.vendor)
    return _room_to_send(user, group_permissions.access_row(user, sql, pk), columns)


async def aaccess_room_to_send(cursor, user, pk) -> ChatRoom:
    """``access_room_to_send`` on the event loop, with ``cursor`` (an
    asynchronous psycopg cursor on PostgreSQL: core.adb)."""
    sql, columns = _room_to_send_sql("postgresql")
    await cursor.execute(sql, group_permissions.access_params(user, pk))
    row = await cursor.fetchone()
    if row is None:
        raise Http404
    return _room_to_send(user, row, columns)


def _room_to_send(user, row, columns) -> ChatRoom:
    room, group, meeting, muted = rows.split(row, *columns)
    room.group, room.meeting = group, meeting
    room.sender_muted_until = rows.convert(muted, *_mute_until_converters())
    room.sender_checked = user.pk
    return room


@functools.cache
def _mute_until_converters():
    return rows.converters_of(RoomMute._meta.get_field("until"))


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


def muted_until(user, room: ChatRoom):
    """The end of the user's mute in ``room``, or None; what
    ``access_room_to_send`` read with the room for this user, if it did."""
    if _read_with_room(user, room):
        return room.sender_muted_until
    mute = RoomMute.objects.filter(room=room, user=user, until__gt=timezone.now()).first()
    return mute.until if mute else None


def _read_with_room(user, room: ChatRoom) -> bool:
    return getattr(room, "sender_checked", None) == user.pk


def check_send_message(user, room: ChatRoom) -> None:
    """PermissionDenied unless the user takes part in the room's group, the group
    is active, the room is open and the user is not muted there.
    The exception's message says which."""
    from django.utils.translation import gettext as _

    # Read with the room by access_room_to_send for this user, or asked now.
    if not _read_with_room(user, room) and not group_permissions.is_member(user, room.group):
        raise PermissionDenied(_("You are not in this group."))
    if room.group.archived:
        raise PermissionDenied(_("This group is archived."))
    if not room.is_open():
        raise PermissionDenied(_("This meeting room is closed."))
    if muted_until(user, room) is not None:
        raise PermissionDenied(_("A moderator muted you in this room for a while."))


def can_edit_message(user, message: ChatMessage) -> bool:
    return message.deleted_at is None and message.author_id == user.pk


def can_delete_message(user, message: ChatMessage) -> bool:
    if message.deleted_at is not None:
        return False
    return message.author_id == user.pk or group_permissions.is_moderator(user, message.room.group)


def can_mute(user, room: ChatRoom) -> bool:
    return group_permissions.is_moderator(user, room.group)


def room_stream_access(user, key: str):
    """Socket access to a chat room (``room:<id>``): the group's people, until
    their access ends."""
    room = rooms_visible_to(user).filter(pk=key).first()
    if room is None:
        return None
    membership = group_permissions.membership_of(user, room.group)
    return Access(group_id=room.group_id, expires_at=membership.expires_at if membership else None)
