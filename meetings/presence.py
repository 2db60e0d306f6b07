"""Who is in a chat room now, across every server process.

Each socket subscribed to ``room:<id>`` is one entry: ``"<user id>:<connection
id>"`` with the time of its last sign of life (joining, or a
``presence.heartbeat`` frame, which the page sends every 20 s). An entry older
than ``settings.PRESENCE_TIMEOUT_SECONDS`` is gone, so a socket that vanished
without a goodbye (a killed process, a dead network) stops counting within
that time.

With ``REDIS_URL`` the entries are a Redis sorted set per room (score = last
sign of life), shared by all processes; without it they live in this process,
which is then the only one. Entries are pruned by score whenever the room is
read, and each process sweeps the rooms it has sockets in, so that a timeout
is announced too.

On every change the room's subscribers get an unstored event::

    {"type": "event", "stream": "room:7", "seq": null, "event": "presence",
     "data": {"room": 7, "users": [{"id": 3, "name": "Mia Member"}, ...]}}

``users`` is everyone present (each person once, however many tabs), by
name. Changes are announced at most every ``ANNOUNCE_DELAY`` seconds per room
and process (up to 5 s in rooms of hundreds), so that a crowd joining at once
costs a few events, not one per socket. Presence is best effort: when Redis
is away it is logged and the chat goes on; when it answers again, each process
puts its sockets back.
"""

import asyncio
import logging
import time
import weakref

from channels.layers import get_channel_layer
from django.conf import settings

from core.realtime import event_message, stream_group

logger = logging.getLogger(__name__)

PRESENCE_EVENT = "presence"
# Seconds between a change and its announcement; changes in between share it.
ANNOUNCE_DELAY = 0.2


def timeout() -> float:
    return float(settings.PRESENCE_TIMEOUT_SECONDS)


def sweep_interval() -> float:
    """How often a process looks for timed-out entries in its rooms."""
    return max(0.2, min(5.0, timeout() / 30))


def cutoff(now: float) -> float:
    """Entries last seen before this are gone. The sweep interval is taken off
    the timeout so that a timeout is announced within the timeout itself."""
    return now - max(timeout() - sweep_interval(), timeout() / 2)


def room_stream(room_id: int) -> str:
    return f"room:{room_id}"


def room_id_of(stream: str) -> int:
    return int(stream.partition(":")[2])


async def publish_unstored(stream: str, event_type: str, payload: dict) -> None:
    """Sends an event that is not kept (no sequence number, no catch-up) to the
    subscribers of ``stream`` in every process. Best effort: a channel layer
    that is away is logged."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(stream_group(stream), event_message(stream, event_type, payload))
    except Exception:
        logger.warning("Could not send %s on %s", event_type, stream, exc_info=True)


# --- Where the entries live ---------------------------------------------------------


class MemoryBackend:
    """One process's rooms (no Redis: this process is the only one)."""

    def __init__(self):
        self.rooms: dict[int, dict[str, tuple[float, int, str]]] = {}

    async def add(self, room_id: int, member: str, user_id: int, name: str, now: float) -> bool:
        entries = self.rooms.setdefault(room_id, {})
        new = member not in entries or entries[member][0] < cutoff(now)
        entries[member] = (now, user_id, name)
        return new

    async def remove(self, room_id: int, member: str) -> bool:
        entries = self.rooms.get(room_id, {})
        found = entries.pop(member, None) is not None
        if not entries:
            self.rooms.pop(room_id, None)
        return found

    async def prune(self, room_id: int, now: float) -> int:
        entries = self.rooms.get(room_id, {})
        gone = [member for member, (seen, *_rest) in entries.items() if seen < cutoff(now)]
        for member in gone:
            del entries[member]
        return len(gone)

    async def users(self, room_id: int, now: float) -> list[dict]:
        await self.prune(room_id, now)
        people = {user_id: name for _seen, user_id, name in self.rooms.get(room_id, {}).values()}
        return _listed(people)


