"""How daphne serves the workspace's HTTP side: ``http_application()``, what
workspace/asgi.py serves, is Django's ``get_asgi_application()`` with five
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

4. A request body reaches Django from the file it was received into, 1 MB
   at a time as Django reads it. Twisted receives a body into a temporary
   file (in memory below 100 KB); daphne then read all of it into the
   application's queue, in 8 KB messages, before it started the application:
   a 200 MB upload held 200 MB in daphne's memory until Django had copied it
   out (django/daphne#483), and Django's writing of each 8 KB message to its
   spooled body file, one worker-thread hop each, made up three quarters of
   daphne's CPU time for it. ``hold_bodies_back()`` keeps the body in
   Twisted's file (daphne queues an empty closing message instead) and
   ``body_from_file(app)`` hands it to the application in 1 MB messages as
   it asks, read in a worker thread; a client that leaves closes the file
   and the application receives ``http.disconnect``. An upload now costs
   daphne about one message's worth of memory.

5. A file goes out with sendfile. ``backpressure`` offers ASGI's zero-copy
   send extension (``http.response.zerocopysend``: an open file, an offset and
   a count), which daphne does not implement: after the headers, and once
   Twisted's buffer has been written, the file is passed to ``os.sendfile``
   on the connection's socket, waiting for Twisted to report the socket
   writable whenever it is full. Streamed through Python (read, Twisted's
   buffer, send) a 500 MB download took daphne about 0.8 s of CPU time and
   3.7 times nginx's time; the kernel copies it from the page cache itself
   now. Django's handler (``ASGIHandler`` below) uses it for a
   ``core.responses.FileStreamResponse``; a response without a length
   (chunked), a HEAD request or a file object without a descriptor gets the
   file read and sent through Python as before.
"""

import asyncio
import functools
import inspect
import io
import os

import django
from django.core.handlers.asgi import ASGIHandler as DjangoASGIHandler
from twisted.internet import tcp
from twisted.internet.interfaces import IPushProducer, ISSLTransport
from twisted.web.http import NO_BODY_CODES, Request
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


ZERO_COPY_SEND = "http.response.zerocopysend"
SENDFILE_BYTES = 8 * 1024 * 1024  # at most per sendfile call, between turns of the loop
FALLBACK_READ_BYTES = 1024 * 1024


async def _file_chunks(file, offset: int, count: int):
    """``count`` bytes of ``file`` from ``offset``, read in a worker thread."""
    await asyncio.to_thread(file.seek, offset)
    while count > 0:
        chunk = await asyncio.to_thread(file.read, min(count, FALLBACK_READ_BYTES))
        if not chunk:
            return
        count -= len(chunk)
        yield chunk


def plain_socket(request: Request) -> int | None:
    """The descriptor of the request's connection if bytes written to it reach
    the client as they are: a plain TCP connection. None for TLS (a wrapping
    transport answers ``fileno()`` with the socket under the encryption) or
    anything else."""
    channel = request.channel
    transport = channel.transport if channel is not None else None
    if not isinstance(transport, tcp.Connection) or ISSLTransport.providedBy(transport):
        return None
    return transport.fileno()


