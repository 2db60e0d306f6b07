"""Stream kinds with join/leave hooks: run after subscribing and whenever the
subscription ends; a failing hook does not break the socket."""

import pytest

from core import streams
from tests.sockets import open_socket

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def calls():
    seen = []

    async def on_join(consumer, stream):
        seen.append(("join", stream, consumer.user.pk, consumer.connection_id))

    async def on_leave(consumer, stream):
        seen.append(("leave", stream, consumer.user.pk, consumer.connection_id))

    streams.register(
        "hooked", lambda user, key: streams.Access(), on_join=on_join, on_leave=on_leave
    )
    yield seen
    streams._registry.pop("hooked", None)
    streams._hooks.pop("hooked", None)


async def test_hooks_run_on_subscribe_unsubscribe_and_disconnect(calls, user):
    socket = await open_socket(user)
    await socket.send_json_to({"type": "subscribe", "stream": "hooked:1"})
    assert (await socket.receive_json_from())["type"] == "subscribed"
    await socket.send_json_to({"type": "subscribe", "stream": "hooked:2"})
    assert (await socket.receive_json_from())["type"] == "subscribed"
    await socket.send_json_to({"type": "unsubscribe", "stream": "hooked:1"})
    assert (await socket.receive_json_from())["type"] == "unsubscribed"
    await socket.disconnect()
    assert [(kind, stream) for kind, stream, *_ in calls] == [
        ("join", "hooked:1"),
        ("join", "hooked:2"),
        ("leave", "hooked:1"),
        ("leave", "hooked:2"),
    ]
    assert {user_id for _, _, user_id, _ in calls} == {user.pk}
    assert len({connection for *_, connection in calls}) == 1


async def test_a_failing_hook_leaves_the_subscription_working(user):
    async def broken(consumer, stream):
        raise RuntimeError("hook failed")

    streams.register("broken", lambda user, key: streams.Access(), on_join=broken)
    try:
        socket = await open_socket(user)
        await socket.send_json_to({"type": "subscribe", "stream": "broken:1"})
        assert (await socket.receive_json_from())["type"] == "subscribed"
        await socket.send_json_to({"type": "ping", "id": 1})
        assert (await socket.receive_json_from())["type"] == "pong"
        await socket.disconnect()
    finally:
        streams._registry.pop("broken", None)
        streams._hooks.pop("broken", None)


def test_kinds_without_hooks_have_none():
    assert streams.hooks("user:1") == (None, None)
