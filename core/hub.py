"""Fan-out inside one server process.

The stock pattern gives every socket its own channel-layer membership, so a
message to a room of N sockets is copied N times through the layer and
serialised N times. Here each process subscribes once per stream: one hub
channel per process joins the stream's group, receives each event once, turns
it into the JSON frame once, and hands that same text to every local socket
subscribed to the stream.

The layer (Redis) is best effort; the database has every numbered event. So
the hub also keeps its sockets whole when the layer fails: a subscription that
could not be made is retried, and every ``RESYNC_INTERVAL`` seconds one query
reads the streams' last numbers, and the sockets still behind a number that
was already committed at the previous check get the missed events from the
database (read once per stream). A message sent while Redis was down, or
published while this process's subscription was being re-established, arrives
that way.
"""

import asyncio
import json
import logging
import weakref

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from .daphne_ws import text_frame
from .realtime import event_message, events_after, last_seqs, stream_group

logger = logging.getLogger(__name__)

# Seconds between two checks that the process's sockets missed nothing.
RESYNC_INTERVAL = 2.0

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
        # Streams whose layer subscription failed (the layer was away).
        self.pending: set[str] = set()
        self.watcher: asyncio.Task | None = None
        # The streams' last numbers at the previous check.
        self.committed: dict[str, int] = {}

    async def add(self, stream: str, consumer) -> None:
        async with self.lock:
            local = self.subscribers.setdefault(stream, set())
            first = not local
            local.add(consumer)
            if first:
                await self._subscribe(stream)
            if self.watcher is None or self.watcher.done():
                self.watcher = asyncio.create_task(self._watch(), name="workspace-hub-watch")

    async def discard(self, stream: str, consumer) -> None:
        async with self.lock:
            local = self.subscribers.get(stream)
            if local is None:
                return
            local.discard(consumer)
            if not local:
                del self.subscribers[stream]
                self.pending.discard(stream)
                if self.channel is None:
                    return
                try:
                    await self.layer.group_discard(stream_group(stream), self.channel)
                except Exception:
                    # At worst the process keeps receiving a stream nobody here follows.
                    logger.warning("Hub could not leave %s", stream, exc_info=True)

    async def _subscribe(self, stream: str) -> None:
        """Joins the stream's group in the layer; if the layer is away, the
        watcher tries again."""
        try:
            if self.channel is None:
                self.channel = await self.layer.new_channel(prefix="hub.")
                self.task = asyncio.create_task(self._run(), name="workspace-hub")
            await self.layer.group_add(stream_group(stream), self.channel)
        except Exception as error:
            logger.warning("Hub could not subscribe to %s (%s); retrying", stream, error)
            self.pending.add(stream)
        else:
            self.pending.discard(stream)

    async def _watch(self) -> None:
        """While the process has subscribers: retries failed subscriptions and
        catches up sockets that live delivery left behind."""
        while self.subscribers:
            await asyncio.sleep(RESYNC_INTERVAL)
            try:
                if self.pending:
                    async with self.lock:
                        for stream in list(self.pending):
                            if stream in self.subscribers:
                                await self._subscribe(stream)
                            else:
                                self.pending.discard(stream)
                await self.resync()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("Hub could not check its streams", exc_info=True)
        self.committed = {}

    async def resync(self) -> None:
        """Catches up the sockets that are behind a number that was committed
        at the previous check (what is newer may still be on its way): the
        missed events are read once per stream and handed to each of them as
        if live, so each gets them once and in order."""
        committed = await database_sync_to_async(last_seqs)(list(self.subscribers))
        previous, self.committed = self.committed, committed
        for stream, seq in previous.items():
            behind, start = [], seq
            for consumer in list(self.subscribers.get(stream, ())):
                position = consumer.position(stream)
                if position is not None and position < seq:
                    behind.append(consumer)
                    start = min(start, position)
            if not behind:
                continue
            events = await database_sync_to_async(events_after)(stream, start, until=seq)
            for event in events:
                message = event_message(stream, event.type, event.data, event.seq)
                text = frame_text(message)
                for consumer in behind:
                    try:
                        await consumer.deliver(message, text)
                    except Exception:
                        logger.exception("Could not catch a socket up on %s", stream)

    async def _run(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                # The layer (Redis) is away: the database keeps every event, and
                # the watcher catches the sockets up. Try again shortly.
                logger.warning("Hub lost its channel layer; retrying", exc_info=True)
                await asyncio.sleep(1)
                continue
            if message.get("type") != "stream.event":
                continue
            local = self.subscribers.get(message["stream"])
            if not local:
                continue
            text = frame_text(message)
            frame = text_frame(text)  # the WebSocket frame too, once for all
            for consumer in list(local):
                try:
                    await consumer.deliver(message, text, frame)
                except Exception:
                    logger.exception("Could not deliver to a socket")
