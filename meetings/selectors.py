"""Reads of meetings and chat rooms for pages and socket frames: they start
from objects the caller got through ``meetings.permissions``, or from its
``meetings_visible_to`` (the home page's news, the search)."""

import datetime
from collections.abc import Iterable

from django.conf import settings
from django.db.models import (
    BooleanField,
    Count,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Window,
)
from django.db.models.functions import RowNumber
from django.utils import timezone
from django.utils.translation import gettext as _

from core.realtime import last_seq
from groups import permissions as group_permissions
from groups.models import GroupVisit, WorkingGroup

from . import permissions
from .models import ChatRoom, Meeting, RoomReadState
from .services import message_payload

HISTORY_PAGE = 50


def history_page(room: ChatRoom, *, before_seq: int | None = None, limit: int = HISTORY_PAGE):
    """The newest ``limit`` messages of ``room`` before ``before_seq`` (all if
    None), oldest first, as message payloads; and whether older ones exist."""
    messages = room.messages.select_related("author")
    if before_seq is not None:
        messages = messages.filter(seq__lt=before_seq)
    page = list(messages.order_by("-seq")[: limit + 1])
    return [message_payload(message) for message in reversed(page[:limit])], len(page) > limit


def unread_count(user, room: ChatRoom, last_read_seq: int | None = None) -> int:
    """Messages by others in ``room`` after the user's read mark, not deleted."""
    if last_read_seq is None:
        last_read_seq = (
            RoomReadState.objects.filter(room=room, user=user)
            .values_list("last_read_seq", flat=True)
            .first()
            or 0
        )
    return (
        room.messages.filter(seq__gt=last_read_seq, deleted_at__isnull=True)
        .exclude(author=user)
        .count()
    )


def _strings() -> dict:
    """What chat.js shows, in the page's language."""
    return {
        "edit": _("Edit"),
        "delete": _("Delete"),
        "mute": _("Mute"),
        "save": _("Save"),
        "cancel": _("Cancel"),
        "edited": _("(edited)"),
        "deleted": _("This message was deleted."),
        "confirmDelete": _("Delete this message?"),
        "sending": _("Sending…"),
        "failed": _("Not sent:"),
        "retry": _("Try again"),
        "typingOne": _("%(name)s is typing…"),
        "typingMany": _("%(names)s are typing…"),
        "nobody": _("Nobody else is here."),
        "you": _("you"),
        "unread": _("%(count)s unread"),
        "muted": _("A moderator muted you in this room until %(time)s."),
        "muteFor": _("Mute for"),
        "minutes": _("%(count)s min"),
        "closed": _("This meeting room is closed."),
        "gone": _("You no longer have access to this room."),
        "offline": _("Connection lost. Reconnecting…"),
        "newMessages": _("New messages below"),
    }


def chat_context(user, room: ChatRoom) -> dict:
    """What ``templates/meetings/_chat.html`` needs, under the one key ``chat``
    (the including view merges it into its context)::

        {"chat": {"room", "stream", "last_seq", "messages" (the last 50, oldest
         first: message payloads with "mine" and "created" (a datetime)),
         "has_more", "me", "can_send", "refusal" (why not, or None),
         "can_send_when_open", "can_moderate" (delete others' messages and
         mute: a moderator with two-factor authentication),
         "moderation_needs_mfa" (a moderator without it, who is told so),
         "closed", "archived",
         "muted_until", "opens_at",
         "closes_at" (meeting rooms; None for the standing room), "last_read_seq",
         "unread", "max_chars", "strings", "history_page"}}

    The stream's number is read before the messages, so the page subscribes
    from a point no later than what it shows; events after it that the page
    already shows are replaced, not repeated (chat.js keys messages by seq).
    Rendering needs no JavaScript: the messages are in the HTML.
    """
    stream = room.stream
    seq = last_seq(stream)
    page, has_more = history_page(room)
    last_read = (
        RoomReadState.objects.filter(room=room, user=user)
        .values_list("last_read_seq", flat=True)
        .first()
        or 0
    )
    # Asked once for the page: whether they may write, now or once the room opens.
    member = group_permissions.is_member(user, room.group)
    muted = permissions.muted_until(user, room) if member else None
    refusal = permissions.send_refusal(room, member=member, muted=muted)
    can_moderate = permissions.can_mute(user, room)
    opens_at = closes_at = None
    if room.meeting_id is not None:
        opens_at, closes_at = room.meeting.room_open_window()
    own_bodies = dict(
        room.messages.filter(
            seq__in=[p["seq"] for p in page], author=user, deleted_at__isnull=True
        ).values_list("seq", "body")
    )
    messages = [
        {
            **payload,
            "mine": bool(payload["author"]) and payload["author"]["id"] == user.pk,
            "created": datetime.datetime.fromisoformat(payload["created_at"]),
            # The Markdown of one's own messages, to edit them.
            "body": own_bodies.get(payload["seq"]),
        }
        for payload in page
    ]
    return {
        "chat": {
            "room": room,
            "stream": stream,
            "last_seq": seq,
            "messages": messages,
            "has_more": has_more,
            "me": user.pk,
            "can_send": refusal is None,
            "refusal": refusal,
            "can_send_when_open": permissions.can_send_when_open(room, member=member, muted=muted),
            "can_moderate": can_moderate,
            "moderation_needs_mfa": not can_moderate
            and group_permissions.is_moderator(user, room.group),
            # Why nobody writes here now, which the page says itself.
            "closed": not room.is_open(),
            "archived": room.group.archived,
            "muted_until": muted,
            "opens_at": opens_at,
            "closes_at": closes_at,
            "last_read_seq": last_read,
            "unread": unread_count(user, room, last_read),
            "max_chars": settings.CHAT_MAX_MESSAGE_CHARS,
            "history_page": HISTORY_PAGE,
            "strings": _strings(),
        }
    }


