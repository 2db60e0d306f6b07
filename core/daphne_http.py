"""How daphne serves the workspace's HTTP side: ``http_application()``, what
workspace/asgi.py serves, is Django's ``get_asgi_application()`` (with body
messages of up to 1 MB) and three patches of daphne and Twisted internals,
one section each below. Each is applied only when its switch is on and daphne
and Twisted are the versions it was tested for (``core.checks``); otherwise
daphne does what it does by itself. bench/download.py and bench/upload.py
measure them.

1. Back-pressure (``DAPHNE_BACKPRESSURE``): responses go out no faster than the
   client reads them. Daphne hands every ``http.response.body`` message to
   Twisted at once: its ``send`` returns without waiting for the socket, so a
   response sent faster than the client reads (a streamed download to a slow
   browser) piles up in daphne's memory, all of it for a client that pauses.

2. Twisted's form parsing off (``DAPHNE_SKIP_FORM_PARSING``): before daphne
   sees a request, Twisted's ``Request.requestReceived`` parses a
   multipart/form-data body into ``request.args`` (which daphne never reads):
   all of it in memory, with the email package, in the event loop, whoever
   sent it (it happens before Django authenticates anything). A large upload
   made daphne grow by many times its size and stalled every other request
   and socket of the process meanwhile.

3. The request body read from Twisted's file (``DAPHNE_UPLOAD_FROM_FILE``,
   django/daphne#483): Twisted receives a body into a temporary file (in
   memory below 100 KB); daphne then reads all of it into the application's
   queue, in 8 KB messages, before it starts the application, so an upload
   was held whole in daphne's memory until Django had copied it out. Here
   the body stays in Twisted's file and reaches Django 1 MB at a time as
   Django reads it.

4. Body limits (``DAPHNE_BODY_LIMITS``): Twisted receives every body whole
   before daphne starts the application, whatever its size and whoever sends
   it: an anonymous 120 MB POST was read in full and then refused with a
   403, and a request that declared 200 MB and sent 1 KB was never answered.
   Here a body is limited as its headers arrive: to
   ``REQUEST_BODY_MAX_BYTES`` (the largest upload and its form), and to
   ``REQUEST_BODY_ANONYMOUS_MAX_BYTES`` (every form a visitor can send fits)
   unless the request carries the session of someone signed in, which is
   looked up (in a thread, the connection paused meanwhile) only for a
   body larger than that. A request over its limit is answered 413 at once,
   before its body is read, and its connection closed (nginx does the same
   with ``client_max_body_size``). Whether the person may do what they ask
   stays Django's decision; this only decides how much of a body is read.
   A body Twisted cannot store while receiving it (over 100 KB it goes to a
   temporary file: the disk full) is answered 503 "try again later" instead
   of a connection dropped without an answer.

5. One thread per request (``ASGI_ONE_THREAD``; Django's handler, not
   daphne's): under ASGI, Django builds its middleware chain in async mode.
   Our middleware is synchronous, Django's own is both, so a page request
   went back and forth between daphne's event loop and a thread eight
   times (each async-capable middleware's hooks, the CSRF check, the view,
   the template response: ``sync_to_async`` seven times and
   ``async_to_sync`` once), each passage a wake-up of the event loop and a
   hand-over of the GIL, queued behind every socket and every other
   request of the process. Here the chain is built as under WSGI and the
   whole request (middleware, view, rendering) runs in one call in the
   request's thread: once there, once back. The view runs in the same
   thread as before (the request's own, ``thread_sensitive``); only the
   trips in between are gone. bench/load.py measures it: about 2.5 ms of
   CPU less per page, and the pages' p99 at 1,000 active members.

The handler also takes requests into Django a few at a time
(``ASGI_CONCURRENT_REQUESTS``, 1 by default; 0: no limit): the others wait
their turn in the event loop, their bodies received. Without a
limit every request of the process runs in a thread of its own at once, and
the threads take the GIL from each other: a request coming back from a
database query waits for the interpreter behind every other one. One at a
time is what a synchronous WSGI worker does. It is not a patch of anyone's
internals (``get_response_async`` is where Django's handler calls the chain),
and it holds with section 5 on or off. bench/load.py measures it: at 1,000
active members the pages' p99 fell from 354–411 ms to 191 ms; at 750 on a
slower moment of the machine, from 1,119–2,179 ms to 266–364 ms, with less
CPU per page (bench/README.md).
"""

import asyncio
import contextlib
import functools
import importlib
import inspect
import io
import logging

