"""The live chat: the socket frames a page sends to a chat room (what the
chat partial shows is read by ``meetings.selectors.chat_context``).

A page subscribes to the room's stream ``room:<id>`` (``core.consumers``),
which sends the room's numbered events (``message.created``, ``.edited``,
``.deleted``, ``member.muted``; payloads in ``meetings.services``) and the
unstored ``presence`` and ``typing`` events. What it sends is one of these
frames; rooms and messages are referred to by id, every field is checked, and
anything else gets an ``error`` frame and changes nothing::

    {"type": "chat.send", "room": 7, "body": "Hello @mia", "client_id": "c1"}
      → {"type": "ack", "request": "chat.send", "client_id": "c1",
         "room": 7, "id": 42, "seq": 118}
        and message.created with seq 118 to every subscriber of room:7, the
        sender included (its ``client_id`` is only in the ack: match by seq)
    {"type": "chat.edit", "message": 42, "body": "Hello @max"}
      → ack {"request": "chat.edit", "id": 42}, then message.edited
    {"type": "chat.delete", "message": 42}
      → ack {"request": "chat.delete", "id": 42}, then message.deleted
    {"type": "chat.history", "room": 7, "before_seq": 118, "limit": 50}
      → {"type": "history", "room": 7, "before_seq": 118, "has_more": true,
         "messages": [<message payload>, ...]}   (the newest ``limit`` (≤ 100)
        messages before ``before_seq``, or the newest of all without it;
        oldest first within the page)
    {"type": "typing", "room": 7}
      → the room gets the unstored event ``typing`` {"room", "user", "name"}
        (at most one per person and room every TYPING_INTERVAL seconds;
        more are dropped silently)
    {"type": "presence.heartbeat", "room": 7}   (every 20 s; no answer)
    {"type": "chat.mute", "room": 7, "user": 5, "minutes": 10}
      (moderators with two-factor authentication)
      → ack {"request": "chat.mute", "room": 7, "user": 5, "until": "<ISO>"},
        then member.muted
    {"type": "chat.read", "room": 7, "seq": 118}
      → ack {"request": "chat.read", "room": 7, "seq": 118}; the person's
        other tabs get ``room.read`` {"room", "seq"} on their user stream

Any frame may carry ``client_id`` (a string of up to 64 characters, or a
number); acks, errors and history frames repeat it. A ``chat.send`` with a
``client_id`` its sender used before is not stored again: its ack repeats the
first one's id and seq, so a page may resend whatever was not acknowledged
when its socket dropped. Errors are
``{"type": "error", "code", "message", "request", "client_id"?, "field"?}``
with the codes ``invalid`` (a field is missing, of the wrong kind or out of
range, or the text is not acceptable; ``field`` names it), ``not_subscribed``
(send, edit, delete, typing, heartbeat and mute need a subscription to the
room's stream), ``forbidden`` (not allowed, with the reason; missing and
forbidden rooms and messages alike), ``mfa_required`` (a moderator action,
muting or deleting someone else's message, by a moderator who has not turned
on two-factor authentication: the same gate as the moderator pages),
``muted`` (with ``until``).

Every handler authorises through ``meetings.permissions`` (the functions the
pages use), reads through ``meetings.selectors`` and writes through
``meetings.services``, in a worker thread (``core.realtime.database_call``:
the events are then sent from the loop).
"""

import math
import time

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils.translation import gettext as _

from core.realtime import database_call
from groups import permissions as group_permissions
from groups.permissions import MFARequired

from . import permissions, selectors, services
from .models import ChatMessage, ChatRoom
from .presence import get_presence, publish_unstored, room_stream

HISTORY_MAX = 100
TYPING_INTERVAL = 2.0  # seconds
MAX_CLIENT_ID = 64
MAX_ID = 2**63 - 1
FRAME_HANDLERS: dict = {}


class FrameRefused(Exception):
    """Ends a frame with an error frame: nothing was changed."""

    def __init__(self, code: str, message: str, **extra):
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra


# --- Field checks ----------------------------------------------------------------------


def _integer(value, field: str, *, minimum: int, maximum: int = MAX_ID) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
        raise FrameRefused(
            "invalid",
            _("%(field)s must be a whole number from %(min)d to %(max)d.")
            % {"field": field, "min": minimum, "max": maximum},
            field=field,
        )
    return value


def an_id(value, field):
    return _integer(value, field, minimum=1)


def a_seq(value, field):
    return _integer(value, field, minimum=0)


def a_limit(value, field):
    return _integer(value, field, minimum=1, maximum=HISTORY_MAX)


def a_minutes(value, field):
    return _integer(value, field, minimum=1, maximum=1440)


def a_text(value, field):
    if not isinstance(value, str):
        raise FrameRefused("invalid", _("%(field)s must be text.") % {"field": field}, field=field)
    return value


