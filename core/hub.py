"""Fan-out inside one server process.

The stock pattern gives every socket its own channel-layer membership, so a
message to a room of N sockets is copied N times through the layer and
serialised N times. Here each process subscribes once per stream: one hub
channel per process joins the stream's group, receives each event once, turns
it into the JSON frame once, and hands that same text to every local socket
subscribed to the stream.
"""

import asyncio
import json
import logging
import weakref

from channels.layers import get_channel_layer

from .realtime import stream_group

logger = logging.getLogger(__name__)

_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub]" = weakref.WeakKeyDictionary()


def get_hub() -> "Hub":
    """The hub of the running event loop (one per server process in production)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub(get_channel_layer())
    return hub


def frame_text(message: dict) -> str:
    """The frame a client receives for a stream event, serialised once."""
    return json.dumps(
        {
            "type": "event",
            "stream": message["stream"],
            "seq": message.get("seq"),
            "event": message["event"],
            "data": message["data"],
        },
        separators=(",", ":"),
    )


class Hub:
    def __init__(self, layer):
        self.layer = layer
        self.channel: str | None = None
        self.subscribers: dict[str, set] = {}
        self.task: asyncio.Task | None = None
        self.lock = asyncio.Lock()

    async def add(self, stream: str, consumer) -> None:
        async with self.lock:
            if self.channel is None:
                self.channel = await self.layer.new_channel(prefix="hub.")
                self.task = asyncio.create_task(self._run(), name="workspace-hub")
            local = self.subscribers.setdefault(stream, set())
            if not local:
                await self.layer.group_add(stream_group(stream), self.channel)
            local.add(consumer)

    async def discard(self, stream: str, consumer) -> None:
        async with self.lock:
            local = self.subscribers.get(stream)
            if local is None:
                return
            local.discard(consumer)
            if not local:
                del self.subscribers[stream]
                await self.layer.group_discard(stream_group(stream), self.channel)

    async def _run(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                # The layer (Redis) is away: the database keeps every event, and
                # clients catch up when they resubscribe. Try again shortly.
                logger.warning("Hub lost its channel layer; retrying", exc_info=True)
                await asyncio.sleep(1)
                continue
            if message.get("type") != "stream.event":
                continue
            local = self.subscribers.get(message["stream"])
            if not local:
                continue
            text = frame_text(message)
            for consumer in list(local):
                try:
                    await consumer.deliver(message, text)
                except Exception:
                    logger.exception("Could not deliver to a socket")
