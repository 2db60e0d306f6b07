"""Writes to meetings and chat rooms. Each checks permission, runs in one
transaction, and emits after commit:

on ``room:<id>`` (numbered; a reconnecting client catches up on them):
- ``message.created`` {message}  (id, seq, author {id, name}, html, created_at, edited,
  deleted)
- ``message.edited`` {message}, ``message.deleted`` {message}
- ``member.muted`` {user, until}
on ``group:<id>``: ``meeting.scheduled`` / ``meeting.changed`` {meeting},
``minutes.published`` {meeting}
on ``user:<id>`` (unnumbered): ``room.read`` {room, seq}

Inside the transaction, the hook ``meetings.meeting_changed`` (meeting,
actor, change) hears of a meeting scheduled, moved (its time changed),
cancelled, and of minutes published; ``public.changed`` (group_id, then
None) of any change of a webinar meeting (its title and times may be on the
public pages); ``meetings.message_mentioned``
(message, actor, mentioned) of the people a chat message mentions (sent, or
newly mentioned by an edit), and ``meetings.meeting_text_mentioned``
(meeting, actor, part, mentioned) of the people an agenda or minutes
(``part``) mention that the saved text did not (for minutes published the
first time: everyone they mention, since until then only moderators could
read them): the notifications.

Typing and presence are not stored: see ``meetings.presence``.
"""

import datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core import hooks
from core.markdown import mentioned_handles
from core.realtime import emit, last_seq, next_seq, publish_on_commit, user_stream
from groups.mentions import mentioned_people, render_post
from groups.services import audit

from . import permissions
from .models import CalendarFeed, ChatMessage, ChatRoom, Meeting, RoomMute, RoomReadState


def standing_room(group) -> ChatRoom:
    """The group's standing room (created on first use)."""
    room, _created = ChatRoom.objects.get_or_create(group=group, meeting=None)
    return room


def meeting_room(meeting: Meeting) -> ChatRoom:
    room, _created = ChatRoom.objects.get_or_create(group=meeting.group, meeting=meeting)
    return room


def message_payload(message: ChatMessage) -> dict:
    author = message.author
    return {
        "id": message.pk,
        "room": message.room_id,
        "seq": message.seq,
        "author": {"id": author.pk, "name": author.get_full_name()} if author else None,
        "html": message.body_html,
        "created_at": message.created_at.isoformat(),
        "edited": message.edited_at is not None,
        "deleted": message.deleted_at is not None,
    }


def _clean_body(body) -> str:
    if not isinstance(body, str):
        raise ValidationError(_("A message is text."), code="type")
    body = body.strip()
    if not body:
        raise ValidationError(_("The message is empty."), code="empty")
    if len(body) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise ValidationError(
            _("A message can be at most %(max)d characters long.")
            % {"max": settings.CHAT_MAX_MESSAGE_CHARS},
            code="long",
        )
    if "\x00" in body or (not body.isascii() and not _is_unicode(body)):
        raise ValidationError(_("The text contains characters that are not allowed."))
    return body


