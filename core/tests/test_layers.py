"""The channel layer with Redis (core.layers): its receiver waits for Redis
instead of asking it ten times a second, and still receives everything."""

import asyncio

import pytest
from channels.layers import get_channel_layer

from core import layers

TIMEOUT = 3


@pytest.fixture
def layer(settings):
    if not settings.REDIS_URL:
        pytest.skip("the Redis layer needs Redis: set REDIS_URL=redis://127.0.0.1:6379/0")
    return get_channel_layer()


async def test_the_receiver_waits_and_receives(layer):
    channel = await layer.new_channel(prefix="test.")
    await layer.group_add("waiting-one", channel)
    await layer.group_send("waiting-one", {"type": "test", "n": 1})
    assert (await asyncio.wait_for(layer.receive(channel), TIMEOUT))["n"] == 1

    shard = layer._get_layer()._shards[0]
    assert isinstance(shard, layers._WaitingShardConnection)
    before = shard.waits
    await asyncio.sleep(1.0)
    # channels_redis' own receiver comes back empty-handed ten times a second.
    assert shard.waits - before <= 1

    # Subscribing while the receiver waits: both groups arrive, in order.
    await layer.group_add("waiting-two", channel)
    await layer.group_send("waiting-two", {"type": "test", "n": 2})
    await layer.group_send("waiting-one", {"type": "test", "n": 3})
    received = [await asyncio.wait_for(layer.receive(channel), TIMEOUT) for _ in range(2)]
    assert [message["n"] for message in received] == [2, 3]

    await layer.group_discard("waiting-one", channel)
    await layer.group_send("waiting-one", {"type": "test", "n": 4})
    await layer.group_send("waiting-two", {"type": "test", "n": 5})
    assert (await asyncio.wait_for(layer.receive(channel), TIMEOUT))["n"] == 5
    await layer.group_discard("waiting-two", channel)