class RedisBackend:
    """Rooms shared by every process: a sorted set of entries per room and a
    hash of the present people's names."""

    def __init__(self, url: str, prefix: str, *, connections: int | None = None):
        import redis.asyncio

        # A pool that waits for a free connection rather than failing: when
        # every socket of a process goes at once (nginx restarted, the
        # network lost), hundreds of leaves run together, more than redis-py's
        # default pool holds (100: "Too many connections", and the leave was
        # lost until the entry timed out; bench/load.py at 1,000 members).
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            url,
            max_connections=connections or settings.PRESENCE_REDIS_CONNECTIONS,
            timeout=10,
            socket_connect_timeout=2,
            socket_timeout=2,
        )
        self.client = redis.asyncio.Redis.from_pool(pool)
        self.prefix = prefix

    def key(self, room_id: int) -> str:
        return f"{self.prefix}:presence:room:{room_id}"

    def names_key(self, room_id: int) -> str:
        return f"{self.prefix}:presence:room:{room_id}:names"

    async def add(self, room_id: int, member: str, user_id: int, name: str, now: float) -> bool:
        key, names = self.key(room_id), self.names_key(room_id)
        # Idle rooms' keys expire by themselves.
        keep = int(timeout() * 3) + 1
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", f"({cutoff(now)}")
            pipe.zadd(key, {member: now})
            pipe.hset(names, str(user_id), name)
            pipe.expire(key, keep)
            pipe.expire(names, keep)
            _pruned, added, *_rest = await pipe.execute()
        return bool(added)

    async def remove(self, room_id: int, member: str) -> bool:
        return bool(await self.client.zrem(self.key(room_id), member))

    async def prune(self, room_id: int, now: float) -> int:
        return await self.client.zremrangebyscore(self.key(room_id), "-inf", f"({cutoff(now)}")

    async def users(self, room_id: int, now: float) -> list[dict]:
        key = self.key(room_id)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", f"({cutoff(now)}")
            pipe.zrange(key, 0, -1)
            _pruned, members = await pipe.execute()
        ids = sorted({int(member.split(b":", 1)[0]) for member in members})
        if not ids:
            return []
        names = await self.client.hmget(self.names_key(room_id), [str(pk) for pk in ids])
        return _listed(
            {
                pk: (name.decode() if name is not None else "")
                for pk, name in zip(ids, names, strict=True)
            }
        )

    async def close(self) -> None:
        await self.client.aclose()


def _listed(people: dict[int, str]) -> list[dict]:
    return [
        {"id": pk, "name": name}
        for pk, name in sorted(people.items(), key=lambda item: (item[1].casefold(), item[0]))
    ]


def make_backend():
    if settings.REDIS_URL:
        # The cache's prefix (REDIS_PREFIX); tests may give presence its own.
        prefix = (
            getattr(settings, "PRESENCE_KEY_PREFIX", None)
            or settings.CACHES["default"].get("KEY_PREFIX")
            or "ws"
        )
        return RedisBackend(settings.REDIS_URL, prefix)
    return MemoryBackend()


# --- This process's side --------------------------------------------------------------


class Presence:
    """Presence as seen from one event loop (one server process): its sockets'
    entries, the sweep of its rooms and the announcements."""

    def __init__(self, backend):
        self.backend = backend
        # room id -> this process's entries there: {member: (user id, name)}
        self.local: dict[int, dict[str, tuple[int, str]]] = {}
        self.announcing: dict[int, asyncio.Task] = {}
        self.sizes: dict[int, int] = {}  # room id -> people in its last announcement
        self.sweeper: asyncio.Task | None = None
        self.away = False  # the backend failed last time (Redis away)

    def _failed(self, what: str, room_id: int) -> None:
        """Logs the first failure in full; the rest quietly until it works again."""
        if self.away:
            logger.debug("Presence: could not %s in room %s", what, room_id)
            return
        self.away = True
        logger.warning("Presence: could not %s in room %s", what, room_id, exc_info=True)

    def _worked(self) -> None:
        if self.away:
            self.away = False
            logger.warning("Presence: the backend answers again")

    async def join(self, room_id: int, user, connection_id: str) -> None:
        await self._record(room_id, user, connection_id, "record a join", always=True)

    async def heartbeat(self, room_id: int, user, connection_id: str) -> None:
        """The socket is still here. If its entry had gone (timed out, or Redis
        lost it), it is back and that is announced."""
        await self._record(room_id, user, connection_id, "record a heartbeat")

    async def _record(self, room_id, user, connection_id, what, always=False) -> None:
        member = f"{user.pk}:{connection_id}"
        name = user.get_full_name()
        self.local.setdefault(room_id, {})[member] = (user.pk, name)
        self._ensure_sweeper()
        try:
            new = await self.backend.add(room_id, member, user.pk, name, time.time())
        except Exception:
            self._failed(what, room_id)
            return
        self._worked()
        if new or always:
            self.announce(room_id)

    async def leave(self, room_id: int, user_id: int, connection_id: str) -> None:
        member = f"{user_id}:{connection_id}"
        entries = self.local.get(room_id)
        if entries is not None:
            entries.pop(member, None)
            if not entries:
                del self.local[room_id]
        try:
            removed = await self.backend.remove(room_id, member)
        except Exception:
            self._failed("record a leave", room_id)
            return
        self._worked()
        if removed:
            self.announce(room_id)

    async def users(self, room_id: int) -> list[dict]:
        return await self.backend.users(room_id, time.time())

    def announce(self, room_id: int) -> None:
        """Sends the room's presence soon; changes until then share the event.
        The bigger the room, the longer the wait (a crowd joining at once
        would otherwise cost everyone a long list per arrival)."""
        task = self.announcing.get(room_id)
        if task is None or task.done():
            delay = max(ANNOUNCE_DELAY, min(5.0, self.sizes.get(room_id, 0) / 200))
            self.announcing[room_id] = asyncio.create_task(self._announce(room_id, delay))

    async def _announce(self, room_id: int, delay: float) -> None:
        await asyncio.sleep(delay)
        # Changes from now on get an announcement of their own.
        self.announcing.pop(room_id, None)
        try:
            users = await self.users(room_id)
        except Exception:
            self._failed("read", room_id)
            return
        self.sizes[room_id] = len(users)
        await publish_unstored(
            room_stream(room_id), PRESENCE_EVENT, {"room": room_id, "users": users}
        )

    def _ensure_sweeper(self) -> None:
        if self.sweeper is None or self.sweeper.done():
            self.sweeper = asyncio.create_task(self._sweep(), name="presence-sweeper")

    async def _sweep(self) -> None:
        """Announces the timeouts in this process's rooms, and puts this
        process's sockets back when the backend returns after failing (a
        restarted Redis has forgotten them); ends when it has no rooms."""
        while self.local:
            await asyncio.sleep(sweep_interval())
            recovering = self.away
            for room_id in list(self.local):
                try:
                    gone = await self.backend.prune(room_id, time.time())
                    if recovering:
                        for member, (user_id, name) in list(self.local.get(room_id, {}).items()):
                            await self.backend.add(room_id, member, user_id, name, time.time())
                except Exception:
                    self._failed("sweep", room_id)
                    continue
                self._worked()
                if gone or recovering:
                    self.announce(room_id)


_presences: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Presence]" = (
    weakref.WeakKeyDictionary()
)


def get_presence() -> Presence:
    """The presence of the running event loop (one per server process)."""
    loop = asyncio.get_running_loop()
    presence = _presences.get(loop)
    if presence is None:
        presence = _presences[loop] = Presence(make_backend())
    return presence


# --- Stream hooks (registered for ``room`` streams in MeetingsConfig.ready) -----------


async def on_join(consumer, stream: str) -> None:
    await get_presence().join(room_id_of(stream), consumer.user, consumer.connection_id)


async def on_leave(consumer, stream: str) -> None:
    await get_presence().leave(room_id_of(stream), consumer.user.pk, consumer.connection_id)
