"""Group streams over the socket: authorised subscription, catch-up in order,
and access that ends at once."""

import datetime
import json

import pytest
from channels.db import database_sync_to_async
from django.db import transaction
from django.utils import timezone

from core import realtime
from groups import services
from groups.models import Membership
from tests.sockets import open_socket

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def emit(stream, event_type, data):
    with transaction.atomic():
        return realtime.emit(stream, event_type, data)


async def test_subscribe_refused_if_not_in_group(outsider, group):
    socket = await open_socket(outsider)
    await socket.send_json_to({"type": "subscribe", "stream": f"group:{group.pk}"})
    frame = await socket.receive_json_from()
    assert frame["type"] == "error" and frame["code"] == "forbidden"
    await emit(f"group:{group.pk}", "test", {})
    assert await socket.receive_nothing(timeout=0.2)
    await socket.disconnect()


@pytest.mark.parametrize(
    "stream", ["group:999999", "nonsense", "thread", "group:1:2", "group:", "x" * 200, 5, None]
)
async def test_subscribe_refused_if_stream_is_malformed_or_missing(member, stream):
    socket = await open_socket(member)
    await socket.send_json_to({"type": "subscribe", "stream": stream})
    frame = await socket.receive_json_from()
    assert frame["type"] == "error" and frame["code"] in {"bad_stream", "forbidden"}
    await socket.disconnect()


async def test_subscribe_refused_for_another_users_stream(member, moderator):
    socket = await open_socket(member)
    await socket.send_json_to({"type": "subscribe", "stream": f"user:{moderator.pk}"})
    assert (await socket.receive_json_from())["code"] == "forbidden"
    await socket.disconnect()


async def test_subscriber_receives_events_in_order_with_numbers(member, group):
    socket = await open_socket(member)
    stream = f"group:{group.pk}"
    await socket.send_json_to({"type": "subscribe", "stream": stream})
    assert await socket.receive_json_from() == {"type": "subscribed", "stream": stream, "seq": 0}
    for n in range(3):
        await emit(stream, "test", {"n": n})
    frames = [await socket.receive_json_from() for _ in range(3)]
    assert [(f["seq"], f["data"]["n"]) for f in frames] == [(1, 0), (2, 1), (3, 2)]
    await socket.disconnect()


async def test_resubscribe_with_since_replays_missed_events_exactly_once(member, group):
    stream = f"group:{group.pk}"
    for n in range(5):
        await emit(stream, "test", {"n": n})
    socket = await open_socket(member)
    await socket.send_json_to({"type": "subscribe", "stream": stream, "since": 2})
    assert (await socket.receive_json_from())["seq"] == 5
    replayed = [await socket.receive_json_from() for _ in range(3)]
    assert [f["seq"] for f in replayed] == [3, 4, 5]
    await emit(stream, "test", {"n": 5})
    assert (await socket.receive_json_from())["seq"] == 6
    assert await socket.receive_nothing(timeout=0.2)
    await socket.disconnect()


async def test_gap_in_live_events_is_filled_from_the_database(member, group):
    stream = f"group:{group.pk}"
    socket = await open_socket(member)
    await socket.send_json_to({"type": "subscribe", "stream": stream})
    await socket.receive_json_from()

    @database_sync_to_async
    def record_without_sending():
        with transaction.atomic():
            seq = realtime.next_seq(stream)
            from core.models import StreamEvent

            StreamEvent.objects.create(stream=stream, seq=seq, type="lost", data={})
        return seq

    await record_without_sending()  # seq 1 never reaches the channel layer
    await emit(stream, "later", {})  # seq 2 does
    frames = [await socket.receive_json_from() for _ in range(2)]
    assert [(f["seq"], f["event"]) for f in frames] == [(1, "lost"), (2, "later")]
    # A duplicate delivery of seq 2 is dropped.
    await database_sync_to_async(realtime.publish)(stream, "later", {}, 2)
    assert await socket.receive_nothing(timeout=0.2)
    await socket.disconnect()


async def test_removed_member_loses_subscription_at_once(member, moderator, group):
    stream = f"group:{group.pk}"
    socket = await open_socket(member)
    await socket.send_json_to({"type": "subscribe", "stream": stream})
    await socket.receive_json_from()

    @database_sync_to_async
    def revoke():
        services.membership_revoke(actor=moderator, membership=Membership.objects.get(user=member))

    await revoke()
    frames = []
    while True:
        frame = await socket.receive_json_from(timeout=2)
        frames.append(frame)
        if frame["type"] == "unsubscribed":
            break
    assert frame == {"type": "unsubscribed", "stream": stream, "reason": "access"}
    await emit(stream, "after", {})
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


async def test_guest_loses_subscription_when_access_ends(guest, group):
    await database_sync_to_async(Membership.objects.filter(user=guest).update)(
        expires_at=timezone.now() + datetime.timedelta(seconds=1)
    )
    stream = f"group:{group.pk}"
    socket = await open_socket(guest)
    await socket.send_json_to({"type": "subscribe", "stream": stream})
    assert (await socket.receive_json_from())["type"] == "subscribed"
    frame = await socket.receive_json_from(timeout=3)
    assert frame == {"type": "unsubscribed", "stream": stream, "reason": "access"}
    await socket.disconnect()


async def test_subscribe_rejects_bad_since(member, group):
    socket = await open_socket(member)
    for since in [-1, "3", 1.5, True]:
        await socket.send_to(
            text_data=json.dumps(
                {"type": "subscribe", "stream": f"group:{group.pk}", "since": since}
            )
        )
        assert (await socket.receive_json_from())["code"] == "bad_frame"
    await socket.disconnect()
