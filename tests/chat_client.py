"""A chat client over a real WebSocket, for tests against daphne processes.

It keeps every frame it receives, across reconnects, so that a test can ask
what a page would show: each message once, in sequence order.
"""

import asyncio
import contextlib
import json
import uuid

from django.conf import settings
from django.test import Client
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

TIMEOUT = 10


def session_for(user) -> str:
    """A session id for ``user`` in the database the servers share."""
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


class ChatClient:
    def __init__(self, base_url: str, session: str, room_id: int, name: str = ""):
        self.base_url = base_url
        self.session = session
        self.room_id = room_id
        self.stream = f"room:{room_id}"
        self.name = name
        self.frames: list[dict] = []
        self.changed = asyncio.Condition()
        self.socket = None
        self.reader: asyncio.Task | None = None
        self.connected = False  # False once the socket has dropped

    # --- connection ------------------------------------------------------------------

    async def connect(self, since: int | None = None, base_url: str | None = None) -> dict:
        """Opens the socket and subscribes to the room (from ``since``, or from
        the last message seen when reconnecting); returns the subscribed frame."""
        self.base_url = base_url or self.base_url
        self.socket = await connect(
            self.base_url.replace("http://", "ws://", 1) + "/ws/",
            origin=self.base_url,
            additional_headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={self.session}"},
            open_timeout=TIMEOUT,
        )
        hello = json.loads(await asyncio.wait_for(self.socket.recv(), TIMEOUT))
        assert hello["type"] == "hello", hello
        self.connected = True
        self.reader = asyncio.create_task(self._read(self.socket))
        if since is None and self.seqs():
            since = self.seqs()[-1]
        marker = len(self.frames)
        frame = {"type": "subscribe", "stream": self.stream}
        if since is not None:
            frame["since"] = since
        await self.send(frame)
        return await self.wait_for(lambda f: f.get("type") in {"subscribed", "error"}, after=marker)

    async def _read(self, socket) -> None:
        with contextlib.suppress(Exception):
            async for text in socket:
                frame = json.loads(text)
                async with self.changed:
                    self.frames.append(frame)
                    self.changed.notify_all()
        async with self.changed:  # the socket dropped: whoever waits hears it
            if socket is self.socket:
                self.connected = False
            self.changed.notify_all()

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()
        if self.reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self.reader, TIMEOUT)
        self.socket = self.reader = None

    async def send(self, frame: dict) -> None:
        await self.socket.send(json.dumps(frame))

    # --- what arrived ---------------------------------------------------------------

    async def wait_for(self, predicate, *, after: int = 0, timeout: float = TIMEOUT) -> dict:
        """The first frame from index ``after`` on that ``predicate`` accepts."""

        def found():
            return next((f for f in self.frames[after:] if predicate(f)), None)

        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(found), timeout)
            return found()

    async def wait_until(self, check, timeout: float = TIMEOUT) -> None:
        """Until ``check()`` (about what arrived) is true."""
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(check), timeout)

    def events(self, event: str) -> list[dict]:
        return [f for f in self.frames if f.get("type") == "event" and f.get("event") == event]

    def messages(self) -> list[dict]:
        """message.created payloads in the order they arrived."""
        return [frame["data"]["message"] for frame in self.events("message.created")]

    def seqs(self) -> list[int]:
        return [message["seq"] for message in self.messages()]

    def present(self) -> list[str] | None:
        """The names in the last presence event (None before the first)."""
        found = self.events("presence")
        return [user["name"] for user in found[-1]["data"]["users"]] if found else None

    # --- chat -------------------------------------------------------------------------

    async def say(self, body: str, timeout: float = TIMEOUT) -> dict:
        """Sends a message; returns its ack (or the error frame)."""
        client_id = uuid.uuid4().hex
        await self.send(
            {"type": "chat.send", "room": self.room_id, "body": body, "client_id": client_id}
        )
        return await self.wait_for(
            lambda f: f.get("client_id") == client_id and f.get("type") in {"ack", "error"},
            timeout=timeout,
        )


class ReconnectingChatClient(ChatClient):
    """A chat client that behaves as the browser's static/js/socket.js and
    chat.js do when the socket drops: it connects again after a pause (longer
    each time), subscribes from the last sequence number it saw, and sends
    every message not yet acknowledged again under the same client_id, which
    the server stores once."""

    reconnects = 0  # how often the socket dropped and was opened again

    async def reconnect(self, *, deadline: float) -> None:
        delay = 0.1
        loop = asyncio.get_running_loop()
        while True:
            with contextlib.suppress(Exception):
                await self.close()
            try:
                frame = await self.connect()
                if frame.get("type") == "subscribed":
                    self.reconnects += 1
                    return
            except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed):
                pass
            if loop.time() > deadline:
                raise TimeoutError(f"{self.name} could not reconnect")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def say_reliably(self, body: str, timeout: float = 45) -> dict:
        """Sends a message until it is acknowledged, reconnecting in between;
        returns the ack. An error frame (a refusal) is returned as it is."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        client_id = uuid.uuid4().hex
        frame = {"type": "chat.send", "room": self.room_id, "body": body, "client_id": client_id}

        def answered():
            return next(
                (
                    f
                    for f in self.frames
                    if f.get("client_id") == client_id and f.get("type") in {"ack", "error"}
                ),
                None,
            )

        while True:
            if not self.connected:
                await self.reconnect(deadline=deadline)
            with contextlib.suppress(ConnectionClosed):
                await self.send(frame)
            async with self.changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self.changed.wait_for(lambda: answered() or not self.connected),
                        max(0.1, deadline - loop.time()),
                    )
            answer = answered()
            if answer is not None:
                return answer
            if loop.time() > deadline:
                raise TimeoutError(f"{self.name}: no ack for {body!r}")
