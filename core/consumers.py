"""The one socket per browser tab.

A thin interface: it authenticates (the session, through AuthMiddlewareStack),
validates every inbound frame, authorises every subscription with the apps'
permission functions (``core.streams``), and relays stream events — each at
most once and in sequence order, filling gaps from the database.

Frames from the client::

    {"type": "ping", "id": 1}
    {"type": "subscribe", "stream": "thread:12", "since": 40}   # since: optional
    {"type": "unsubscribe", "stream": "thread:12"}

Frames to the client: ``hello``, ``pong``, ``subscribed`` {stream, seq},
``unsubscribed`` {stream, reason}, ``event`` {stream, seq, event, data},
``error`` {code, message}.

Access is decided again whenever it may have changed: on ``access.changed`` or
``membership.revoked`` on the person's own stream every subscription is
authorised afresh (its group and end replaced), on ``access.changed`` on a
stream that stream is, and each subscription with an end is decided again when
the end comes. The session is checked again (``core.sessions``) on
``sessions.changed`` and when it expires; a socket whose session has ended is
closed with 4401, as one that never had a session.
"""

import asyncio
import contextlib
import json
import logging
import re
import uuid

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.sessions import InstanceSessionWrapper
from django.conf import settings
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from . import ratelimit, realtime, streams
from .checks import patch_applies
from .daphne_ws import daphne_protocol, text_frame, write_frame
from .hub import get_hub
from .outage import DATABASE_UNAVAILABLE, describe
from .realtime import user_stream
from .sessions import SESSIONS_CHANGED, session_fingerprint, session_state

logger = logging.getLogger(__name__)

# Close codes in the application range (4000-4999).
CLOSE_UNAUTHENTICATED = 4401
# The database is unavailable for now: try again later (RFC 6455's 1013,
# which autobahn does not let a server send, in the application range).
CLOSE_TRY_AGAIN_LATER = 4503
MAX_SUBSCRIPTIONS = 50
# Events read from the database at a time when catching up.
CATCH_UP_PAGE = 500
# The longest a socket waits before deciding an access end or its session's
# expiry again: a wall clock that was set meanwhile, or a session deleted
# without an event (its row removed by hand), is noticed by then.
MAX_TIMER_DELAY = 3600.0
# Events on the person's own stream after which every subscription is decided afresh.
ACCESS_EVENTS = frozenset({"access.changed", "membership.revoked"})
# A JSON escape of a UTF-16 surrogate: the only way a frame's text (UTF-8,
# checked by the server) can give strings that are not valid Unicode.
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def error_frame(code: str, message: str, **extra) -> str:
    return json.dumps({"type": "error", "code": code, "message": message, **extra})


@database_sync_to_async
def _authorize(user, stream):
    return streams.authorize(user, stream)


@database_sync_to_async
def _authorize_all(user, names):
    return {stream: streams.authorize(user, stream) for stream in names}


@database_sync_to_async
def _session_state(session_key, user_id):
    return session_state(session_key, user_id)


def _delay_until(moment) -> float:
    """Seconds from now until ``moment``, within [0.05, MAX_TIMER_DELAY]."""
    return min(max((moment - timezone.now()).total_seconds(), 0.05), MAX_TIMER_DELAY)


@database_sync_to_async
def _events(stream, after, until=None):
    return [
        event.as_frame()
        for event in realtime.events_after(stream, after, until=until, limit=CATCH_UP_PAGE)
    ]


@database_sync_to_async
def _last_seq(stream):
    return realtime.last_seq(stream)