def _client_id(frame: dict):
    value = frame.get("client_id")
    if value is None:
        return None
    # No NUL: PostgreSQL stores no text with one (it is stored with the message).
    if isinstance(value, str) and len(value) <= MAX_CLIENT_ID and "\x00" not in value:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_ID:
        return value
    raise FrameRefused(
        "invalid",
        _("client_id must be text of up to %(max)d characters or a number.")
        % {"max": MAX_CLIENT_ID},
        field="client_id",
    )


def _fields(frame: dict, required: dict, optional: dict) -> dict:
    unknown = sorted(set(frame) - {"type", "client_id"} - set(required) - set(optional))
    if unknown:
        raise FrameRefused(
            "invalid",
            _("Unknown field: %(field)s.") % {"field": unknown[0]},
            field=unknown[0],
        )
    fields = {}
    for name, check in required.items():
        if name not in frame:
            raise FrameRefused("invalid", _("%(field)s is missing.") % {"field": name}, field=name)
        fields[name] = check(frame[name], name)
    for name, check in optional.items():
        if frame.get(name) is not None:
            fields[name] = check(frame[name], name)
    return fields


def frame(frame_type: str, *, required: dict, optional: dict | None = None):
    """Registers ``handler(consumer, reply, **fields)`` for ``frame_type``:
    the fields are checked first; ``reply`` holds what every answer repeats
    (``request``, ``client_id``); FrameRefused becomes the error frame."""

    def decorate(handler):
        async def handle(consumer, message: dict) -> None:
            reply = {"request": frame_type}
            try:
                client_id = _client_id(message)
                if client_id is not None:
                    reply["client_id"] = client_id
                fields = _fields(message, required, optional or {})
                await handler(consumer, reply, **fields)
            except FrameRefused as refusal:
                await consumer.send_error(refusal.code, refusal.message, **reply, **refusal.extra)

        handle.__name__ = handle.__qualname__ = f"handle_{frame_type.replace('.', '_')}"
        FRAME_HANDLERS[frame_type] = handle
        return handler

    return decorate


def _require_subscription(consumer, room_id: int) -> None:
    if not consumer.subscribed_to(room_stream(room_id)):
        raise FrameRefused(
            "not_subscribed",
            _("Subscribe to the room first."),
            stream=room_stream(room_id),
        )


# --- Authorisation and writes (in a worker thread) --------------------------------------


def _room(user, room_id: int) -> ChatRoom:
    try:
        return permissions.access_room(user, room_id)
    except Http404:
        raise FrameRefused("forbidden", _("Unknown room.")) from None


def _message(user, message_id: int) -> ChatMessage:
    try:
        return permissions.access_message(user, message_id)
    except Http404:
        raise FrameRefused("forbidden", _("Unknown message.")) from None


def _refused(user, room: ChatRoom, denial: PermissionDenied) -> FrameRefused:
    """``muted`` when a mute is why (with its end), ``forbidden`` otherwise."""
    until = permissions.muted_until(user, room)
    reason = str(denial) or _("You may not do that here.")
    if until is not None:
        return FrameRefused("muted", reason, until=until.isoformat())
    return FrameRefused("forbidden", reason)


def _denied(denial: PermissionDenied) -> FrameRefused:
    """``mfa_required`` when two-factor authentication is missing for a
    moderator action, ``forbidden`` otherwise; with the reason."""
    code = "mfa_required" if isinstance(denial, MFARequired) else "forbidden"
    return FrameRefused(code, str(denial) or _("You may not do that here."))


def _invalid(error: ValidationError, field: str) -> FrameRefused:
    return FrameRefused("invalid", " ".join(error.messages), field=field)


@database_call
def _send_message(user, room_id: int, body: str, client_id) -> tuple[int, int]:
    """(id, seq) of the message stored by ``message_send`` in the room the
    user may see. A ``client_id`` this person sent a message under before
    gets that message's (id, seq), also if they could not send it now."""
    client_id = "" if client_id is None else str(client_id)
    unknown = FrameRefused("forbidden", _("Unknown room."))
    room = permissions.room_to_send(room_id)
    try:
        if room is None:
            raise Http404
        # message_send applies the group's rule (check_send_message).
        message = services.message_send(actor=user, room=room, body=body, client_id=client_id)
    except ValidationError as error:
        raise _invalid(error, "body") from None
    except (Http404, PermissionDenied) as denial:
        if sent := services.message_sent(user, client_id):
            return sent.pk, sent.seq
        if room is None or not group_permissions.is_member(user, room.group):
            raise unknown from None  # missing and forbidden alike
        raise _refused(user, room, denial) from None
    return message.pk, message.seq


@database_call
def _room_of_message(user, message_id: int) -> int:
    return _message(user, message_id).room_id


@database_call
def _edit_message(user, message_id: int, body: str) -> ChatMessage:
    message = _message(user, message_id)
    try:
        return services.message_edit(actor=user, message=message, body=body)
    except ValidationError as error:
        raise _invalid(error, "body") from None
    except PermissionDenied as denial:
        raise _refused(user, message.room, denial) from None


