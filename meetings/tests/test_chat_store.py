"""A chat message is stored in one of two ways: ``message_send`` (the ORM, in
a worker thread, on every database) or, from the event loop on PostgreSQL,
``amessage_send`` (one statement, core.adb). Both leave the same rows, number
messages in one sequence, send the same event and store a page's resend once.
"""

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.http import Http404

from core import adb, realtime
from core.models import StreamCounter, StreamEvent
from meetings import permissions, services
from meetings.models import ChatMessage

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 3


@pytest.fixture(autouse=True)
def _postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement store is PostgreSQL's (set DATABASE_URL=postgres://…)")


@pytest.fixture
def room(group):
    return services.standing_room(group)


async def send_on_loop(actor, room_id, body, client_id=""):
    """What chat.send does on PostgreSQL: read, check and store on the loop."""
    async with adb.cursor() as cursor:
        room = await permissions.aaccess_room_to_send(cursor, actor, room_id)
        message = services.message_prepare(actor=actor, room=room, body=body, client_id=client_id)
        return await services.amessage_send(cursor, message)


@database_sync_to_async
def send_in_thread(actor, room, body, client_id=""):
    message = services.message_send(
        actor=actor,
        room=permissions.access_room_to_send(actor, room.pk),
        body=body,
        client_id=client_id,
    )
    return message.pk, message.seq


@database_sync_to_async
def stored(pk):
    message = ChatMessage.objects.select_related("author").get(pk=pk)
    event = StreamEvent.objects.get(stream=message.room.stream, seq=message.seq)
    return message, event


@database_sync_to_async
def last_seq(stream):
    return StreamCounter.objects.get(stream=stream).last_seq


async def listen(stream):
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(realtime.stream_group(stream), channel)
    return layer, channel


async def test_both_ways_store_the_same_rows_and_send_the_same_event(member, room):
    layer, channel = await listen(room.stream)
    body = "Hello *there*, see <https://example.org>"
    first_pk, first_seq = await send_in_thread(member, room, body, "a")
    second_pk, second_seq = await send_on_loop(member, room.pk, body, "b")

    assert second_seq == first_seq + 1
    assert await last_seq(room.stream) == second_seq
    (first, first_event), (second, second_event) = await stored(first_pk), await stored(second_pk)
    fields = ["room_id", "author_id", "body", "body_html", "edited_at", "deleted_at"]
    assert [getattr(second, name) for name in fields] == [getattr(first, name) for name in fields]
    assert "<em>there</em>" in second.body_html
    assert (first.client_id, second.client_id) == ("a", "b")
    for message, event in [(first, first_event), (second, second_event)]:
        assert event.type == "message.created"
        assert event.data == {"message": services.message_payload(message)}
        published = await asyncio.wait_for(layer.receive(channel), TIMEOUT)
        assert published == realtime.event_message(
            room.stream, "message.created", event.data, message.seq
        )


@pytest.mark.parametrize("way", ["thread", "loop"])
async def test_a_resent_client_id_is_stored_once(member, room, way):
    """The page sends again what was not acknowledged: the first message's id
    and number come back, nothing is stored, no number is used up."""
    layer, channel = await listen(room.stream)

    async def send(body, client_id):
        if way == "loop":
            return await send_on_loop(member, room.pk, body, client_id)
        return await send_in_thread(member, room, body, client_id)

    first = await send("once", "page-1")
    assert await send("once", "page-1") == first
    assert await last_seq(room.stream) == first[1]
    assert (await send("next", "page-2"))[1] == first[1] + 1
    count = database_sync_to_async(ChatMessage.objects.filter(room=room).count)
    assert await count() == 2
    events = [await asyncio.wait_for(layer.receive(channel), TIMEOUT) for _ in range(2)]
    assert [event["seq"] for event in events] == [first[1], first[1] + 1]
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(channel), 0.3)


async def test_the_first_message_of_a_stream_starts_its_counter(member, room):
    await database_sync_to_async(StreamCounter.objects.filter(stream=room.stream).delete)()
    assert (await send_on_loop(member, room.pk, "first"))[1] == 1
    assert await last_seq(room.stream) == 1


async def test_both_ways_at_once_number_every_message_once(member, moderator, room):
    """The counter row is locked by either way until its transaction ends, so
    numbers are unique and without gaps, in commit order."""

    async def on_loop():
        return [(await send_on_loop(moderator, room.pk, f"loop {n}"))[1] for n in range(15)]

    async def in_thread():
        return [(await send_in_thread(member, room, f"thread {n}"))[1] for n in range(15)]

    loop_seqs, thread_seqs = await asyncio.gather(on_loop(), in_thread())
    assert sorted(loop_seqs + thread_seqs) == list(range(1, 31))
    seqs = database_sync_to_async(
        lambda: list(StreamEvent.objects.filter(stream=room.stream).values_list("seq", flat=True))
    )
    assert sorted(await seqs()) == list(range(1, 31))


async def test_the_loop_reads_the_room_as_the_thread_does(member, moderator, room):
    """aaccess_room_to_send is access_room_to_send on the loop: the same room,
    group, meeting and mute, and 404 for what the person may not see."""
    await database_sync_to_async(services.member_mute)(
        actor=moderator, room=room, user=member, minutes=5
    )
    in_thread = await database_sync_to_async(permissions.access_room_to_send)(member, room.pk)
    async with adb.cursor() as cursor:
        on_loop = await permissions.aaccess_room_to_send(cursor, member, room.pk)
        for wrong in [room.pk + 1000, "x", 2**70]:
            with pytest.raises(Http404):
                await permissions.aaccess_room_to_send(cursor, member, wrong)
    for model in ["self", "group", "meeting"]:
        got = on_loop if model == "self" else getattr(on_loop, model)
        want = in_thread if model == "self" else getattr(in_thread, model)
        if want is None:
            assert got is None
            continue
        assert [getattr(got, f.attname) for f in want._meta.concrete_fields] == [
            getattr(want, f.attname) for f in want._meta.concrete_fields
        ]
    assert on_loop.sender_muted_until == in_thread.sender_muted_until is not None