def _valid_unicode(frame) -> bool:
    """Whether every string in the parsed frame is valid Unicode (surrogate
    pairs make one character; a lone surrogate is not one)."""
    try:
        json.dumps(frame, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return False
    return True


def _frame_send(send):
    """The ASGI ``send`` that text frames take: ``send`` without channels'
    session wrappers. A wrapper acts only on messages that can carry a cookie
    (``http.response.start``), never on a ``websocket.send``, yet reads the
    session twice through lazy proxies for every frame it passes on: a
    noticeable share of the server's CPU per delivered frame in a large room
    (bench/chat_fanout.py). Anything else is left as it is."""
    while (
        isinstance(getattr(send, "__self__", None), InstanceSessionWrapper)
        and getattr(send, "__func__", None) is InstanceSessionWrapper.send
    ):
        send = send.__self__.real_send
    return send


class Subscription:
    __slots__ = ("access", "last", "timer")

    def __init__(self, access, last):
        self.access = access
        self.last = last
        self.timer = None


class WorkspaceConsumer(AsyncWebsocketConsumer):
    # No channel-layer channel per socket: the process's hub receives for all
    # of them. (It would cost a Redis subscription per socket, and a socket
    # could not even open while Redis is away.)
    channel_layer_alias = None

    # Whether this socket takes the fast path below (set per connection from
    # WS_FRAME_ONCE and the versions of the libraries it relies on).
    frame_once = False

    async def __call__(self, scope, receive, send):
        self.frame_once = patch_applies("fan-out frame written once")
        if not self.frame_once:
            # Plain channels: its loop and dispatch, every frame through ASGI.
            return await super().__call__(scope, receive, send)
        # The socket is the only source of messages (no channel-layer channel,
        # above), so they are taken straight from it: channels' loop makes a
        # task and an asyncio.wait per frame, to choose between sources.
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        with contextlib.suppress(StopConsumer):
            while True:
                await self.dispatch(await receive())
        return None

    async def dispatch(self, message):
        try:
            return await self._dispatch(message)
        except DATABASE_UNAVAILABLE as error:
            # PostgreSQL restarting, or no connection free in time: no bug
            # here, so one line in the log, not a traceback. The socket closes
            # with 4503 (try again later); the page's socket.js reconnects with
            # backoff and catches up, and chat.js sends again what was not
            # acknowledged (under its client_id, stored once).
            logger.warning(
                "Database unavailable, socket closed (4503) on %s: %s",
                message.get("type"),
                describe(error),
            )
            if message.get("type") == "websocket.disconnect":
                raise StopConsumer from None
            await self.close(code=CLOSE_TRY_AGAIN_LATER)
            return None

    async def _dispatch(self, message):
        if not self.frame_once:
            return await super().dispatch(message)
        # Channels' dispatch first closes stale database connections, in a
        # worker thread: a thread hop for every frame a socket receives, about
        # a tenth of the server's CPU per chat message (py-spy). Every database
        # call here goes through database_sync_to_async, which closes them
        # before and after itself, in the thread that uses them.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)
        return None

    async def connect(self):
        self.user = self.scope.get("user")
        self.subscriptions: dict[str, Subscription] = {}
        # The session the socket was opened with (None where the scope has
        # none, as in tests that put a user in the scope themselves).
        session = self.scope.get("session")
        self.session_key = getattr(session, "session_key", None) if session is not None else None
        self.session_timer: asyncio.TimerHandle | None = None
        self.session_ended = False
        # Counts the times access was decided afresh: a subscription authorised
        # while this moved on is decided again (see frame_subscribe).
        self.access_epoch = 0
        self.access_lock = asyncio.Lock()
        self.background: set[asyncio.Task] = set()
        # Names this socket among the user's sockets in every process (presence).
        self.connection_id = uuid.uuid4().hex
        # With the fast path off, frames go through channels' wrappers as well.
        self.frame_send = _frame_send(self.base_send) if self.frame_once else self.base_send
        self.daphne_protocol = None
        if self.user is None or not self.user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        await self.accept()
        if self.frame_once:
            self.daphne_protocol = daphne_protocol(self.frame_send)
        own = user_stream(self.user.pk)
        await self._join(own, streams.Access(), await _last_seq(own))
        await self.send_json({"type": "hello", "user": self.user.pk})
        # Once more now that the socket follows its own stream, where the end
        # of the session is announced: this also learns when it expires.
        await self._check_session()

    async def disconnect(self, code):
        self._cancel_session_timer()
        for stream in list(self.subscriptions):
            await self._leave(stream)
        for task in list(self.background):
            task.cancel()

    async def send(self, text_data=None, bytes_data=None, close=False):
        # Acks, answers and errors take the way of events (see deliver).
        if text_data is not None and bytes_data is None and not close:
            protocol = self.daphne_protocol
            if protocol is None or not write_frame(protocol, text_frame(text_data)):
                await self.frame_send({"type": "websocket.send", "text": text_data})
        else:
            await super().send(text_data, bytes_data, close)

    async def send_json(self, frame: dict) -> None:
        await self.send(text_data=json.dumps(frame))

    # --- subscriptions --------------------------------------------------------

    def _later(self, delay: float, function, *args) -> asyncio.TimerHandle:
        """Runs ``await function(*args)`` as a task after ``delay`` seconds."""

        def start():
            task = asyncio.ensure_future(function(*args))
            self.background.add(task)
            task.add_done_callback(self.background.discard)

        return asyncio.get_running_loop().call_later(delay, start)

    def _arm(self, stream: str, subscription: Subscription) -> None:
        """(Re)sets the timer that decides the subscription again at its end."""
        if subscription.timer is not None:
            subscription.timer.cancel()
            subscription.timer = None
        if subscription.access.expires_at is not None:
            subscription.timer = self._later(
                _delay_until(subscription.access.expires_at), self._reauthorize, {stream}
            )

    async def _join(self, stream, access, last) -> None:
        await get_hub().add(stream, self)
        subscription = Subscription(access, last)
        self._arm(stream, subscription)
        self.subscriptions[stream] = subscription

    async def _leave(self, stream, reason: str | None = None) -> None:
        subscription = self.subscriptions.pop(stream, None)
        if subscription is None:
            return
        if subscription.timer is not None:
            subscription.timer.cancel()
        await get_hub().discard(stream, self)
        if reason is not None:
            await self.send_json({"type": "unsubscribed", "stream": stream, "reason": reason})
        await self._run_hook(streams.hooks(stream)[1], stream)

    async def _run_hook(self, hook, stream) -> None:
        if hook is None:
            return
        try:
            await hook(self, stream)
        except Exception:
            logger.exception("Stream hook %r failed for %s", hook, stream)

    async def _reauthorize(self, only: set[str] | None = None) -> None:
        """Decides the subscriptions (all, or those in ``only``) afresh with the
        apps' authorisers: each one still allowed takes its new access (group
        and end, its timer set again), each one no longer allowed ends with
        ``unsubscribed`` {reason: "access"}. The person's own stream stays."""
        self.access_epoch += 1
        async with self.access_lock:
            own = user_stream(self.user.pk)
            current = {
                stream: subscription
                for stream, subscription in self.subscriptions.items()
                if stream != own and (only is None or stream in only)
            }
            if not current:
                return
            decided = await _authorize_all(self.user, list(current))
            for stream, access in decided.items():
                subscription = current[stream]
                if self.subscriptions.get(stream) is not subscription:
                    continue  # ended (or made anew) meanwhile
                if access is None:
                    await self._leave(stream, reason="access")
                else:
                    subscription.access = access
                    self._arm(stream, subscription)

    # --- the session ----------------------------------------------------------

    def _cancel_session_timer(self) -> None:
        if self.session_timer is not None:
            self.session_timer.cancel()
            self.session_timer = None

    async def _check_session(self) -> bool:
        """Closes the socket if its session no longer signs the person in;
        otherwise takes the user as they are now and waits for the session's
        expiry date (it may have moved) to check again."""
        if self.session_key is None or self.session_ended:
            return not self.session_ended
        state = await _session_state(self.session_key, self.user.pk)
        if self.session_ended:
            return False
        if state.user is None:
            await self._end_session()
            return False
        self.user = state.user
        self._cancel_session_timer()
        if state.expires_at is not None:
            self.session_timer = self._later(_delay_until(state.expires_at), self._check_session)
        return True

    async def _end_session(self) -> None:
        """The session ended: nothing more is delivered, the socket closes as
        an unauthenticated one would (the page does not reconnect)."""
        self.session_ended = True
        self._cancel_session_timer()
        for stream in list(self.subscriptions):
            await self._leave(stream)
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def _sessions_changed(self, data: dict) -> None:
        ended = data.get("ended") if isinstance(data, dict) else None
        if (
            isinstance(ended, str)
            and self.session_key is not None
            and constant_time_compare(ended, session_fingerprint(self.session_key))
        ):
            await self._end_session()  # this session was signed out
        elif await self._check_session():
            # e.g. no longer staff: who may follow what is decided again too.
            await self._reauthorize()

    # --- inbound frames -------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        if self.session_ended:
            return  # closing: the session that signed it in is over
        if bytes_data is not None:
            await self.send(text_data=error_frame("binary", "Only text frames are accepted."))
            return
        if len(text_data.encode()) > settings.WS_MAX_FRAME_BYTES:
            await self.send(
                text_data=error_frame(
                    "too_large", "The message is too large.", limit=settings.WS_MAX_FRAME_BYTES
                )
            )
            return
        if not ratelimit.process_hit(f"ws:{self.user.pk}", settings.WS_RATE_LIMIT):
            await self.send(text_data=error_frame("rate_limited", "Too many messages; slow down."))
            return
        try:
            frame = json.loads(text_data)
        except (ValueError, RecursionError):
            # RecursionError: arrays or objects nested deeper than the parser
            # goes ("[[[[…", well within the size limit).
            await self.send(text_data=error_frame("bad_json", "The message is not valid JSON."))
            return
        if SURROGATE_ESCAPE.search(text_data) and not _valid_unicode(frame):
            # A lone surrogate ("\\ud800") cannot be stored, rendered or sent
            # on: refused here, for every frame handler at once.
            await self.send(
                text_data=error_frame("bad_json", "The message contains text that is not Unicode.")
            )
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            await self.send(
                text_data=error_frame("bad_frame", "A message is a JSON object with a type.")
            )
            return
        handler = self.frame_handlers.get(frame["type"]) or streams.frame_handler(frame["type"])
        if handler is None:
            await self.send(
                text_data=error_frame("unknown_type", "Unknown message type.", got=frame["type"])
            )
            return
        await handler(self, frame)

    async def frame_ping(self, frame):
        await self.send_json({"type": "pong", "id": frame.get("id")})

    async def frame_subscribe(self, frame):
        stream = frame.get("stream")
        since = frame.get("since")
        if since is not None and (
            not isinstance(since, int) or isinstance(since, bool) or since < 0
        ):
            await self.send(text_data=error_frame("bad_frame", "since must be a number ≥ 0."))
            return
        if streams.parse(stream) is None:
            await self.send(text_data=error_frame("bad_stream", "Unknown stream.", stream=stream))
            return
        if stream in self.subscriptions:
            await self._leave(stream)
        if len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
            await self.send(text_data=error_frame("too_many", "Too many subscriptions."))
            return
        epoch = self.access_epoch
        access = await _authorize(self.user, stream)
        if access is None:
            await self.send(text_data=error_frame("forbidden", "Unknown stream.", stream=stream))
            return
        if self.session_ended:
            return
        # Join first, then read: an event committed in between arrives twice
        # at most, and the sequence check sends it once.
        current = await _last_seq(stream)
        await self._join(stream, access, current if since is None else since)
        await self.send_json({"type": "subscribed", "stream": stream, "seq": current})
        if self.access_epoch != epoch:
            # Access changed while this was being authorised: decide again
            # (the event that said so found no subscription to decide).
            await self._reauthorize({stream})
            if stream not in self.subscriptions:
                return
        if since is not None and since < current:
            await self._catch_up(stream, until=current)
        await self._run_hook(streams.hooks(stream)[0], stream)

    async def frame_unsubscribe(self, frame):
        stream = frame.get("stream")
        if streams.parse(stream) is None:
            # Not a stream name (a list is not even a possible key).
            await self.send(text_data=error_frame("bad_stream", "Unknown stream.", stream=stream))
            return
        if stream in self.subscriptions and stream != user_stream(self.user.pk):
            await self._leave(stream, reason="client")

    frame_handlers = {
        "ping": frame_ping,
        "subscribe": frame_subscribe,
        "unsubscribe": frame_unsubscribe,
    }

    # --- outbound events ------------------------------------------------------

    async def _catch_up(self, stream, until=None) -> None:
        """Sends the recorded events after the last one sent (up to ``until``),
        in order. Each is claimed before it is sent, so that a live delivery or
        another catch-up running meanwhile never sends it again."""
        while True:
            subscription = self.subscriptions.get(stream)
            if subscription is None:
                return
            events = await _events(stream, subscription.last, until)
            for event in events:
                if self.subscriptions.get(stream) is not subscription:
                    return
                if event["seq"] > subscription.last:
                    subscription.last = event["seq"]
                    await self.send_json(event)
                    # Missed live (the layer lost it): it counts all the same.
                    await self._handle(stream, event["event"], event["data"])
            if len(events) < CATCH_UP_PAGE:
                return

    def position(self, stream) -> int | None:
        """The number of the last event sent on ``stream``; None if not
        subscribed. The hub catches up sockets that stay behind."""
        subscription = self.subscriptions.get(stream)
        return None if subscription is None else subscription.last

    async def send_error(self, code: str, message: str, **extra) -> None:
        await self.send(text_data=error_frame(code, message, **extra))

    def subscribed_to(self, stream: str) -> bool:
        return stream in self.subscriptions

    async def deliver(self, message: dict, text: str, frame: bytes | None = None) -> None:
        """An event of a subscribed stream, from this process's hub with its
        frame already serialised (``text``; ``frame``: as a WebSocket frame):
        sent at most once, in sequence order."""
        stream = message["stream"]
        subscription = self.subscriptions.get(stream)
        if subscription is None:
            return
        seq = message.get("seq")
        if seq is not None:
            if seq <= subscription.last:
                return  # seen already
            if seq > subscription.last + 1:
                await self._catch_up(stream, until=seq - 1)
                if self.subscriptions.get(stream) is not subscription or seq <= subscription.last:
                    return  # ended meanwhile, or a concurrent catch-up sent it
            subscription.last = seq
        # This runs once per socket for every event. Under daphne, with
        # WS_FRAME_ONCE, the frame built once by the hub is written to the
        # connection (core.daphne_ws); otherwise what self.send(text_data=text)
        # does, minus (on the fast path) the layers that only pass a
        # websocket.send on.
        protocol = self.daphne_protocol
        if frame is None or protocol is None or not write_frame(protocol, frame):
            await self.frame_send({"type": "websocket.send", "text": text})
        # Awaited before the next event of the process is delivered, so that
        # none reaches a socket that has just lost it.
        await self._handle(stream, message["event"], message["data"])

    async def _handle(self, stream: str, event: str, data) -> None:
        """What a delivered event means for the socket itself."""
        if stream == user_stream(self.user.pk):
            if event in ACCESS_EVENTS:
                # A membership ended, or its role or end changed: every
                # subscription, whichever group it was granted through (a
                # thread may have moved since), is decided afresh.
                await self._reauthorize()
            elif event == SESSIONS_CHANGED:
                await self._sessions_changed(data)
        elif event == "access.changed":
            # e.g. a thread moved to another group or was hidden: who may
            # follow the stream is decided afresh.
            await self._reauthorize({stream})