import django
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler as DjangoASGIHandler
from twisted.internet.interfaces import IPushProducer
from twisted.web.http import Request
from zope.interface import implementer

from .checks import patch_applies


def twisted_request(send) -> Request | None:
    """The Twisted request behind daphne's ``send``
    (``functools.partial(server.handle_reply, request)``); None under other
    servers."""
    if isinstance(send, functools.partial) and send.args and isinstance(send.args[0], Request):
        return send.args[0]
    return None


# --- 1. Back-pressure --------------------------------------------------------


@implementer(IPushProducer)
class PacedSend:
    """Daphne's ``send`` for one response, returning after a body message only
    when the connection can take more.

    It registers itself with the Twisted request as a streaming producer for a
    response of several body messages; Twisted pauses it when the connection's
    send buffer is full (64 KB) and resumes it when the buffer has drained. A
    response then holds one message plus Twisted's buffer in memory."""

    def __init__(self, send, request: Request):
        self.send = send
        self.request = request
        self.writable = asyncio.Event()
        self.registered = False

    # IPushProducer: called by Twisted.
    def pauseProducing(self) -> None:
        self.writable.clear()

    def resumeProducing(self) -> None:
        self.writable.set()

    def stopProducing(self) -> None:
        self.writable.set()  # the connection is going away: never block on it

    async def __call__(self, message) -> None:
        if message["type"] != "http.response.body":
            return await self.send(message)
        if not message.get("more_body", False):
            # Before the last message: Twisted finishes the request with it and
            # insists that no producer is left registered by then.
            self.release()
            return await self.send(message)
        self.register()
        await self.send(message)
        if self.registered:
            await self.writable.wait()
        return None

    def register(self) -> None:
        request = self.request
        if self.registered or request.producer is not None:
            return
        if request.channel is None or request.finished:
            return
        if getattr(request.channel, "_waitingForTransport", False):
            self.writable.clear()
        else:
            self.writable.set()
        request.registerProducer(self, True)
        self.registered = True

    def release(self) -> None:
        request = self.request
        if self.registered and request.producer is self:
            if request.channel is not None:
                request.unregisterProducer()
            else:  # the client has gone
                request.producer = None
        self.registered = False


