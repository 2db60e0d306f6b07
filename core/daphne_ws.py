"""Event frames written straight to daphne's connection.

An event of a room goes to every socket of the room in this process. Through
ASGI each copy costs daphne's ``handle_reply``, autobahn's ``sendMessage``
(encoding, frame header, state and statistics) and Twisted's deferred write:
the transport is registered with the event loop for writing, written on its
next turn and unregistered again, two ``epoll_ctl`` calls and a callback per
socket and event. That was most of the server's CPU per delivered frame
(bench/chat_fanout.py; the figures are in bench/README.md).

So the hub builds the WebSocket frame of an event once (``text_frame``), and a
socket served by daphne hands those same bytes to its Twisted transport
(``write_frame``): at once with ``send()`` when nothing is queued before them,
as asyncio's transports do, else behind what is queued. Order is kept: every
other frame of the connection (autobahn's) goes through the same transport.

It applies only where it is the same as the ASGI path: daphne's WebSocket
protocol, open, not inside a fragmented message, no extension (compression)
negotiated, nothing in autobahn's own send queue. Anything else (another
server, the tests' communicator, a TLS transport for the immediate send) takes
the ordinary way.

It relies on internals of daphne, autobahn and Twisted, and the consumer's
fast path that uses it (``core.consumers``) on channels': the consumer takes
it only with ``WS_FRAME_ONCE`` on and those libraries at the versions it was
tested for (``core.checks``); otherwise every frame goes through channels.
"""

import functools


def text_frame(text: str) -> bytes:
    """One unmasked, unfragmented text frame (RFC 6455 §5.2), as a server sends it."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        head = bytes((0x81, size))
    elif size < 65536:
        head = bytes((0x81, 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((0x81, 127)) + size.to_bytes(8, "big")
    return head + payload


def daphne_protocol(send):
    """The daphne WebSocket protocol behind an ASGI ``send`` (daphne passes
    ``functools.partial(server.handle_reply, protocol)``); None under any
    other server."""
    if not (isinstance(send, functools.partial) and send.args):
        return None
    try:
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:
        return None
    protocol = send.args[0]
    return protocol if isinstance(protocol, WebSocketProtocol) else None


def write_frame(protocol, frame: bytes) -> bool:
    """Writes ``frame`` (from ``text_frame``) to ``protocol``'s connection.
    False, with nothing written, where the frame must take the ASGI way."""
    if (
        protocol.state != protocol.STATE_OPEN
        or protocol.send_state != protocol.SEND_STATE_GROUND
        or getattr(protocol, "websocket_extensions_in_use", True)
        or getattr(protocol, "send_queue", True)
    ):
        return False
    transport = protocol.transport
    if transport is None:
        return False
    if _nothing_queued(transport):
        sent = transport.writeSomeData(frame)
        if isinstance(sent, int) and sent > 0:
            if sent >= len(frame):
                return True
            frame = frame[sent:]
        # 0 (the socket is full) or a lost connection: Twisted's own write
        # queues it, or finds out and closes.
    transport.write(frame)
    return True


def _nothing_queued(transport) -> bool:
    """A plain Twisted TCP connection (no TLS) with nothing waiting to be sent."""
    return (
        getattr(transport, "TLS", True) is False
        and getattr(transport, "connected", False)
        and not getattr(transport, "disconnecting", True)
        and not getattr(transport, "_writeDisconnected", True)
        and getattr(transport, "_tempDataLen", 1) == 0
        and getattr(transport, "offset", -1) == len(getattr(transport, "dataBuffer", b"?"))
    )