# --- The home page and the search ------------------------------------------------

MINUTES_LISTED = 3


def next_meetings(user, groups: Iterable[WorkingGroup], *, at=None) -> dict[int, Meeting]:
    """For each of ``groups`` that has one, its next meeting ``user`` may see:
    the first scheduled one not yet over (``at``, default now), with
    ``is_open`` set while its room is open (then the page shows the video
    link). One query, whatever the number of groups and meetings."""
    at = at or timezone.now()
    meetings = (
        permissions.meetings_visible_to(user)
        .filter(
            group_id__in=[group.pk for group in groups],
            status=Meeting.Status.SCHEDULED,
            ends_at__gt=at,
        )
        .annotate(
            place=Window(
                RowNumber(), partition_by=[F("group_id")], order_by=[F("starts_at"), F("pk")]
            )
        )
        .filter(place=1)
    )
    found = {}
    for meeting in meetings:
        opens, closes = meeting.room_open_window()
        meeting.is_open = opens <= at <= closes
        found[meeting.group_id] = meeting
    return found


def minutes_published_since_visit(
    user, groups: Iterable[WorkingGroup], *, listed: int = MINUTES_LISTED
) -> dict[int, list[Meeting]]:
    """For each of ``groups`` that has any: the meetings whose minutes were
    published since ``user`` last opened the group's overview or meetings
    (all, if never),
    newest first, at most ``listed`` of them; the first carries
    ``minutes_count``, the number of all. Published minutes are for everyone
    who sees the meeting (``permissions.can_read_minutes``). One query."""
    seen_at = GroupVisit.objects.seen_at(user, "group_id", GroupVisit.Section.MEETINGS)
    meetings = (
        permissions.meetings_visible_to(user)
        .filter(group_id__in=[group.pk for group in groups], minutes_published_at__isnull=False)
        .alias(seen_at=seen_at)
        .filter(Q(seen_at__isnull=True) | Q(minutes_published_at__gt=F("seen_at")))
        .annotate(
            place=Window(
                RowNumber(),
                partition_by=[F("group_id")],
                order_by=[F("minutes_published_at").desc(), F("pk").desc()],
            ),
            minutes_count=Window(Count("pk"), partition_by=[F("group_id")]),
        )
        .filter(place__lte=listed)
        .order_by("group_id", "place")
    )
    found: dict[int, list[Meeting]] = {}
    for meeting in meetings:
        found.setdefault(meeting.group_id, []).append(meeting)
    return found


def meeting_search(
    user, *, words: list[str], without: list[str] = (), group=None, limit: int = 20
) -> QuerySet[Meeting]:
    """Meetings ``user`` may see (``meetings_visible_to``) whose title, agenda
    or minutes (only minutes the user may read) contain every one of
    ``words`` and none of ``without`` (case-insensitive), in ``group`` only if
    given; the latest first, at most ``limit``. Each carries
    ``minutes_readable``. No words: none."""
    if not words:
        return Meeting.objects.none()
    readable = permissions.minutes_readable_q(user)
    meetings = permissions.meetings_visible_to(user)
    if group is not None:
        meetings = meetings.filter(group=group)

    def found(word: str) -> Q:
        return (
            Q(title__icontains=word)
            | Q(agenda__icontains=word)
            | (readable & Q(minutes__icontains=word))
        )

    for word in words:
        meetings = meetings.filter(found(word))
    for word in without:
        meetings = meetings.exclude(found(word))
    return (
        meetings.annotate(minutes_readable=ExpressionWrapper(readable, output_field=BooleanField()))
        .select_related("group")
        .order_by("-starts_at", "-pk")[:limit]
    )