class Backpressure:
    """``app`` sending each response through a ``PacedSend`` under daphne;
    under any other server it passes everything through unchanged."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        request = twisted_request(send) if scope["type"] == "http" else None
        if request is None:
            return await self.app(scope, receive, send)
        paced = PacedSend(send, request)
        try:
            return await self.app(scope, receive, paced)
        finally:
            paced.release()


# --- 2. Twisted's form parsing off -------------------------------------------


def leave_forms_to_the_application() -> None:
    """Makes daphne's requests skip Twisted's parsing of form bodies."""
    from daphne import http_protocol

    if getattr(http_protocol.WebRequest, "leaves_forms_to_the_application", False):
        return
    if "parsePOSTFormSubmission" not in inspect.signature(Request.__init__).parameters:
        return  # a Twisted that does not parse them (or cannot be told not to)

    class WebRequest(http_protocol.WebRequest):
        leaves_forms_to_the_application = True

        def __init__(self, *args, **kwargs):
            kwargs["parsePOSTFormSubmission"] = False  # Twisted's own switch
            super().__init__(*args, **kwargs)

    http_protocol.WebRequest = WebRequest  # what daphne's HTTPFactory builds


# --- 3. The request body read from Twisted's file -----------------------------

REQUEST_MESSAGE_BYTES = 1024 * 1024


class _HeldBack:
    """Stands in for a request's body file while daphne queues the body: it
    reads as empty, so daphne queues one empty closing message instead of the
    body; seeking, ``closed`` and ``close()`` reach the file."""

    def __init__(self, file):
        self.file = file

    def read(self, size: int = -1) -> bytes:
        return b""

    def seek(self, *args):
        return self.file.seek(*args)

    @property
    def closed(self) -> bool:
        return self.file.closed

    def close(self) -> None:
        self.file.close()


def hold_bodies_back() -> None:
    """Makes daphne's requests keep a body in the file Twisted received it
    into, for ``body_from_file`` to pass on, instead of queueing it whole;
    only for an application wrapped in ``body_from_file``."""
    from daphne import http_protocol

    if getattr(http_protocol.WebRequest, "holds_bodies_back", False):
        return

    class WebRequest(http_protocol.WebRequest):
        holds_bodies_back = True
        held_back_body = None

        def process(self):
            # A request without a body (a WebSocket handshake among them) goes
            # on as daphne has it.
            if self.content is not None and self.content.seek(0, io.SEEK_END) > 0:
                self.held_back_body = self.content
                self.content = _HeldBack(self.content)
            return super().process()

    http_protocol.WebRequest = WebRequest


def body_from_file(app):
    """``app`` receiving the request body from the file Twisted received it
    into, 1 MB per message as the application asks for it, read in a worker
    thread; a client that leaves closes the file, and the application receives
    ``http.disconnect``. Under other servers, or for a request whose body was
    not held back, ``receive`` is passed through."""

    async def application(scope, receive, send):
        request = twisted_request(send) if scope["type"] == "http" else None
        body = getattr(request, "held_back_body", None)
        if body is None:
            return await app(scope, receive, send)
        in_memory = isinstance(body, io.BytesIO)
        remaining = None  # bytes of the body not yet passed on; None: not started

        async def read(size: int) -> bytes:
            if in_memory:
                return body.read(size)
            return await asyncio.to_thread(body.read, size)

        async def file_receive():
            nonlocal remaining
            if remaining is None or remaining > 0:
                try:
                    if remaining is None:
                        remaining = body.seek(0, io.SEEK_END)
                        body.seek(0)
                    chunk = await read(min(remaining, REQUEST_MESSAGE_BYTES))
                except ValueError:  # the file was closed: the client has gone
                    remaining = 0
                    return {"type": "http.disconnect"}
                remaining = remaining - len(chunk) if chunk else 0
                return {"type": "http.request", "body": chunk, "more_body": remaining > 0}
            while True:  # after the body: what daphne queued, less its empty body message
                message = await receive()
                if message["type"] != "http.request":
                    return message

        return await app(scope, file_receive, send)

    application.app = app
    return application


# --- 4. Body limits ---------------------------------------------------------------

logger = logging.getLogger(__name__)


def body_limits() -> tuple[int, int]:
    """(the limit for signed-in people, the limit for everyone else) in bytes."""
    return settings.REQUEST_BODY_MAX_BYTES, settings.REQUEST_BODY_ANONYMOUS_MAX_BYTES


def signed_in(session_key: str) -> bool:
    """Whether ``session_key`` is the session of someone signed in (Django's
    session store; run in a thread)."""
    from django.contrib.auth import SESSION_KEY
    from django.db import close_old_connections

    engine = importlib.import_module(settings.SESSION_ENGINE)
    close_old_connections()
    try:
        return engine.SessionStore(session_key).get(SESSION_KEY) is not None
    finally:
        close_old_connections()


def _refusal(limit: int) -> bytes:
    megabytes = max(1, limit // (1024 * 1024))
    text = (
        f"413 Content Too Large: this server accepts at most {megabytes} MB here"
        + (" without signing in" if limit == body_limits()[1] else "")
        + ".\n"
    ).encode()
    return (
        b"HTTP/1.1 413 Content Too Large\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        + f"Content-Length: {len(text)}\r\n".encode()
        + b"Connection: close\r\n\r\n"
        + text
    )


_UNSTORABLE_TEXT = (
    b"503 Service Unavailable: the server cannot store what you sent just now "
    b"(its disk is full). Nothing was saved; please try again later.\n"
)
UNSTORABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Retry-After: 60\r\n"
    + f"Content-Length: {len(_UNSTORABLE_TEXT)}\r\n".encode()
    + b"Connection: close\r\n\r\n"
    + _UNSTORABLE_TEXT
)


def limit_bodies() -> None:
    """Makes daphne's requests refuse a body over their limit before reading it."""
    from daphne import http_protocol

    if getattr(http_protocol.WebRequest, "limits_bodies", False):
        return

    class WebRequest(http_protocol.WebRequest):
        limits_bodies = True
        body_limit = None
        body_received = 0
        body_refused = False
        declared_length = None

        def gotLength(self, length):
            super().gotLength(length)
            self.declared_length = length
            most, anonymous = body_limits()
            key = self.received_cookies.get(settings.SESSION_COOKIE_NAME.encode())
            if not key or not (length is None or length > anonymous):
                self._limit(anonymous)
            elif length > most:
                self._limit(most)
            else:
                self.body_limit = anonymous  # until the session is known
                self._ask_session(key.decode("ascii", "replace"))

        def _limit(self, limit: int) -> None:
            self.body_limit = limit
            if (
                self.declared_length is not None and self.declared_length > limit
            ) or self.body_received > limit:
                self._refuse()

        def _ask_session(self, key: str) -> None:
            transport = self.channel.transport
            transport.pauseProducing()

            def answered(future) -> None:
                if self.body_refused or self.channel is None:
                    return
                try:
                    known = future.result()
                except Exception:
                    logger.warning("Body limit: the session could not be read", exc_info=True)
                    known = False
                self._limit(body_limits()[0] if known else body_limits()[1])
                if not self.body_refused:
                    transport.resumeProducing()

            asyncio.ensure_future(asyncio.to_thread(signed_in, key)).add_done_callback(answered)

        def handleContentChunk(self, data):
            if self.body_refused:
                return
            self.body_received += len(data)
            if self.body_limit is not None and self.body_received > self.body_limit:
                self._refuse()
                return
            try:
                super().handleContentChunk(data)
            except OSError as error:
                # Twisted keeps a body over 100 KB in a temporary file: the
                # disk is full. Answered, instead of a connection dropped.
                self._refuse(unstorable=error)

        def _refuse(self, unstorable: OSError | None = None) -> None:
            if self.body_refused:
                return
            self.body_refused = True
            # The request line is the channel's until the body is in.
            channel = self.channel
            request = (
                getattr(channel, "_command", b"?").decode("ascii", "replace"),
                getattr(channel, "_path", b"?").decode("ascii", "replace")[:200],
            )
            if unstorable is not None:
                logger.warning("503 %s %s: the body could not be stored: %s", *request, unstorable)
            else:
                logger.warning(
                    "413 %s %s: a body of %s bytes over the limit of %d",
                    *request,
                    self.declared_length if self.declared_length is not None else "more than",
                    self.body_limit,
                )
            if channel is None:
                return
            if unstorable is not None:
                channel.transport.write(UNSTORABLE)
            else:
                channel.transport.write(_refusal(self.body_limit))
            channel.loseConnection()

    http_protocol.WebRequest = WebRequest


