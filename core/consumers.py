"""The one socket per browser tab.

A thin interface: it authenticates (the session, through AuthMiddlewareStack),
validates every inbound frame, and relays stream events. Authorisation of
streams and every write go through permission functions and services.
"""

import json

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from . import ratelimit
from .realtime import stream_group, user_stream

# Close codes in the application range (4000-4999).
CLOSE_UNAUTHENTICATED = 4401


def error_frame(code: str, message: str, **extra) -> str:
    return json.dumps({"type": "error", "code": code, "message": message, **extra})


class WorkspaceConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.user = self.scope.get("user")
        if self.user is None or not self.user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.streams: set[str] = set()
        await self.accept()
        await self._join(user_stream(self.user.pk))
        await self.send(text_data=json.dumps({"type": "hello", "user": self.user.pk}))

    async def disconnect(self, code):
        for stream in list(getattr(self, "streams", ())):
            await self.channel_layer.group_discard(stream_group(stream), self.channel_name)

    async def _join(self, stream: str) -> None:
        await self.channel_layer.group_add(stream_group(stream), self.channel_name)
        self.streams.add(stream)

    async def receive(self, text_data=None, bytes_data=None):
        if bytes_data is not None:
            await self.send(text_data=error_frame("binary", "Only text frames are accepted."))
            return
        if len(text_data.encode()) > settings.WS_MAX_FRAME_BYTES:
            await self.send(
                text_data=error_frame(
                    "too_large",
                    "The message is too large.",
                    limit=settings.WS_MAX_FRAME_BYTES,
                )
            )
            return
        if not await ratelimit.ahit(f"ws:{self.user.pk}", settings.WS_RATE_LIMIT):
            await self.send(text_data=error_frame("rate_limited", "Too many messages; slow down."))
            return
        try:
            frame = json.loads(text_data)
        except ValueError:
            await self.send(text_data=error_frame("bad_json", "The message is not valid JSON."))
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            await self.send(
                text_data=error_frame("bad_frame", "A message is a JSON object with a type.")
            )
            return
        handler = self.frame_handlers.get(frame["type"])
        if handler is None:
            await self.send(
                text_data=error_frame("unknown_type", "Unknown message type.", got=frame["type"])
            )
            return
        await handler(self, frame)

    async def frame_ping(self, frame):
        await self.send(text_data=json.dumps({"type": "pong", "id": frame.get("id")}))

    frame_handlers = {"ping": frame_ping}

    async def stream_event(self, message):
        """Relays an event of a subscribed stream to the client."""
        await self.send(
            text_data=json.dumps(
                {
                    "type": "event",
                    "stream": message["stream"],
                    "event": message["event"],
                    "data": message["data"],
                }
            )
        )
