"""Who may see and do what in meetings and chat rooms; built on groups.permissions."""

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from core.streams import Access
from groups import permissions as group_permissions

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
    mute = RoomMute.objects.filter(room=room, user=user, until__gt=timezone.now()).first()
    return mute.until if mute else None


def check_send_message(user, room: ChatRoom) -> None:
    """PermissionDenied unless the user takes part in the room's group, the group
    is active, the room is open and the user is not muted there.
    The exception's message says which."""
    from django.utils.translation import gettext as _

    if not group_permissions.is_member(user, room.group):
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
