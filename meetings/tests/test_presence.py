"""Presence: who is in a chat room now, announced on join, leave and timeout;
the same view from several processes when Redis holds it."""

import asyncio
import os
import uuid

import pytest
from channels.db import database_sync_to_async
from django.conf import settings

from groups import services as group_services
from groups.models import Membership
from meetings import presence
from meetings.presence import MemoryBackend, Presence, RedisBackend
from tests.sockets import open_socket

from .test_chat_consumer import own_redis_names, subscribe  # noqa: F401 (autouse)

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 5


@pytest.fixture
def room(group):
    from meetings import services

    return services.standing_room(group)


async def presence_until(socket, expected: list[str], timeout: float = TIMEOUT) -> list[str]:
    """Reads presence events until one lists exactly ``expected`` (names)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen = []
    while loop.time() < deadline:
        if await socket.receive_nothing(timeout=min(0.1, deadline - loop.time())):
            continue
        frame = await socket.receive_json_from()
        if frame.get("event") != "presence":
            continue
        names = [user["name"] for user in frame["data"]["users"]]
        seen.append(names)
        if names == expected:
            return names
    raise AssertionError(f"no presence event listed {expected}; saw {seen}")


async def test_members_see_each_other_and_who_leaves(member, moderator, room):
    mia = await open_socket(member)
    await subscribe(mia, room)
    await presence_until(mia, ["Mia Member"])
    max_ = await open_socket(moderator)
    await subscribe(max_, room)
    await presence_until(mia, ["Max Moderator", "Mia Member"])
    await presence_until(max_, ["Max Moderator", "Mia Member"])
    await max_.disconnect()
    await presence_until(mia, ["Mia Member"])
    assert [u["id"] for u in await presence.get_presence().users(room.pk)] == [member.pk]
    await mia.disconnect()


async def test_presence_event_has_the_room_and_ids(member, room):
    socket = await open_socket(member)
    await subscribe(socket, room)
    while True:
        frame = await socket.receive_json_from(TIMEOUT)
        if frame.get("event") == "presence":
            break
    assert frame == {
        "type": "event",
        "stream": room.stream,
        "seq": None,
        "event": "presence",
        "data": {"room": room.pk, "users": [{"id": member.pk, "name": "Mia Member"}]},
    }
    await socket.disconnect()


async def test_two_tabs_count_once_and_closing_one_keeps_the_person(member, moderator, room):
    watcher = await open_socket(moderator)
    await subscribe(watcher, room)
    tabs = [await open_socket(member), await open_socket(member)]
    for tab in tabs:
        await subscribe(tab, room)
    await presence_until(watcher, ["Max Moderator", "Mia Member"])
    await tabs[0].disconnect()
    await asyncio.sleep(presence.ANNOUNCE_DELAY * 2)
    users = await presence.get_presence().users(room.pk)
    assert [u["name"] for u in users] == ["Max Moderator", "Mia Member"]
    await tabs[1].disconnect()
    await presence_until(watcher, ["Max Moderator"])
    await watcher.disconnect()


async def test_unsubscribing_leaves_the_room(member, moderator, room):
    watcher = await open_socket(moderator)
    socket = await open_socket(member)
    await subscribe(watcher, room)
    await subscribe(socket, room)
    await presence_until(watcher, ["Max Moderator", "Mia Member"])
    await socket.send_json_to({"type": "unsubscribe", "stream": room.stream})
    await presence_until(watcher, ["Max Moderator"])
    await socket.disconnect()
    await watcher.disconnect()


async def test_removed_member_leaves_presence_at_once(member, moderator, room):
    watcher = await open_socket(moderator)
    socket = await open_socket(member)
    await subscribe(watcher, room)
    await subscribe(socket, room)
    await presence_until(watcher, ["Max Moderator", "Mia Member"])

    @database_sync_to_async
    def remove():
        membership = Membership.objects.get(user=member, group=room.group)
        group_services.membership_revoke(actor=moderator, membership=membership)

    await remove()
    await presence_until(watcher, ["Max Moderator"])
    await socket.disconnect()
    await watcher.disconnect()


async def test_socket_without_heartbeats_times_out_and_one_with_them_stays(
    member, moderator, room, settings
):
    settings.PRESENCE_TIMEOUT_SECONDS = 2
    quiet = await open_socket(member)
    lively = await open_socket(moderator)
    await subscribe(quiet, room)
    await subscribe(lively, room)
    await presence_until(lively, ["Max Moderator", "Mia Member"])

    async def beat():
        while True:
            await lively.send_json_to({"type": "presence.heartbeat", "room": room.pk})
            await asyncio.sleep(0.2)

    beating = asyncio.create_task(beat())
    try:
        started = asyncio.get_running_loop().time()
        await presence_until(lively, ["Max Moderator"], timeout=5)
        # Gone within the timeout (plus room for the announcement on a
        # loaded machine: it once took over 3 s with two test runs at once).
        assert asyncio.get_running_loop().time() - started < 4.0
        await asyncio.sleep(2.2)
        users = await presence.get_presence().users(room.pk)
        assert [u["name"] for u in users] == ["Max Moderator"]
        # A heartbeat brings the quiet socket back, announced.
        await quiet.send_json_to({"type": "presence.heartbeat", "room": room.pk})
        await presence_until(lively, ["Max Moderator", "Mia Member"])
    finally:
        beating.cancel()
    await quiet.disconnect()
    await lively.disconnect()


# --- The backends -----------------------------------------------------------------------


class FakeUser:
    def __init__(self, pk, name):
        self.pk = pk
        self.name = name

    def get_full_name(self):
        return self.name


async def test_memory_backend_adds_removes_and_prunes(settings):
    settings.PRESENCE_TIMEOUT_SECONDS = 60
    backend = MemoryBackend()
    assert await backend.add(1, "5:a", 5, "Eve", 1000.0) is True
    assert await backend.add(1, "5:a", 5, "Eve", 1010.0) is False  # a heartbeat
    assert await backend.add(1, "6:b", 6, "Bob", 1010.0) is True
    assert await backend.add(1, "5:c", 5, "Eve", 1010.0) is True  # a second tab
    assert await backend.users(1, 1020.0) == [{"id": 6, "name": "Bob"}, {"id": 5, "name": "Eve"}]
    assert await backend.remove(1, "5:a") is True
    assert await backend.remove(1, "5:a") is False
    assert [u["id"] for u in await backend.users(1, 1020.0)] == [6, 5]
    assert await backend.prune(1, 1010.0 + 61) == 2
    assert await backend.users(1, 1100.0) == []
    assert await backend.users(2, 1100.0) == []


redis_only = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"),
    reason="presence across processes needs Redis: set REDIS_URL=redis://127.0.0.1:6379/0",
)


@pytest.fixture
def redis_backends():
    """Two processes' presence (each its own Redis client and local state),
    sharing one Redis under a prefix of their own."""
    prefix = f"presence-test-{uuid.uuid4().hex[:8]}"
    made = [RedisBackend(settings.REDIS_URL, prefix), RedisBackend(settings.REDIS_URL, prefix)]
    yield made


@redis_only
async def test_two_processes_see_the_same_room_through_redis(redis_backends, settings, monkeypatch):
    settings.PRESENCE_TIMEOUT_SECONDS = 2
    announced = []

    async def record(stream, event_type, payload):
        announced.append((stream, event_type, payload))

    monkeypatch.setattr(presence, "publish_unstored", record)
    process_a, process_b = (Presence(backend) for backend in redis_backends)
    eve, bob = FakeUser(5, "Eve"), FakeUser(6, "Bob")
    await process_a.join(77, eve, "conn-a")
    await process_b.join(77, bob, "conn-b")
    both = [{"id": 6, "name": "Bob"}, {"id": 5, "name": "Eve"}]
    assert await process_a.users(77) == both
    assert await process_b.users(77) == both
    await asyncio.sleep(presence.ANNOUNCE_DELAY * 2)
    assert announced[-1] == ("room:77", "presence", {"room": 77, "users": both})

    # Process B dies without a goodbye; A keeps its socket alive with heartbeats.
    process_b.sweeper.cancel()
    for _ in range(14):
        await asyncio.sleep(0.2)
        await process_a.heartbeat(77, eve, "conn-a")
    assert await process_a.users(77) == [{"id": 5, "name": "Eve"}]
    # ...and A's sweep announced the timeout.
    assert announced[-1] == (
        "room:77",
        "presence",
        {"room": 77, "users": [{"id": 5, "name": "Eve"}]},
    )

    await process_a.leave(77, 5, "conn-a")
    assert await process_b.users(77) == []
    process_a.sweeper.cancel()
    for backend in redis_backends:
        await backend.client.delete(backend.key(77), backend.names_key(77))
        await backend.close()


@redis_only
async def test_heartbeat_puts_back_an_entry_redis_lost(redis_backends, monkeypatch):
    announced = []

    async def record(stream, event_type, payload):
        announced.append(payload)

    monkeypatch.setattr(presence, "publish_unstored", record)
    process = Presence(redis_backends[0])
    eve = FakeUser(5, "Eve")
    await process.join(78, eve, "conn")
    await redis_backends[0].client.delete(redis_backends[0].key(78))  # e.g. Redis restarted
    assert await process.users(78) == []
    await process.heartbeat(78, eve, "conn")
    assert await process.users(78) == [{"id": 5, "name": "Eve"}]
    await asyncio.sleep(presence.ANNOUNCE_DELAY * 2)
    assert announced[-1]["users"] == [{"id": 5, "name": "Eve"}]
    await process.leave(78, 5, "conn")
    process.sweeper.cancel()
    await redis_backends[0].client.delete(redis_backends[0].names_key(78))
    for backend in redis_backends:
        await backend.close()


async def test_presence_survives_a_backend_that_is_away(monkeypatch):
    """Redis away: joining, heartbeats and leaving are logged, not raised."""

    class Away(MemoryBackend):
        async def add(self, *args):
            raise ConnectionError("away")

        remove = prune = users = add

    process = Presence(Away())
    eve = FakeUser(5, "Eve")
    await process.join(1, eve, "c")
    await process.heartbeat(1, eve, "c")
    await process.leave(1, 5, "c")
    assert process.local == {}


@redis_only
async def test_many_leaves_at_once_wait_for_a_connection_and_none_is_lost(settings):
    """Every socket of a process going at once (nginx restarted): more
    presence operations at once than the pool has connections wait for one;
    none fails with "Too many connections", every leave is recorded."""
    prefix = f"presence-test-{uuid.uuid4().hex[:8]}"
    backend = RedisBackend(settings.REDIS_URL, prefix, connections=4)
    members = [f"{pk}:conn" for pk in range(1, 201)]
    try:
        added = await asyncio.gather(
            *(backend.add(79, member, int(member.split(":")[0]), "X", 1000.0) for member in members)
        )
        assert all(added)
        assert len(await backend.users(79, 1000.0)) == 200
        removed = await asyncio.gather(*(backend.remove(79, member) for member in members))
        assert all(removed)
        assert await backend.users(79, 1000.0) == []
        assert backend.client.connection_pool.max_connections == 4
    finally:
        await backend.client.delete(backend.key(79), backend.names_key(79))
        await backend.close()