def backpressure(app):
    """``app`` with responses sent no faster than the client reads them (1.
    above), and with ASGI's zero-copy send (5. above)."""

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

        def connected() -> bool:
            channel = request.channel
            return (
                channel is not None
                and not request._disconnected
                and channel.transport is not None
                and channel.transport.connected
                and not channel.transport.disconnecting
            )

        async def drained() -> None:
            """Returns once Twisted's send buffer is empty and the socket can
            take more: Twisted writes what it holds and, finding nothing left,
            resumes its (paused) producer, which opens the gate."""
            if gate is None or not connected():
                return
            channel = request.channel
            channel.pauseProducing()  # closes the gate
            channel.transport.producerPaused = True
            channel.transport.startWriting()
            await gate.open.wait()

        async def send_file(message) -> None:
            file = message["file"]
            offset = message.get("offset")
            offset = file.tell() if offset is None else offset
            try:
                file_fd = file.fileno()
            except (AttributeError, OSError, ValueError):  # not a file of the OS
                file_fd = None
            count = message.get("count")
            if count is None:
                end = (
                    os.fstat(file_fd).st_size if file_fd is not None else file.seek(0, io.SEEK_END)
                )
                count = end - offset
            more_body = message.get("more_body", False)
            # The headers go out (into Twisted's buffer) with an empty body message.
            await paced_send({"type": "http.response.body", "body": b"", "more_body": True})
            if request.method == b"HEAD" or request.code in NO_BODY_CODES or not connected():
                count = 0
            elif request.chunked or file_fd is None or plain_socket(request) is None:
                # Chunked: needs Twisted's framing; TLS: needs Twisted's encryption.
                async for chunk in _file_chunks(file, offset, count):
                    await paced_send(
                        {"type": "http.response.body", "body": chunk, "more_body": True}
                    )
                count = 0
            if count > 0:
                if gate is None:
                    register()
                await drained()  # the headers on the wire before the body
            # Everything here runs in the event loop's thread, as Twisted's
            # closing of the socket does: the socket checked is the one written.
            while count > 0 and connected():
                transport = request.channel.transport
                try:
                    socket_fd = plain_socket(request)
                    sent = os.sendfile(socket_fd, file_fd, offset, min(count, SENDFILE_BYTES))
                except BlockingIOError:
                    await drained()
                    continue
                except OSError:  # the client has gone (EPIPE, ECONNRESET)
                    transport.abortConnection()
                    return
                if sent == 0:  # the file is shorter than the response said
                    transport.abortConnection()
                    return
                offset += sent
                count -= sent
                await asyncio.sleep(0)  # the other connections' turn
            if not more_body:
                await paced_send({"type": "http.response.body", "body": b"", "more_body": False})

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
            if message["type"] == ZERO_COPY_SEND:
                return await send_file(message)
            return await send(message)

        paced_send.sends_files = True
        scope = {**scope, "extensions": {**(scope.get("extensions") or {}), ZERO_COPY_SEND: {}}}
        try:
            return await app(scope, receive, paced_send)
        finally:
            release()

    application.app = app
    return application


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


def body_from_file(app):
    """``app`` receiving the request body from the file Twisted received it
    into, 1 MB per message as the application asks for it (4. above); under
    other servers, or for a request whose body was not held back, ``receive``
    is passed through."""

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


class ASGIHandler(DjangoASGIHandler):
    """Django's handler, sending a body in messages of up to 1 MB (Django's
    own: 64 KB), and a response that can hand over its file
    (``core.responses.FileStreamResponse``) as one zero-copy send where the
    server offers it (5. above)."""

    chunk_size = 1024 * 1024

    async def send_response(self, response, send):
        open_file = getattr(response, "open_file", None)
        if open_file is None or not getattr(send, "sends_files", False):
            return await super().send_response(response, send)
        file = await asyncio.to_thread(open_file)
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": response_headers(response),
                }
            )
            await send(
                {"type": ZERO_COPY_SEND, "file": file, "offset": 0, "count": response.file_size}
            )
        finally:
            await asyncio.to_thread(file.close)


def response_headers(response) -> list[tuple[bytes, bytes]]:
    """A Django response's headers and cookies as ASGI wants them (as Django's
    ``ASGIHandler.send_response`` encodes them)."""
    headers = []
    for header, value in response.items():
        if isinstance(header, str):
            header = header.encode("ascii")
        if isinstance(value, str):
            value = value.encode("latin1")
        headers.append((bytes(header), bytes(value)))
    for cookie in response.cookies.values():
        headers.append((b"Set-Cookie", cookie.OutputString().encode("ascii")))
    return headers


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


def hold_bodies_back() -> None:
    """Makes daphne's requests keep a body in the file Twisted received it
    into, for ``body_from_file`` to pass on (4. above), instead of queueing
    it whole; only for an application wrapped in ``body_from_file``."""
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


def http_application():
    """Django's HTTP application for daphne: ``get_asgi_application()`` with
    the five adjustments above."""
    django.setup(set_prefix=False)
    leave_forms_to_the_application()
    hold_bodies_back()
    return body_from_file(backpressure(ASGIHandler()))
