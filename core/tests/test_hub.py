"""The hub when the channel layer fails: subscriptions are retried, events the
layer lost are caught up from the database, and the socket stays usable."""

import time
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer
from django.db import transaction

from core import hub, ratelimit, realtime
from core.models import StreamEvent
from tests.sockets import open_socket

pytestmark = pytest.mark.django_db(transaction=True)


class FlakyLayer(InMemoryChannelLayer):
    """An in-memory layer that refuses what it is told to (like Redis when away)."""

    def __init__(self):
        super().__init__()
        self.refuse = False

    async def group_add(self, group, channel):
        if self.refuse:
            raise ConnectionError("layer away")
        await super().group_add(group, channel)

    async def group_discard(self, group, channel):
        if self.refuse:
            raise ConnectionError("layer away")
        await super().group_discard(group, channel)

    async def group_send(self, group, message):
        if self.refuse:
            raise ConnectionError("layer away")
        await super().group_send(group, message)


@pytest.fixture
def layer(monkeypatch):
    flaky = FlakyLayer()
    monkeypatch.setattr(hub, "get_channel_layer", lambda: flaky)
    monkeypatch.setattr(realtime, "get_channel_layer", lambda: flaky)
    monkeypatch.setattr(hub, "RESYNC_INTERVAL", 0.2)
    return flaky


@database_sync_to_async
def emit(stream, event_type):
    with transaction.atomic():
        return realtime.emit(stream, event_type, {})


@database_sync_to_async
def record_only(stream, event_type):
    """An event that is stored but never reaches the channel layer."""
    with transaction.atomic():
        seq = realtime.next_seq(stream)
        StreamEvent.objects.create(stream=stream, seq=seq, type=event_type, data={})
    return seq


async def test_event_the_layer_lost_is_caught_up_without_a_later_one(layer, user):
    socket = await open_socket(user)
    stream = f"user:{user.pk}"
    await record_only(stream, "lost")
    frame = await socket.receive_json_from(timeout=3)
    assert (frame["seq"], frame["event"]) == (1, "lost")
    await emit(stream, "live")
    assert (await socket.receive_json_from(timeout=3))["seq"] == 2
    assert await socket.receive_nothing(timeout=0.6)
    await socket.disconnect()


async def test_subscription_the_layer_refused_is_retried(layer, user):
    layer.refuse = True
    socket = await open_socket(user)  # the layer refuses the user stream's subscription
    stream = f"user:{user.pk}"
    # Published while the layer is away: stored, and sent once it is back.
    await emit(stream, "during")
    layer.refuse = False
    frame = await socket.receive_json_from(timeout=3)
    assert (frame["seq"], frame["event"]) == (1, "during")
    # Live delivery works again (the subscription was made).
    await socket.receive_nothing(timeout=0.5)
    assert hub.get_hub().pending == set()
    await emit(stream, "after")
    assert (await socket.receive_json_from(timeout=1))["seq"] == 2
    assert await socket.receive_nothing(timeout=0.6)
    await socket.disconnect()


async def test_socket_closes_cleanly_while_the_layer_is_away(layer, user):
    socket = await open_socket(user)
    layer.refuse = True
    await socket.send_json_to({"type": "ping", "id": 1})
    assert (await socket.receive_json_from())["type"] == "pong"
    await socket.disconnect()
    layer.refuse = False


def test_rate_limit_counts_in_the_process_when_the_cache_is_away(monkeypatch):
    from django.core.cache import cache

    def away(*args, **kwargs):
        raise ConnectionError("cache away")

    monkeypatch.setattr(cache, "add", away)
    results = [ratelimit.hit("away-test", "3/60") for _ in range(5)]
    assert results == [True, True, True, False, False]


def test_the_sockets_rate_limit_counts_in_the_process(settings):
    """A key's frames are counted in this process, per window, and nothing
    goes to the shared cache (Redis, when configured)."""
    from django.core.cache import cache

    key = f"process-{uuid.uuid4().hex}"
    assert [ratelimit.process_hit(key, "3/3600") for _ in range(5)] == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert ratelimit.process_hit(f"other-{key}", "3/3600")  # another person's count
    bucket = f"rl:{key}:{int(time.time() // 3600)}"
    assert ratelimit._local_counts[bucket] == 5
    assert cache.get(bucket) is None
    if settings.CACHES["default"]["BACKEND"].endswith("RedisCache"):
        client = cache._cache.get_client()
        assert not list(client.scan_iter(match=f"*{key}*"))
