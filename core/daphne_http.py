"""Flow control for HTTP responses under daphne.

Daphne hands every ``http.response.body`` message to Twisted at once: its
``send`` returns without waiting for the socket, so an application that sends
faster than the client reads (a streamed download to a slow browser) piles
the whole body up in daphne's memory. bench/download.py measured a 500 MB
document held entirely in memory (about 1 GB resident at the peak) for a
client that stopped reading for two seconds.

``backpressure(app)`` wraps the HTTP application: for a response of several
body messages it registers itself with the Twisted request as a streaming
producer, which Twisted pauses when the connection's send buffer is full
(64 KB) and resumes when it has drained; after each body message ``send``
waits until it is resumed. The application then produces no faster than the
client reads, and a response holds one chunk of the application plus
Twisted's buffer in memory.

It recognises daphne by its ``send`` (``functools.partial`` of the server's
``handle_reply`` with the Twisted request); under any other server (tests,
another ASGI server) it passes everything through unchanged.

``http_application()`` is what workspace/asgi.py serves: Django's handler
(``get_asgi_application()``) sending bodies in messages of up to 1 MB, with
backpressure.
"""

import asyncio
import functools

import django
from django.core.handlers.asgi import ASGIHandler as DjangoASGIHandler
from twisted.internet.interfaces import IPushProducer
from twisted.web.http import Request
from zope.interface import implementer


@implementer(IPushProducer)
class _Gate:
    """Open while the connection can take more; Twisted closes and opens it."""

    def __init__(self, paused: bool):
        self.open = asyncio.Event()
        if not paused:
            self.open.set()

    def pauseProducing(self):
        self.open.clear()

    def resumeProducing(self):
        self.open.set()

    def stopProducing(self):  # the connection is going away: never block on it
        self.open.set()


def twisted_request(send) -> Request | None:
    """The Twisted request behind daphne's ``send``; None under other servers."""
    if isinstance(send, functools.partial) and send.args and isinstance(send.args[0], Request):
        return send.args[0]
    return None


def backpressure(app):
    """``app`` with responses sent no faster than the client reads them."""

    async def application(scope, receive, send):
        request = twisted_request(send) if scope["type"] == "http" else None
        if request is None:
            return await app(scope, receive, send)
        gate: _Gate | None = None

        def register() -> None:
            nonlocal gate
            if request.producer is None and request.channel is not None and not request.finished:
                gate = _Gate(paused=getattr(request.channel, "_waitingForTransport", False))
                request.registerProducer(gate, True)

        def release() -> None:
            # Before the last message: Twisted finishes the request with it and
            # insists that no producer is left registered by then.
            nonlocal gate
            if gate is not None and request.producer is gate:
                if request.channel is not None:
                    request.unregisterProducer()
                else:
                    request.producer = None
            gate = None

        async def paced_send(message):
            if message["type"] == "http.response.body":
                if not message.get("more_body", False):
                    release()
                    return await send(message)
                if gate is None:
                    register()
                await send(message)
                if gate is not None:
                    await gate.open.wait()
                return None
            return await send(message)

        try:
            return await app(scope, receive, paced_send)
        finally:
            release()

    application.app = app
    return application


class ASGIHandler(DjangoASGIHandler):
    """Django's handler, sending a body in messages of up to 1 MB instead of
    Django's 64 KB. Each message takes a trip through this module, daphne and
    Twisted; for a download streamed in 64 KB messages those trips cost more
    CPU than moving the bytes (bench/download.py: about half of daphne's CPU
    time for 500 MB)."""

    chunk_size = 1024 * 1024


def http_application():
    """Django's HTTP application for daphne, as ``get_asgi_application()``
    makes it, with larger body messages sent with backpressure."""
    django.setup(set_prefix=False)
    return backpressure(ASGIHandler())