def _is_unicode(text: str) -> bool:
    """False for a lone surrogate (a JSON "\\ud800"), which no database,
    renderer or socket takes."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def message_send(*, actor, room: ChatRoom, body: str, client_id: str = "") -> ChatMessage:
    """Posts a chat message: ValidationError for a text that cannot be sent,
    PermissionDenied (with the reason as message) if the actor may not write
    here now (``check_send_message``). The room's sequence number is
    allocated inside the writing transaction, so sequence order is commit
    order. Sends ``message.created`` after commit.

    ``client_id`` is the sending page's name for the message: if the actor
    has sent one under that name already, that one is returned and nothing
    is stored (the page resent it, not knowing it had arrived)."""
    body = _clean_body(body)
    permissions.check_send_message(actor, room)
    html, mentioned = render_post(body, room.group)
    message = ChatMessage(room=room, author=actor, body=body, body_html=html, client_id=client_id)
    try:
        with transaction.atomic():
            message.seq = next_seq(room.stream)
            message.save(force_insert=True)
            payload = {"message": message_payload(message)}
            emit(room.stream, "message.created", payload, seq=message.seq)
            # Only with a mention: most messages have none and cost nothing more.
            if mentioned:
                hooks.call(
                    "meetings.message_mentioned", message=message, actor=actor, mentioned=mentioned
                )
    except IntegrityError:
        # Rolled back, its sequence number too. Asked only now: a resend is
        # rare, and the unique constraint also settles two at the same time.
        sent = message_sent(actor, client_id)
        if sent is None:
            raise
        return sent
    return message


def message_sent(actor, client_id: str) -> ChatMessage | None:
    """The message ``actor`` sent under ``client_id``, if any."""
    if not client_id:
        return None
    return ChatMessage.objects.filter(author=actor, client_id=client_id).first()


def message_edit(*, actor, message: ChatMessage, body: str) -> ChatMessage:
    """Changes one's own message."""
    body = _clean_body(body)
    with transaction.atomic():
        message = (
            ChatMessage.objects.select_for_update(of=("self",))
            .select_related("room__group")
            .get(pk=message.pk)
        )
        if not permissions.can_edit_message(actor, message):
            raise PermissionDenied(_("You can only edit your own messages."))
        permissions.check_send_message(actor, message.room)
        before = mentioned_handles(message.body)
        message.body = body
        message.body_html, mentioned = render_post(body, message.room.group)
        message.edited_at = timezone.now()
        message.save(update_fields=["body", "body_html", "edited_at"])
        emit(message.room.stream, "message.edited", {"message": message_payload(message)})
        mentioned = [person for person in mentioned if person.mention_handle not in before]
        if mentioned:
            hooks.call(
                "meetings.message_mentioned", message=message, actor=actor, mentioned=mentioned
            )
    return message


def message_delete(*, actor, message: ChatMessage) -> ChatMessage:
    """Deletes a message: one's own, or any as a moderator (audited)."""
    with transaction.atomic():
        message = (
            ChatMessage.objects.select_for_update(of=("self",))
            .select_related("room__group")
            .get(pk=message.pk)
        )
        if not permissions.can_delete_message(actor, message):
            raise PermissionDenied(_("You may not delete this message."))
        message.deleted_at = timezone.now()
        message.body = ""
        message.body_html = ""
        message.save(update_fields=["deleted_at", "body", "body_html"])
        if message.author_id != actor.pk:
            audit(
                group=message.room.group,
                actor=actor,
                action="chat.message_deleted",
                summary=f"{message.room} #{message.seq}",
            )
        emit(message.room.stream, "message.deleted", {"message": message_payload(message)})
    return message


def member_mute(*, actor, room: ChatRoom, user, minutes: int) -> RoomMute:
    """A moderator mutes someone else in the room's group for ``minutes`` (1
    to 1440): PermissionDenied and ValidationError from ``check_mute_member``,
    ValidationError (code ``minutes``) for a time out of range. Sends
    ``member.muted``."""
    permissions.check_mute_member(actor, room, user)
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= 1440:
        raise ValidationError(_("Mute for 1 to 1440 minutes."), code="minutes")
    until = timezone.now() + datetime.timedelta(minutes=minutes)
    with transaction.atomic():
        mute, _created = RoomMute.objects.update_or_create(
            room=room, user=user, defaults={"until": until, "muted_by": actor}
        )
        audit(
            group=room.group,
            actor=actor,
            action="chat.muted",
            summary=f"{user} in {room} for {minutes} min",
        )
        emit(room.stream, "member.muted", {"user": user.pk, "until": until.isoformat()})
    return mute


