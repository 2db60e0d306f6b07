"""The channel layer with Redis (channels_redis' RedisPubSubChannelLayer, as
configured by REDIS_URL): it delivers a group's messages in order, also to
groups joined while it is receiving, and none after leaving a group."""

import asyncio

import pytest
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer

TIMEOUT = 3


@pytest.fixture
def layer(settings):
    if not settings.REDIS_URL:
        pytest.skip("the Redis layer needs Redis: set REDIS_URL=redis://127.0.0.1:6379/0")
    return get_channel_layer()


async def test_the_layer_delivers_group_messages_in_order(layer):
    assert type(layer) is RedisPubSubChannelLayer
    channel = await layer.new_channel(prefix="test.")
    await layer.group_add("delivered-one", channel)
    await layer.group_send("delivered-one", {"type": "test", "n": 1})
    assert (await asyncio.wait_for(layer.receive(channel), TIMEOUT))["n"] == 1

    # Subscribing while the receiver runs: both groups arrive, in order.
    await layer.group_add("delivered-two", channel)
    await layer.group_send("delivered-two", {"type": "test", "n": 2})
    await layer.group_send("delivered-one", {"type": "test", "n": 3})
    received = [await asyncio.wait_for(layer.receive(channel), TIMEOUT) for _ in range(2)]
    assert [message["n"] for message in received] == [2, 3]

    await layer.group_discard("delivered-one", channel)
    await layer.group_send("delivered-one", {"type": "test", "n": 4})
    await layer.group_send("delivered-two", {"type": "test", "n": 5})
    assert (await asyncio.wait_for(layer.receive(channel), TIMEOUT))["n"] == 5
    await layer.group_discard("delivered-two", channel)
