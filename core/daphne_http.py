"""How daphne serves the workspace's HTTP side: ``http_application()``, what
workspace/asgi.py serves, is Django's ``get_asgi_application()`` with four
adjustments, each measured by bench/download.py or bench/upload.py.

1. Responses go out no faster than the client reads them. Daphne hands every
   ``http.response.body`` message to Twisted at once: its ``send`` returns
   without waiting for the socket, so a response sent faster than the client
   reads (a streamed download to a slow browser) piled up in daphne's memory
   (a 500 MB document held entirely, about 1 GB resident at the peak, for a
   client that paused for two seconds). ``backpressure(app)`` registers a
   streaming producer with the Twisted request for a response of several body
   messages; Twisted pauses it when the connection's send buffer is full
   (64 KB) and resumes it when the buffer has drained, and after each body
   message ``send`` waits until it is resumed. A response then holds one
   message plus Twisted's buffer in memory. ``backpressure`` recognises daphne
   by its ``send`` (``functools.partial`` of the server's ``handle_reply``
   with the Twisted request); under any other server it passes everything
   through unchanged.

2. Bodies leave in messages of up to 1 MB instead of Django's 64 KB: every
   message passes through the flow control, daphne and Twisted, and for a
   download in 64 KB messages that took about half of daphne's CPU time.

3. Twisted does not parse form bodies. Before daphne sees a request, Twisted's
   ``Request.requestReceived`` parses a multipart/form-data body into
   ``request.args`` (which daphne never reads): all of it in memory, with the
   email package, in the event loop. A 200 MB upload made daphne grow by
   2.6 GB and stalled every other request and socket of the process for
   about 20 seconds, whoever sent it (it happens before Django authenticates
   anything). Daphne's request class is replaced by one that turns this off
   (``parsePOSTFormSubmission=False``, Twisted's switch for it).

4. A request body reaches Django in messages of up to 1 MB. Daphne queues the
   whole body for the application in 8 KB messages before it starts it, and
   Django writes each message to its spooled body file in a worker thread
   once the file is on disk: 25,600 thread hops for 200 MB, which made up
   three quarters of daphne's CPU time for such an upload.
   ``coalesce_request_body(app)`` joins the messages already waiting in
   daphne's queue.

What still grows with an upload is daphne's queue: the whole body is in
memory (besides its copy in Twisted's temporary file) until the application
has read it; only a change in daphne (feeding the body from that file as the
application reads, django/daphne#483) or a reverse proxy's body limit bounds
that.
"""

import asyncio
import functools
import inspect

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


REQUEST_MESSAGE_BYTES = 1024 * 1024


def coalesce_request_body(app):
    """``app`` receiving the request body in messages of up to 1 MB, joined
    from the messages already waiting in daphne's queue (``receive`` is that
    queue's ``get``); under other servers ``receive`` is passed through."""

    async def application(scope, receive, send):
        queue = getattr(receive, "__self__", None)
        if scope["type"] != "http" or not isinstance(queue, asyncio.Queue):
            return await app(scope, receive, send)
        held = []  # a message that ended a joined run (a disconnect), for next time

        async def joined_receive():
            message = held.pop() if held else await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                return message
            parts = [message.get("body", b"")]
            size = len(parts[0])
            while size < REQUEST_MESSAGE_BYTES and not queue.empty():
                following = queue.get_nowait()
                if following["type"] != "http.request":
                    held.append(following)
                    break
                parts.append(following.get("body", b""))
                size += len(parts[-1])
                if not following.get("more_body", False):
                    return {"type": "http.request", "body": b"".join(parts), "more_body": False}
            return {"type": "http.request", "body": b"".join(parts), "more_body": True}

        return await app(scope, joined_receive, send)

    application.app = app
    return application


class ASGIHandler(DjangoASGIHandler):
    """Django's handler, sending a body in messages of up to 1 MB (Django's
    own: 64 KB)."""

    chunk_size = 1024 * 1024


def leave_forms_to_the_application() -> None:
    """Makes daphne's requests skip Twisted's parsing of form bodies (3. above)."""
    from daphne import http_protocol

    if getattr(http_protocol.WebRequest, "leaves_forms_to_the_application", False):
        return
    if "parsePOSTFormSubmission" not in inspect.signature(Request.__init__).parameters:
        return  # a Twisted that does not parse them (or cannot be told not to)

    class WebRequest(http_protocol.WebRequest):
        leaves_forms_to_the_application = True

        def __init__(self, *args, **kwargs):
            kwargs["parsePOSTFormSubmission"] = False
            super().__init__(*args, **kwargs)

    http_protocol.WebRequest = WebRequest  # what daphne's HTTPFactory builds


def http_application():
    """Django's HTTP application for daphne: ``get_asgi_application()`` with
    the four adjustments above."""
    django.setup(set_prefix=False)
    leave_forms_to_the_application()
    return coalesce_request_body(backpressure(ASGIHandler()))