# --- The application -----------------------------------------------------------


class ASGIHandler(DjangoASGIHandler):
    """Django's handler, sending a body in messages of up to 1 MB (Django's
    own: 64 KB): every message passes through daphne and Twisted (and the
    back-pressure), so fewer, larger messages cost daphne less CPU time per
    byte downloaded (bench/download.py). With section 5 (one thread per
    request), the middleware chain is synchronous and a request is handled
    in one call in its thread. ``turn()``: at most ``ASGI_CONCURRENT_REQUESTS``
    requests are inside Django at once."""

    chunk_size = 1024 * 1024

    def __init__(self):
        self.one_thread = patch_applies("one thread per request")
        self.concurrent_requests = settings.ASGI_CONCURRENT_REQUESTS
        self._turns = None  # (event loop, its semaphore): see turn()
        super().__init__()  # builds the middleware chain: load_middleware below

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=is_async and not self.one_thread)

    def turn(self) -> asyncio.Semaphore | contextlib.nullcontext:
        """What a request waits for before it enters Django: one of
        ``ASGI_CONCURRENT_REQUESTS`` places, in the order the requests came
        (a semaphore of the running event loop: a test runs a handler in
        loops of its own)."""
        if not self.concurrent_requests:
            return contextlib.nullcontext()
        loop = asyncio.get_running_loop()
        if self._turns is None or self._turns[0] is not loop:
            self._turns = (loop, asyncio.Semaphore(self.concurrent_requests))
        return self._turns[1]

    async def get_response_async(self, request):
        async with self.turn():
            if not self.one_thread:
                return await super().get_response_async(request)
            # BaseHandler.get_response: the synchronous chain, as under WSGI,
            # in the request's thread (ASGIHandler.__call__ opened its
            # ThreadSensitiveContext), where Django would have run the view.
            return await sync_to_async(self.get_response, thread_sensitive=True)(request)


def patched(app):
    """``app`` (an ASGI application) with the patches above whose switches are
    on and whose libraries are the tested versions."""
    if patch_applies("response back-pressure"):
        app = Backpressure(app)
    if patch_applies("Twisted's form parsing off"):
        leave_forms_to_the_application()
    if patch_applies("request body from Twisted's file"):
        hold_bodies_back()
        app = body_from_file(app)
    if patch_applies("body limits"):
        limit_bodies()
    return app


def http_application():
    """Django's HTTP application for daphne: ``ASGIHandler`` with the patches."""
    django.setup(set_prefix=False)
    return patched(ASGIHandler())