def room_mark_read(*, user, room: ChatRoom, seq: int) -> int:
    """Marks ``room`` (one the user may see: ``access_room``) read by ``user``
    up to ``seq`` (at most the room's last number; the mark never moves back)
    and returns the mark. The user's other
    sockets get ``room.read`` {room, seq} on their user stream when it moved."""
    seq = min(seq, last_seq(room.stream))
    with transaction.atomic():
        moved = RoomReadState.objects.filter(room=room, user=user, last_read_seq__lt=seq).update(
            last_read_seq=seq, updated_at=timezone.now()
        )
        if not moved:
            state, created = RoomReadState.objects.get_or_create(
                room=room, user=user, defaults={"last_read_seq": seq}
            )
            moved = created and seq > 0
            seq = state.last_read_seq
        if moved:
            publish_on_commit(user_stream(user.pk), "room.read", {"room": room.pk, "seq": seq})
    return seq


def _meeting_fields(data: dict) -> dict:
    allowed = {"title", "kind", "starts_at", "ends_at", "agenda", "video_link", "status"}
    fields = {key: value for key, value in data.items() if key in allowed}
    starts, ends = fields.get("starts_at"), fields.get("ends_at")
    if starts and ends and ends <= starts:
        raise ValidationError(_("A meeting ends after it starts."), code="times")
    return fields


def meeting_schedule(*, actor, group, data: dict) -> Meeting:
    """Schedules a meeting of ``group`` (moderators). Sends ``meeting.scheduled``."""
    permissions.check_schedule(actor, group)
    fields = _meeting_fields(data)
    with transaction.atomic():
        meeting = Meeting.objects.create(group=group, created_by=actor, **fields)
        meeting_room(meeting)
        audit(group=group, actor=actor, action="meeting.scheduled", summary=meeting.title)
        emit(f"group:{group.pk}", "meeting.scheduled", {"meeting": meeting.pk})
        hooks.call("meetings.meeting_changed", meeting=meeting, actor=actor, change="scheduled")
        _text_mentioned(meeting, actor, "agenda", meeting.agenda)
    return meeting


def _text_mentioned(meeting: Meeting, actor, part: str, text: str, before: str = "") -> None:
    """The hook ``meetings.meeting_text_mentioned`` for the people ``text``
    (the meeting's ``part``: agenda or minutes) mentions and ``before`` did
    not; nothing (and no query) without a new ``@handle``."""
    mentioned = mentioned_people(text, meeting.group, before=before)
    if mentioned:
        hooks.call(
            "meetings.meeting_text_mentioned",
            meeting=meeting,
            actor=actor,
            part=part,
            mentioned=mentioned,
        )


def meeting_update(*, actor, meeting: Meeting, data: dict) -> Meeting:
    """Changes a meeting (moderators). Sends ``meeting.changed``."""
    permissions.check_schedule(actor, meeting.group)
    fields = _meeting_fields(data)
    starts = fields.get("starts_at", meeting.starts_at)
    ends = fields.get("ends_at", meeting.ends_at)
    if ends <= starts:
        raise ValidationError(_("A meeting ends after it starts."), code="times")
    with transaction.atomic():
        # Under the row lock, so that two edits at once get two revisions.
        locked = Meeting.objects.select_for_update().get(pk=meeting.pk)
        for key, value in fields.items():
            setattr(meeting, key, value)
        meeting.updated_at = timezone.now()
        meeting.revision = locked.revision + 1
        meeting.save()
        audit(group=meeting.group, actor=actor, action="meeting.changed", summary=meeting.title)
        emit(f"group:{meeting.group_id}", "meeting.changed", {"meeting": meeting.pk})
        change = None
        if meeting.status == Meeting.Status.CANCELLED:
            if locked.status != Meeting.Status.CANCELLED:
                change = "cancelled"
        elif (meeting.starts_at, meeting.ends_at) != (locked.starts_at, locked.ends_at):
            change = "moved"
        if change is not None:
            hooks.call("meetings.meeting_changed", meeting=meeting, actor=actor, change=change)
        if Meeting.Kind.WEBINAR in (meeting.kind, locked.kind):
            # A webinar's title and times may be on the public pages.
            hooks.call("public.changed", group_id=meeting.group_id)
            hooks.call("public.changed", group_id=None)
        _text_mentioned(meeting, actor, "agenda", meeting.agenda, before=locked.agenda)
    return meeting


