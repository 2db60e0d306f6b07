"""The chat's writes (meetings.services): what they store and which events
they send, through the channel layer the server uses."""

import asyncio
import datetime
from concurrent.futures import ThreadPoolExecutor

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.utils import timezone, translation

from core import realtime
from core.models import StreamCounter, StreamEvent
from meetings import permissions, services
from meetings.models import ChatMessage, RoomMute, RoomReadState

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 3


@pytest.fixture(autouse=True)
def _english():
    """The reasons are matched in English, whatever an earlier test activated."""
    with translation.override("en"):
        yield


@pytest.fixture
def room(group):
    return services.standing_room(group)


def send(actor, room, body, client_id=""):
    """What chat.send does: the room as the sender may see it, then the service."""
    message = services.message_send(
        actor=actor, room=permissions.access_room(actor, room.pk), body=body, client_id=client_id
    )
    return message.pk, message.seq


@database_sync_to_async
def stored(pk):
    message = ChatMessage.objects.select_related("author").get(pk=pk)
    return message, StreamEvent.objects.get(stream=message.room.stream, seq=message.seq)


@database_sync_to_async
def read(queryset, method="get"):
    """A read from the async tests, in the thread that closes its connection."""
    return getattr(queryset, method)()


async def listen(stream):
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(realtime.stream_group(stream), channel)
    return layer, channel


async def test_message_send_stores_the_message_and_sends_its_event(member, room):
    layer, channel = await listen(room.stream)
    pk, seq = await database_sync_to_async(send)(member, room, "Hello *there*", "a")

    message, event = await stored(pk)
    assert (message.seq, message.client_id, message.author_id) == (seq, "a", member.pk)
    assert "<em>there</em>" in message.body_html
    assert event.type == "message.created"
    assert event.data == {"message": services.message_payload(message)}
    published = await asyncio.wait_for(layer.receive(channel), TIMEOUT)
    assert published == realtime.event_message(room.stream, "message.created", event.data, seq)


async def test_message_send_stores_a_resent_client_id_once(member, room):
    """The page sends again what was not acknowledged: the first message's id
    and number come back, nothing is stored, no number is used up, no event
    is sent again."""
    layer, channel = await listen(room.stream)
    resend = database_sync_to_async(send)

    first = await resend(member, room, "once", "page-1")
    assert await resend(member, room, "once", "page-1") == first
    counter = await read(StreamCounter.objects.filter(stream=room.stream))
    assert counter.last_seq == first[1]
    assert (await resend(member, room, "next", "page-2"))[1] == first[1] + 1
    assert await read(ChatMessage.objects.filter(room=room), "count") == 2
    events = [await asyncio.wait_for(layer.receive(channel), TIMEOUT) for _ in range(2)]
    assert [event["seq"] for event in events] == [first[1], first[1] + 1]
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(channel), 0.3)


def test_message_send_numbers_every_message_once_if_sent_at_once(member, moderator, guest, room):
    """The room's counter row is locked until each writing transaction ends:
    numbers are unique and without gaps, also when several server threads
    store at the same time."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers itself (set DATABASE_URL=postgres://… to run)")

    def sender(actor):
        try:
            return [send(actor, room, f"{actor.pk} {n}")[1] for n in range(12)]
        finally:
            connection.close()  # this thread's own connection

    with ThreadPoolExecutor(3) as pool:
        seqs = [seq for part in pool.map(sender, [member, moderator, guest]) for seq in part]
    assert sorted(seqs) == list(range(1, 37))
    events = StreamEvent.objects.filter(stream=room.stream).values_list("seq", flat=True)
    assert sorted(events) == list(range(1, 37))


def test_message_send_refused_if_muted_after_the_room_was_read(member, moderator, room):
    """The mute is read when the message is checked, not with the room."""
    seen = permissions.access_room(member, room.pk)
    services.member_mute(actor=moderator, room=room, user=member, minutes=5)
    with pytest.raises(PermissionDenied, match="muted you"):
        services.message_send(actor=member, room=seen, body="still here?")
    assert not ChatMessage.objects.filter(room=room).exists()


@pytest.mark.parametrize("body", ["a\ud800b", "\udfff", "ä\x00"])
def test_message_send_refused_if_text_is_not_unicode(member, room, body):
    """A lone surrogate (a JSON "\\ud800" from the socket) is refused like a
    NUL byte: neither can be rendered or stored."""
    with pytest.raises(ValidationError, match="not allowed"):
        services.message_send(actor=member, room=room, body=body)
    assert not ChatMessage.objects.filter(room=room).exists()


def test_message_send_stores_emoji_if_sent_as_a_surrogate_pair(member, room):
    message = services.message_send(actor=member, room=room, body="\U0001f600 ok")
    assert message.body == "\U0001f600 ok"


def test_message_send_refused_if_not_in_group(outsider, room):
    with pytest.raises(PermissionDenied, match="not in this group"):
        services.message_send(actor=outsider, room=room, body="hello")
    assert not ChatMessage.objects.filter(room=room).exists()


def test_member_mute_stores_the_mute_if_moderator(member, moderator, room):
    mute = services.member_mute(actor=moderator, room=room, user=member, minutes=10)
    assert mute.until > timezone.now() + datetime.timedelta(minutes=9)
    assert permissions.muted_until(member, room) == mute.until


@pytest.mark.parametrize(
    ("actor", "target", "error"),
    [
        ("member", "guest", PermissionDenied),
        ("moderator", "outsider", ValidationError),
        ("moderator", "nobody", ValidationError),
        ("moderator", "moderator", ValidationError),
    ],
)
def test_member_mute_changes_nothing_if_not_allowed(
    request, room, member, moderator, guest, outsider, actor, target, error
):
    people = {"member": member, "moderator": moderator, "guest": guest, "outsider": outsider}
    with pytest.raises(error):
        services.member_mute(actor=people[actor], room=room, user=people.get(target), minutes=5)
    assert not RoomMute.objects.exists()


def test_member_mute_refused_if_minutes_out_of_range(member, moderator, room):
    with pytest.raises(ValidationError) as refused:
        services.member_mute(actor=moderator, room=room, user=member, minutes=1441)
    assert refused.value.code == "minutes"
    assert not RoomMute.objects.exists()


async def test_room_mark_read_moves_forward_only_and_tells_the_other_tabs(member, moderator, room):
    for n in range(3):
        await database_sync_to_async(send)(moderator, room, f"m{n}")
    layer, channel = await listen(realtime.user_stream(member.pk))
    mark = database_sync_to_async(services.room_mark_read)

    assert await mark(user=member, room=room, seq=99) == 3  # at most the last number
    assert await mark(user=member, room=room, seq=1) == 3  # never back
    state = await read(RoomReadState.objects.filter(room=room, user=member))
    assert state.last_read_seq == 3
    event = await asyncio.wait_for(layer.receive(channel), TIMEOUT)
    assert (event["event"], event["data"]) == ("room.read", {"room": room.pk, "seq": 3})
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(channel), 0.3)