@database_call
def _delete_message(user, message_id: int) -> ChatMessage:
    message = _message(user, message_id)
    try:
        # Says why first (the service refuses without a reason of its own).
        permissions.check_delete_message(user, message)
        return services.message_delete(actor=user, message=message)
    except PermissionDenied as denial:
        raise _denied(denial) from None


@database_call
def _history(user, room_id: int, before_seq: int | None, limit: int):
    room = _room(user, room_id)
    return selectors.history_page(room, before_seq=before_seq, limit=limit)


@database_call
def _check_send(user, room_id: int) -> None:
    room = _room(user, room_id)
    try:
        permissions.check_send_message(user, room)
    except PermissionDenied as denial:
        raise _refused(user, room, denial) from None


@database_call
def _mute(actor, room_id: int, user_id: int, minutes: int):
    from accounts.models import User

    room = _room(actor, room_id)
    target = User.objects.filter(pk=user_id).first()
    try:
        mute = services.member_mute(actor=actor, room=room, user=target, minutes=minutes)
    except ValidationError as error:
        raise _invalid(error, "minutes" if error.code == "minutes" else "user") from None
    except PermissionDenied as denial:
        raise _denied(denial) from None
    return mute.until


@database_call
def _mark_read(user, room_id: int, seq: int) -> int:
    return services.room_mark_read(user=user, room=_room(user, room_id), seq=seq)


# --- The frames -------------------------------------------------------------------------


@frame("chat.send", required={"room": an_id, "body": a_text})
async def chat_send(consumer, reply, *, room, body):
    _require_subscription(consumer, room)
    pk, seq = await _send_message(consumer.user, room, body, reply.get("client_id"))
    await consumer.send_json({"type": "ack", **reply, "room": room, "id": pk, "seq": seq})


@frame("chat.edit", required={"message": an_id, "body": a_text})
async def chat_edit(consumer, reply, *, message, body):
    _require_subscription(consumer, await _room_of_message(consumer.user, message))
    await _edit_message(consumer.user, message, body)
    await consumer.send_json({"type": "ack", **reply, "id": message})


@frame("chat.delete", required={"message": an_id})
async def chat_delete(consumer, reply, *, message):
    _require_subscription(consumer, await _room_of_message(consumer.user, message))
    await _delete_message(consumer.user, message)
    await consumer.send_json({"type": "ack", **reply, "id": message})


@frame("chat.history", required={"room": an_id}, optional={"before_seq": an_id, "limit": a_limit})
async def chat_history(consumer, reply, *, room, before_seq=None, limit=selectors.HISTORY_PAGE):
    messages, has_more = await _history(consumer.user, room, before_seq, limit)
    reply.pop("request")
    await consumer.send_json(
        {
            "type": "history",
            **reply,
            "room": room,
            "before_seq": before_seq,
            "has_more": has_more,
            "messages": messages,
        }
    )


# (user id, room id) -> when they last announced typing (time.monotonic()).
_typing_seen: dict[tuple[int, int], float] = {}


def _typing_allowed(user_id: int, room_id: int) -> bool:
    now = time.monotonic()
    if len(_typing_seen) > 10_000:
        for key in [key for key, seen in _typing_seen.items() if now - seen >= TYPING_INTERVAL]:
            del _typing_seen[key]
    if now - _typing_seen.get((user_id, room_id), -math.inf) < TYPING_INTERVAL:
        return False
    _typing_seen[(user_id, room_id)] = now
    return True


@frame("typing", required={"room": an_id})
async def typing(consumer, reply, *, room):
    _require_subscription(consumer, room)
    if not _typing_allowed(consumer.user.pk, room):
        return
    await _check_send(consumer.user, room)
    await publish_unstored(
        room_stream(room),
        "typing",
        {"room": room, "user": consumer.user.pk, "name": consumer.user.get_full_name()},
    )


@frame("presence.heartbeat", required={"room": an_id})
async def presence_heartbeat(consumer, reply, *, room):
    # The subscription was authorised with the room's permissions and ends as
    # soon as access does, so a heartbeat needs no database.
    _require_subscription(consumer, room)
    await get_presence().heartbeat(room, consumer.user, consumer.connection_id)


@frame("chat.mute", required={"room": an_id, "user": an_id, "minutes": a_minutes})
async def chat_mute(consumer, reply, *, room, user, minutes):
    _require_subscription(consumer, room)
    until = await _mute(consumer.user, room, user, minutes)
    await consumer.send_json(
        {"type": "ack", **reply, "room": room, "user": user, "until": until.isoformat()}
    )


@frame("chat.read", required={"room": an_id, "seq": a_seq})
async def chat_read(consumer, reply, *, room, seq):
    stored = await _mark_read(consumer.user, room, seq)
    await consumer.send_json({"type": "ack", **reply, "room": room, "seq": stored})