def minutes_save(
    *,
    actor,
    meeting: Meeting,
    minutes: str,
    publish: bool = False,
    before_start_confirmed: bool = False,
) -> Meeting:
    """Saves the minutes draft; with ``publish`` the group can read them.

    Minutes of a meeting that has not started yet are published only with
    ``before_start_confirmed`` (the moderator answered "publish anyway");
    otherwise ValidationError (code ``not_started``) and nothing is saved.
    """
    permissions.check_schedule(actor, meeting.group)
    with transaction.atomic():
        # The text as saved until now (under the row lock: two saves at once
        # compare each with the one before it).
        locked = (
            Meeting.objects.select_for_update()
            .values("minutes", "starts_at", "minutes_published_at")
            .get(pk=meeting.pk)
        )
        before = locked["minutes"]
        first_publication = publish and locked["minutes_published_at"] is None
        if (
            first_publication
            and locked["starts_at"] > timezone.now()
            and not before_start_confirmed
        ):
            raise ValidationError(
                _("The meeting has not started yet: publish the minutes anyway?"),
                code="not_started",
            )
        meeting.minutes = (minutes or "").strip()
        fields = ["minutes", "updated_at"]
        meeting.updated_at = timezone.now()
        if first_publication:
            meeting.minutes_published_at = timezone.now()
            fields.append("minutes_published_at")
        meeting.save(update_fields=fields)
        audit(
            group=meeting.group,
            actor=actor,
            action="minutes.published" if publish else "minutes.saved",
            summary=meeting.title,
        )
        if publish:
            emit(f"group:{meeting.group_id}", "minutes.published", {"meeting": meeting.pk})
        if first_publication:
            hooks.call(
                "meetings.meeting_changed", meeting=meeting, actor=actor, change="minutes_published"
            )
            # Until now only moderators could read them: the others mentioned
            # learn of it now (those told of the draft are not told twice).
            before = ""
        _text_mentioned(meeting, actor, "minutes", meeting.minutes, before=before)
    return meeting


def transcript_markdown(meeting: Meeting) -> str:
    """The meeting room's chat as Markdown: one quoted line per message."""
    room = ChatRoom.objects.filter(meeting=meeting).first()
    if room is None:
        return ""
    lines = []
    messages = room.messages.filter(deleted_at__isnull=True).select_related("author")
    for message in messages.order_by("seq"):
        when = timezone.localtime(message.created_at).strftime("%H:%M")
        name = message.author.get_full_name() if message.author else "—"
        text = message.body.replace("\n", "\n> ")
        lines.append(f"**{when} {name}:**\n> {text}\n")
    return "\n".join(lines)


def minutes_pull_transcript(*, actor, meeting: Meeting) -> Meeting:
    """Appends the chat transcript to the minutes draft (moderators)."""
    permissions.check_schedule(actor, meeting.group)
    transcript = transcript_markdown(meeting)
    if not transcript:
        raise ValidationError(_("The meeting's chat has no messages."), code="empty")
    heading = _("Chat transcript")
    minutes = f"{meeting.minutes}\n\n## {heading}\n\n{transcript}".strip()
    return minutes_save(actor=actor, meeting=meeting, minutes=minutes)


def calendar_feed_token(*, user, renew: bool = False) -> str | None:
    """Creates (or with ``renew`` replaces, revoking the old address) the
    user's calendar feed token and returns it; None if it exists and is kept
    (only its hash is stored, so it cannot be shown again)."""
    with transaction.atomic():
        feed = CalendarFeed.objects.select_for_update().filter(user=user).first()
        if feed is not None and not renew:
            return None
        feed = feed or CalendarFeed(user=user)
        token = feed.set_new_token()
        try:
            with transaction.atomic():
                feed.save()
        except IntegrityError:
            # A second request (a double click) created the feed meanwhile:
            # there is no row to lock before the first insert commits.
            return None
    return token


def calendar_feed_revoke(*, user) -> None:
    CalendarFeed.objects.filter(user=user).delete()
