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
"""

import asyncio
import functools
import inspect
import io

import django
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


# --- The application -----------------------------------------------------------


class ASGIHandler(DjangoASGIHandler):
    """Django's handler, sending a body in messages of up to 1 MB (Django's
    own: 64 KB): every message passes through daphne and Twisted (and the
    back-pressure), so fewer, larger messages cost daphne less CPU time per
    byte downloaded (bench/download.py)."""

    chunk_size = 1024 * 1024


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
    return app


def http_application():
    """Django's HTTP application for daphne: ``ASGIHandler`` with the patches."""
    django.setup(set_prefix=False)
    return patched(ASGIHandler())
