"""Streams a client may subscribe to over its socket, and who may.

Each app registers its stream kinds in ``AppConfig.ready()``::

    streams.register("thread", authorize_thread)

``authorize(user, key) -> Access | None`` is built on the app's permission
functions (the same ones the pages use); None means "no such stream for you"
(missing and forbidden alike).

A kind may also say what happens when a socket joins or leaves one of its
streams (e.g. presence in a chat room)::

    streams.register("room", authorize_room, on_join=entered, on_leave=left)

``async def hook(consumer, stream) -> None``; ``on_join`` runs after the
``subscribed`` frame, ``on_leave`` whenever the subscription ends (the client
unsubscribed, access ended, the socket closed). A failing hook is logged and
does not affect the subscription.
"""

import datetime
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from django.core.exceptions import ValidationError


@dataclass(frozen=True)
class Access:
    """A granted subscription: the group it was granted through, and when it
    ends by itself (a guest's access end: the socket decides it again then).
    Whenever access may have changed the socket asks the authoriser again and
    replaces both (core.consumers), so neither outlives a move or a new end."""

    group_id: int | None = None
    expires_at: datetime.datetime | None = None


Authorizer = Callable[[object, str], Access | None]
StreamHook = Callable[[object, str], Awaitable[None]]
_registry: dict[str, Authorizer] = {}
_hooks: dict[str, tuple[StreamHook | None, StreamHook | None]] = {}


def register(
    kind: str,
    authorize: Authorizer,
    *,
    on_join: StreamHook | None = None,
    on_leave: StreamHook | None = None,
) -> None:
    _registry[kind] = authorize
    if on_join is not None or on_leave is not None:
        _hooks[kind] = (on_join, on_leave)
    else:
        _hooks.pop(kind, None)


def hooks(stream: str) -> tuple[StreamHook | None, StreamHook | None]:
    """(on_join, on_leave) of ``stream``'s kind; (None, None) if it has none."""
    return _hooks.get(stream.partition(":")[0], (None, None))


def parse(stream: object) -> tuple[str, str] | None:
    """``"thread:12"`` → ("thread", "12"); None for anything malformed."""
    if not isinstance(stream, str) or len(stream) > 100 or stream.count(":") != 1:
        return None
    kind, key = stream.split(":")
    if kind not in _registry or not key or not key.isascii() or not key.isalnum():
        return None
    return kind, key


def authorize(user, stream: str) -> Access | None:
    """Access to ``stream`` for ``user``, or None. Runs database queries."""
    parsed = parse(stream)
    if parsed is None or not user.is_authenticated:
        return None
    kind, key = parsed
    try:
        return _registry[kind](user, key)
    except (ValueError, ValidationError):
        # A key that cannot name anything of its kind ("thread:abc" where ids
        # are numbers): no such stream, not a crash of the socket.
        return None


def _authorize_user_stream(user, key: str) -> Access | None:
    return Access() if str(user.pk) == key else None


register("user", _authorize_user_stream)


# Inbound socket frames that apps handle (e.g. "chat.send"):
# ``async def handler(consumer, frame: dict) -> None``. The consumer has
# validated size, rate and JSON shape already; the handler validates the
# fields, authorises with the app's permission functions and calls a service.
FrameHandler = Callable[[object, dict], object]
_frame_handlers: dict[str, FrameHandler] = {}


def register_frame(frame_type: str, handler: FrameHandler) -> None:
    _frame_handlers[frame_type] = handler


def frame_handler(frame_type: str) -> FrameHandler | None:
    return _frame_handlers.get(frame_type)
