"""The chat over the socket: every frame type, every refusal, and order.

Refusals leave everything as it was: no message stored, no event sent.
"""

import asyncio
import copy
import datetime
import threading
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connection
from django.utils import timezone

from groups import services as group_services
from groups.models import Membership, Role
from meetings import chat, selectors, services
from meetings.models import ChatMessage, Meeting, RoomMute, RoomReadState
from tests.fixtures.people import join
from tests.sockets import ORIGIN, open_socket, session_cookie
from workspace.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 3


# --- Helpers (also used by test_presence) -------------------------------------------------


async def subscribe(socket, room, since=None) -> dict:
    frame = {"type": "subscribe", "stream": room.stream}
    if since is not None:
        frame["since"] = since
    await socket.send_json_to(frame)
    answer = await socket.receive_json_from(TIMEOUT)
    assert answer["type"] == "subscribed", answer
    return answer


async def next_frame(socket, *, skip=("presence",), timeout=TIMEOUT) -> dict:
    """The next frame that is not one of the unstored events in ``skip``."""
    while True:
        frame = await socket.receive_json_from(timeout)
        if frame.get("type") == "event" and frame.get("event") in skip:
            continue
        return frame


async def nothing_more(socket, *, skip=("presence",), timeout=0.4) -> bool:
    """True if nothing but ``skip`` events arrives within ``timeout``. (Not
    receive_json_from with a timeout: running out of time cancels the app.)"""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        left = deadline - loop.time()
        if left <= 0 or await socket.receive_nothing(timeout=left):
            return True
        frame = await socket.receive_json_from()
        if not (frame.get("type") == "event" and frame.get("event") in skip):
            raise AssertionError(f"unexpected frame: {frame}")


async def request(socket, frame: dict) -> dict:
    await socket.send_json_to(frame)
    return await next_frame(socket)


@database_sync_to_async
def stored_messages(room):
    return list(
        ChatMessage.objects.filter(room=room).order_by("seq").values_list("body", flat=True)
    )


@database_sync_to_async
def send_as(user, room, body):
    return services.message_send(actor=user, room=room, body=body)


# --- Fixtures ------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def own_redis_names(settings):
    """With Redis, this test's channel-layer groups and presence keys get a
    prefix of their own: another test run may share the Redis (and its room
    ids, and it empties the shared prefix's keys before each of its tests)."""
    if not settings.REDIS_URL:
        return
    prefix = f"chat-test-{uuid.uuid4().hex[:10]}"
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    layers["default"]["CONFIG"]["prefix"] = prefix
    settings.CHANNEL_LAYERS = layers
    settings.PRESENCE_KEY_PREFIX = prefix


@pytest.fixture
def room(group):
    return services.standing_room(group)


@pytest.fixture
def other_room(other_group):
    return services.standing_room(other_group)


def make_meeting(group, *, starts_in: datetime.timedelta):
    starts = timezone.now() + starts_in
    meeting = Meeting.objects.create(
        group=group, title="Session", starts_at=starts, ends_at=starts + datetime.timedelta(hours=1)
    )
    return services.meeting_room(meeting)


@pytest.fixture
def open_meeting_room(group):
    return make_meeting(group, starts_in=datetime.timedelta(minutes=5))


@pytest.fixture
def closed_meeting_room(group):
    return make_meeting(group, starts_in=-datetime.timedelta(days=2))


# --- Who may connect and subscribe -------------------------------------------------------


async def test_socket_refused_if_anonymous():
    socket = WebsocketCommunicator(application, "/ws/", headers=[ORIGIN])
    connected, code = await socket.connect()
    assert not connected and code == 4401
    await socket.disconnect()


async def test_socket_refused_if_origin_is_foreign(member):
    cookie = await database_sync_to_async(session_cookie)(member)
    socket = WebsocketCommunicator(
        application, "/ws/", headers=[(b"origin", b"https://evil.example"), cookie]
    )
    connected, _ = await socket.connect()
    assert not connected
    await socket.disconnect()


@pytest.fixture(params=["outsider", "expired_guest", "removed_member", "other_member"])
def stranger(request):
    return request.getfixturevalue(request.param)


async def test_room_refused_if_not_in_group(member, room, stranger):
    socket = await open_socket(stranger)
    await socket.send_json_to({"type": "subscribe", "stream": room.stream})
    assert (await socket.receive_json_from())["code"] == "forbidden"
    # Nor can it send, read the history, mark read, type or heartbeat there.
    for frame in [
        {"type": "chat.send", "room": room.pk, "body": "hi"},
        {"type": "typing", "room": room.pk},
        {"type": "presence.heartbeat", "room": room.pk},
        {"type": "chat.mute", "room": room.pk, "user": member.pk, "minutes": 5},
    ]:
        answer = await request(socket, frame)
        assert (answer["type"], answer["code"]) == ("error", "not_subscribed"), frame
    for frame in [
        {"type": "chat.history", "room": room.pk},
        {"type": "chat.read", "room": room.pk, "seq": 1},
    ]:
        answer = await request(socket, frame)
        assert (answer["type"], answer["code"]) == ("error", "forbidden"), frame
        assert answer["message"] == "Unknown room."
    # Someone else's message can be neither edited nor deleted.
    message = await send_as(member, room, "mine")
    for frame in [
        {"type": "chat.edit", "message": message.pk, "body": "taken"},
        {"type": "chat.delete", "message": message.pk},
    ]:
        answer = await request(socket, frame)
        assert (answer["type"], answer["code"]) == ("error", "forbidden"), frame
        assert answer["message"] == "Unknown message."
    assert await stored_messages(room) == ["mine"]
    await socket.disconnect()


async def test_guest_loses_the_room_when_access_ends_while_connected(guest, room):
    await database_sync_to_async(Membership.objects.filter(user=guest).update)(
        expires_at=timezone.now() + datetime.timedelta(seconds=1)
    )
    socket = await open_socket(guest)
    await subscribe(socket, room)
    assert await next_frame(socket) == {
        "type": "unsubscribed",
        "stream": room.stream,
        "reason": "access",
    }
    answer = await request(socket, {"type": "chat.send", "room": room.pk, "body": "late"})
    assert answer["code"] == "not_subscribed"
    assert await stored_messages(room) == []
    await socket.disconnect()


async def test_removed_member_loses_the_room_at_once_and_cannot_send(member, moderator, room):
    socket = await open_socket(member)
    await subscribe(socket, room)

    @database_sync_to_async
    def remove():
        membership = Membership.objects.get(user=member, group=room.group)
        group_services.membership_revoke(actor=moderator, membership=membership)

    await remove()
    while True:
        frame = await next_frame(socket)
        if frame["type"] == "unsubscribed":
            break
    assert frame == {"type": "unsubscribed", "stream": room.stream, "reason": "access"}
    answer = await request(socket, {"type": "chat.send", "room": room.pk, "body": "still here?"})
    assert answer["code"] == "not_subscribed"
    # Subscribing again is refused, and the room's messages no longer arrive.
    await socket.send_json_to({"type": "subscribe", "stream": room.stream})
    assert (await next_frame(socket))["code"] == "forbidden"
    await send_as(moderator, room, "after the removal")
    assert await nothing_more(socket)
    assert await stored_messages(room) == ["after the removal"]
    await socket.disconnect()


async def test_send_is_refused_if_removed_before_the_socket_heard_of_it(member, room):
    """The subscription is not the only check: the service asks again."""
    socket = await open_socket(member)
    await subscribe(socket, room)
    await database_sync_to_async(Membership.objects.filter(user=member).update)(active=False)
    answer = await request(socket, {"type": "chat.send", "room": room.pk, "body": "sneaky"})
    assert answer["code"] == "forbidden"
    assert answer["message"] == "Unknown room."
    assert await stored_messages(room) == []
    await socket.disconnect()


# --- chat.send --------------------------------------------------------------------------


async def test_send_acks_with_client_id_and_everyone_gets_the_message(member, moderator, room):
    sender = await open_socket(member)
    reader = await open_socket(moderator)
    await subscribe(sender, room)
    await subscribe(reader, room)
    await sender.send_json_to(
        {"type": "chat.send", "room": room.pk, "body": "Hello @max-moderator", "client_id": "c-1"}
    )
    frames = [await next_frame(sender), await next_frame(sender)]
    ack = next(frame for frame in frames if frame["type"] == "ack")
    event = next(frame for frame in frames if frame["type"] == "event")
    message = await database_sync_to_async(ChatMessage.objects.get)(room=room)
    assert ack == {
        "type": "ack",
        "request": "chat.send",
        "client_id": "c-1",
        "room": room.pk,
        "id": message.pk,
        "seq": message.seq,
    }
    assert event["stream"] == room.stream
    assert event["seq"] == message.seq == 1
    assert event["event"] == "message.created"
    payload = event["data"]["message"]
    assert payload["id"] == message.pk
    assert payload["author"] == {"id": member.pk, "name": "Mia Member"}
    assert 'href="/profile/' in payload["html"]  # the mention is a link
    assert await next_frame(reader) == event
    await sender.disconnect()
    await reader.disconnect()


async def test_send_accepts_a_numeric_client_id_and_none(member, room):
    socket = await open_socket(member)
    await subscribe(socket, room)
    for client_id, body in [(7, "one"), (None, "two")]:
        frame = {"type": "chat.send", "room": room.pk, "body": body}
        if client_id is not None:
            frame["client_id"] = client_id
        await socket.send_json_to(frame)
        frames = [await next_frame(socket), await next_frame(socket)]
        ack = next(f for f in frames if f["type"] == "ack")
        assert ack.get("client_id") == client_id
    await socket.disconnect()


async def test_send_refuses_a_client_id_with_a_nul(member, room):
    """PostgreSQL stores no text with a NUL: refused as a bad field, not a 500."""
    socket = await open_socket(member)
    await subscribe(socket, room)
    frame = {"type": "chat.send", "room": room.pk, "body": "hi", "client_id": "a\x00b"}
    await socket.send_json_to(frame)
    error = await next_frame(socket)
    assert error["type"] == "error" and error["field"] == "client_id"
    assert not await database_sync_to_async(ChatMessage.objects.exists)()
    await socket.disconnect()


async def test_send_repeated_with_the_same_client_id_is_stored_once(member, room):
    """A page resends what was not acknowledged when its socket dropped."""
    socket = await open_socket(member)
    await subscribe(socket, room)
    frame = {"type": "chat.send", "room": room.pk, "body": "once", "client_id": "same"}
    await socket.send_json_to(frame)
    first = [await next_frame(socket), await next_frame(socket)]
    ack = next(f for f in first if f["type"] == "ack")
    await socket.disconnect()

    socket = await open_socket(member)
    await subscribe(socket, room, since=ack["seq"])
    assert await request(socket, frame) == ack
    assert await nothing_more(socket)
    # Another id is another message.
    await socket.send_json_to({**frame, "client_id": "other"})
    assert {(await next_frame(socket))["type"] for _ in range(2)} == {"ack", "event"}
    assert await stored_messages(room) == ["once", "once"]
    await socket.disconnect()


@pytest.mark.parametrize("body", ["plain text", "for @max-moderator"])
async def test_a_resend_is_acknowledged_after_the_sender_was_muted(member, moderator, room, body):
    """What was stored before the mute keeps its ack; anything new is refused
    (also for a text that mentions someone)."""
    socket = await open_socket(member)
    await subscribe(socket, room)
    frame = {"type": "chat.send", "room": room.pk, "body": body, "client_id": "m-1"}
    await socket.send_json_to(frame)
    ack = next(
        f for f in [await next_frame(socket), await next_frame(socket)] if f["type"] == "ack"
    )
    await database_sync_to_async(services.member_mute)(
        actor=moderator, room=room, user=member, minutes=5
    )
    assert (await next_frame(socket))["event"] == "member.muted"
    assert await request(socket, frame) == ack
    refused = await request(socket, {**frame, "client_id": "m-2"})
    assert (refused["type"], refused["code"], refused["client_id"]) == ("error", "muted", "m-2")
    assert "until" in refused
    assert await stored_messages(room) == [body]
    assert await nothing_more(socket)
    await socket.disconnect()


async def test_send_refused_if_not_subscribed(member, room):
    socket = await open_socket(member)
    answer = await request(
        socket, {"type": "chat.send", "room": room.pk, "body": "hi", "client_id": "x"}
    )
    assert answer == {
        "type": "error",
        "code": "not_subscribed",
        "message": "Subscribe to the room first.",
        "request": "chat.send",
        "client_id": "x",
        "stream": room.stream,
    }
    assert await stored_messages(room) == []
    await socket.disconnect()


async def test_send_refused_if_meeting_room_is_closed(member, closed_meeting_room):
    socket = await open_socket(member)
    await subscribe(socket, closed_meeting_room)  # it can still be read
    answer = await request(
        socket, {"type": "chat.send", "room": closed_meeting_room.pk, "body": "too late"}
    )
    assert answer["code"] == "forbidden"
    assert answer["message"] == "This meeting room is closed."
    assert await stored_messages(closed_meeting_room) == []
    await socket.disconnect()


async def test_send_in_an_open_meeting_room(member, open_meeting_room):
    socket = await open_socket(member)
    await subscribe(socket, open_meeting_room)
    await socket.send_json_to({"type": "chat.send", "room": open_meeting_room.pk, "body": "hi"})
    frames = {(await next_frame(socket))["type"] for _ in range(2)}
    assert frames == {"ack", "event"}
    assert await stored_messages(open_meeting_room) == ["hi"]
    await socket.disconnect()


async def test_send_refused_if_group_is_archived(member, room):
    socket = await open_socket(member)
    await subscribe(socket, room)
    await database_sync_to_async(type(room.group).objects.filter(pk=room.group_id).update)(
        archived=True
    )
    answer = await request(socket, {"type": "chat.send", "room": room.pk, "body": "hi"})
    assert (answer["code"], answer["message"]) == ("forbidden", "This group is archived.")
    assert await stored_messages(room) == []
    await socket.disconnect()


# --- Muting ----------------------------------------------------------------------------


async def test_moderator_mutes_and_muted_member_cannot_send_edit_or_type(member, moderator, room):
    earlier = await send_as(member, room, "before")
    mod = await open_socket(moderator)
    socket = await open_socket(member)
    await subscribe(mod, room)
    await subscribe(socket, room)
    await mod.send_json_to(
        {"type": "chat.mute", "room": room.pk, "user": member.pk, "minutes": 10, "client_id": 1}
    )
    frames = [await next_frame(mod), await next_frame(mod)]
    ack = next(f for f in frames if f["type"] == "ack")
    assert ack["request"] == "chat.mute" and ack["client_id"] == 1
    assert (ack["room"], ack["user"]) == (room.pk, member.pk)
    until = datetime.datetime.fromisoformat(ack["until"])
    assert datetime.timedelta(minutes=9) < until - timezone.now() <= datetime.timedelta(minutes=10)
    event = await next_frame(socket)
    assert (event["event"], event["data"]) == (
        "member.muted",
        {"user": member.pk, "until": ack["until"]},
    )

    for frame in [
        {"type": "chat.send", "room": room.pk, "body": "let me talk"},
        {"type": "chat.edit", "message": earlier.pk, "body": "changed"},
        {"type": "typing", "room": room.pk},
    ]:
        answer = await request(socket, frame)
        assert answer["code"] == "muted", frame
        assert answer["until"] == ack["until"]
        assert answer["message"] == "A moderator muted you in this room for a while."
    assert await stored_messages(room) == ["before"]
    assert await nothing_more(mod)
    await mod.disconnect()
    await socket.disconnect()


async def test_mute_refused_for_members(member, moderator, room):
    socket = await open_socket(member)
    await subscribe(socket, room)
    answer = await request(
        socket, {"type": "chat.mute", "room": room.pk, "user": moderator.pk, "minutes": 5}
    )
    assert (answer["code"], answer["message"]) == ("forbidden", "Only moderators mute people.")
    assert not await database_sync_to_async(RoomMute.objects.exists)()
    await socket.disconnect()


async def test_mute_refused_for_people_outside_the_group_and_oneself(moderator, outsider, room):
    socket = await open_socket(moderator)
    await subscribe(socket, room)
    for user in [outsider.pk, 999_999, moderator.pk]:
        answer = await request(
            socket, {"type": "chat.mute", "room": room.pk, "user": user, "minutes": 5}
        )
        assert (answer["code"], answer["field"]) == ("invalid", "user")
    assert not await database_sync_to_async(RoomMute.objects.exists)()
    await socket.disconnect()


async def test_mute_ends_by_itself(member, moderator, room):
    await database_sync_to_async(RoomMute.objects.create)(
        room=room, user=member, until=timezone.now() - datetime.timedelta(seconds=1)
    )
    socket = await open_socket(member)
    await subscribe(socket, room)
    await socket.send_json_to({"type": "chat.send", "room": room.pk, "body": "back"})
    assert {(await next_frame(socket))["type"] for _ in range(2)} == {"ack", "event"}
    await socket.disconnect()


# --- chat.edit and chat.delete ------------------------------------------------------------


async def test_edit_own_message(member, moderator, room):
    message = await send_as(member, room, "draft")
    socket = await open_socket(member)
    reader = await open_socket(moderator)
    await subscribe(socket, room, since=1)
    await subscribe(reader, room, since=1)
    await socket.send_json_to(
        {"type": "chat.edit", "message": message.pk, "body": "final", "client_id": "e"}
    )
    frames = [await next_frame(socket), await next_frame(socket)]
    assert {"type": "ack", "request": "chat.edit", "client_id": "e", "id": message.pk} in frames
    event = next(f for f in frames if f["type"] == "event")
    assert (event["seq"], event["event"]) == (2, "message.edited")
    assert event["data"]["message"]["edited"] is True
    assert "final" in event["data"]["message"]["html"]
    assert await next_frame(reader) == event
    await socket.disconnect()
    await reader.disconnect()


async def test_edit_refused_for_someone_elses_message(member, moderator, room):
    message = await send_as(moderator, room, "the moderator's")
    socket = await open_socket(member)
    await subscribe(socket, room)
    answer = await request(socket, {"type": "chat.edit", "message": message.pk, "body": "mine"})
    assert (answer["code"], answer["message"]) == (
        "forbidden",
        "You can only edit your own messages.",
    )
    assert await stored_messages(room) == ["the moderator's"]
    await socket.disconnect()


async def test_edit_and_delete_refused_if_not_subscribed(member, room):
    message = await send_as(member, room, "mine")
    socket = await open_socket(member)
    for frame in [
        {"type": "chat.edit", "message": message.pk, "body": "changed"},
        {"type": "chat.delete", "message": message.pk},
    ]:
        assert (await request(socket, frame))["code"] == "not_subscribed"
    assert await stored_messages(room) == ["mine"]
    await socket.disconnect()


async def test_edit_and_delete_refused_for_unknown_message(member, room):
    socket = await open_socket(member)
    await subscribe(socket, room)
    for frame in [
        {"type": "chat.edit", "message": 999_999, "body": "x"},
        {"type": "chat.delete", "message": 999_999},
    ]:
        answer = await request(socket, frame)
        assert (answer["code"], answer["message"]) == ("forbidden", "Unknown message.")
    await socket.disconnect()


async def test_delete_own_message(member, room):
    message = await send_as(member, room, "oops")
    socket = await open_socket(member)
    await subscribe(socket, room, since=1)
    await socket.send_json_to({"type": "chat.delete", "message": message.pk})
    frames = [await next_frame(socket), await next_frame(socket)]
    assert {"type": "ack", "request": "chat.delete", "id": message.pk} in frames
    event = next(f for f in frames if f["type"] == "event")
    assert event["event"] == "message.deleted"
    assert event["data"]["message"]["deleted"] is True
    assert event["data"]["message"]["html"] == ""
    # Deleted is deleted: neither edited nor deleted again.
    for frame in [
        {"type": "chat.edit", "message": message.pk, "body": "back"},
        {"type": "chat.delete", "message": message.pk},
    ]:
        assert (await request(socket, frame))["code"] == "forbidden"
    await socket.disconnect()


async def test_moderator_deletes_any_message_and_member_cannot(member, guest, moderator, room):
    message = await send_as(guest, room, "spam")
    socket = await open_socket(member)
    mod = await open_socket(moderator)
    await subscribe(socket, room)
    await subscribe(mod, room)
    answer = await request(socket, {"type": "chat.delete", "message": message.pk})
    assert (answer["code"], answer["message"]) == ("forbidden", "You may not delete this message.")
    await mod.send_json_to({"type": "chat.delete", "message": message.pk})
    frames = [await next_frame(mod), await next_frame(mod)]
    assert {"type": "ack", "request": "chat.delete", "id": message.pk} in frames
    assert (await next_frame(socket))["event"] == "message.deleted"
    await socket.disconnect()
    await mod.disconnect()


# --- chat.history --------------------------------------------------------------------------


@database_sync_to_async
def fill(room, author, count):
    for number in range(1, count + 1):
        services.message_send(actor=author, room=room, body=f"message {number}")


async def test_history_pages_back_newest_page_first(member, room):
    await fill(room, member, 120)
    socket = await open_socket(member)
    await socket.send_json_to({"type": "chat.history", "room": room.pk, "client_id": "h"})
    page = await next_frame(socket)
    assert page["type"] == "history"
    assert (page["room"], page["client_id"], page["before_seq"]) == (room.pk, "h", None)
    assert [m["seq"] for m in page["messages"]] == list(range(71, 121))
    assert page["has_more"] is True
    assert page["messages"][0]["html"].strip() == "<p>message 71</p>"
    assert set(page["messages"][0]) == {
        "id", "room", "seq", "author", "html", "created_at", "edited", "deleted"
    }  # fmt: skip

    page = await request(socket, {"type": "chat.history", "room": room.pk, "before_seq": 71})
    assert [m["seq"] for m in page["messages"]] == list(range(21, 71))
    page = await request(
        socket, {"type": "chat.history", "room": room.pk, "before_seq": 21, "limit": 100}
    )
    assert [m["seq"] for m in page["messages"]] == list(range(1, 21))
    assert page["has_more"] is False
    page = await request(
        socket, {"type": "chat.history", "room": room.pk, "before_seq": 121, "limit": 100}
    )
    assert [m["seq"] for m in page["messages"]] == list(range(21, 121))
    await socket.disconnect()


async def test_history_refused_for_another_groups_room(member, other_member, other_room):
    await send_as(other_member, other_room, "secret")
    socket = await open_socket(member)
    answer = await request(socket, {"type": "chat.history", "room": other_room.pk})
    assert (answer["code"], answer["message"]) == ("forbidden", "Unknown room.")
    await socket.disconnect()


# --- typing and presence.heartbeat ------------------------------------------------------------


async def test_typing_reaches_the_room_once_per_interval(member, moderator, room, monkeypatch):
    monkeypatch.setattr(chat, "TYPING_INTERVAL", 30)  # however slow the machine
    socket = await open_socket(member)
    reader = await open_socket(moderator)
    await subscribe(socket, room)
    await subscribe(reader, room)
    await socket.send_json_to({"type": "typing", "room": room.pk})
    event = await next_frame(reader)
    assert event == {
        "type": "event",
        "stream": room.stream,
        "seq": None,
        "event": "typing",
        "data": {"room": room.pk, "user": member.pk, "name": "Mia Member"},
    }
    # The sender hears it too (pages skip their own), and nothing else.
    assert await next_frame(socket) == event
    for _ in range(3):
        await socket.send_json_to({"type": "typing", "room": room.pk})
    assert await nothing_more(reader, timeout=0.5)
    assert await nothing_more(socket, timeout=0.1)
    await socket.disconnect()
    await reader.disconnect()


async def test_typing_is_allowed_again_after_the_interval(member, room, monkeypatch):
    monkeypatch.setattr(chat, "TYPING_INTERVAL", 0.2)
    socket = await open_socket(member)
    await subscribe(socket, room)
    for _ in range(2):
        await socket.send_json_to({"type": "typing", "room": room.pk})
        assert (await next_frame(socket))["event"] == "typing"
        await asyncio.sleep(0.25)
    await socket.disconnect()


async def test_typing_refused_in_a_closed_room(member, closed_meeting_room):
    socket = await open_socket(member)
    await subscribe(socket, closed_meeting_room)
    answer = await request(socket, {"type": "typing", "room": closed_meeting_room.pk})
    assert answer["code"] == "forbidden"
    await socket.disconnect()


async def test_heartbeat_is_silent_when_subscribed(member, room):
    socket = await open_socket(member)
    await subscribe(socket, room)
    await socket.send_json_to({"type": "presence.heartbeat", "room": room.pk})
    assert await nothing_more(socket)
    await socket.disconnect()


# --- chat.read -----------------------------------------------------------------------------


async def test_read_mark_moves_forward_only_and_reaches_other_tabs(member, moderator, room):
    await fill(room, moderator, 5)
    tab = await open_socket(member)
    other_tab = await open_socket(member)
    await tab.send_json_to({"type": "chat.read", "room": room.pk, "seq": 3})
    frames = [await next_frame(tab), await next_frame(tab)]
    assert {"type": "ack", "request": "chat.read", "room": room.pk, "seq": 3} in frames
    event = await next_frame(other_tab)
    assert event in frames  # every tab of the person hears of it
    assert (event["stream"], event["event"], event["data"]) == (
        f"user:{member.pk}",
        "room.read",
        {"room": room.pk, "seq": 3},
    )
    assert await database_sync_to_async(selectors.unread_count)(member, room) == 2
    # Back is not a move (and nobody hears of it); beyond the end is the end.
    assert (await request(tab, {"type": "chat.read", "room": room.pk, "seq": 1}))["seq"] == 3
    assert await nothing_more(other_tab, timeout=0.2)
    await tab.send_json_to({"type": "chat.read", "room": room.pk, "seq": 99})
    frames = [await next_frame(tab), await next_frame(tab)]
    assert {"type": "ack", "request": "chat.read", "room": room.pk, "seq": 5} in frames
    assert await database_sync_to_async(selectors.unread_count)(member, room) == 0
    state = await database_sync_to_async(RoomReadState.objects.get)(user=member, room=room)
    assert state.last_read_seq == 5
    await tab.disconnect()
    await other_tab.disconnect()


async def test_unread_count_leaves_out_own_and_deleted_messages(member, moderator, room):
    await send_as(member, room, "mine")
    gone = await send_as(moderator, room, "gone")
    await send_as(moderator, room, "new")
    await database_sync_to_async(services.message_delete)(actor=moderator, message=gone)
    assert await database_sync_to_async(selectors.unread_count)(member, room) == 1


# --- Frames that are not right -----------------------------------------------------------------

BAD_FIELDS = [
    ({"type": "chat.send", "body": "hi"}, "room"),
    ({"type": "chat.send", "room": "ROOM_STR", "body": "hi"}, "room"),
    ({"type": "chat.send", "room": 0, "body": "hi"}, "room"),
    ({"type": "chat.send", "room": -3, "body": "hi"}, "room"),
    ({"type": "chat.send", "room": True, "body": "hi"}, "room"),
    ({"type": "chat.send", "room": 1.5, "body": "hi"}, "room"),
    ({"type": "chat.send", "room": 2**70, "body": "hi"}, "room"),
    ({"type": "chat.send", "room": "ROOM"}, "body"),
    ({"type": "chat.send", "room": "ROOM", "body": 5}, "body"),
    ({"type": "chat.send", "room": "ROOM", "body": ["hi"]}, "body"),
    ({"type": "chat.send", "room": "ROOM", "body": ""}, "body"),
    ({"type": "chat.send", "room": "ROOM", "body": "  \n "}, "body"),
    ({"type": "chat.send", "room": "ROOM", "body": "a\x00b"}, "body"),
    ({"type": "chat.send", "room": "ROOM", "body": "hi", "colour": "red"}, "colour"),
    ({"type": "chat.send", "room": "ROOM", "body": "hi", "client_id": "x" * 65}, "client_id"),
    ({"type": "chat.send", "room": "ROOM", "body": "hi", "client_id": {"a": 1}}, "client_id"),
    ({"type": "chat.edit", "message": "1", "body": "x"}, "message"),
    ({"type": "chat.edit", "message": "MESSAGE"}, "body"),
    ({"type": "chat.delete"}, "message"),
    ({"type": "chat.history", "room": "ROOM", "before_seq": 0}, "before_seq"),
    ({"type": "chat.history", "room": "ROOM", "limit": 0}, "limit"),
    ({"type": "chat.history", "room": "ROOM", "limit": 101}, "limit"),
    ({"type": "chat.history", "room": "ROOM", "limit": "10"}, "limit"),
    ({"type": "typing"}, "room"),
    ({"type": "typing", "room": None}, "room"),
    ({"type": "presence.heartbeat", "room": "7"}, "room"),
    ({"type": "chat.mute", "room": "ROOM", "user": "USER", "minutes": 0}, "minutes"),
    ({"type": "chat.mute", "room": "ROOM", "user": "USER", "minutes": 1441}, "minutes"),
    ({"type": "chat.mute", "room": "ROOM", "user": "USER", "minutes": "5"}, "minutes"),
    ({"type": "chat.mute", "room": "ROOM", "minutes": 5}, "user"),
    ({"type": "chat.read", "room": "ROOM", "seq": -1}, "seq"),
    ({"type": "chat.read", "room": "ROOM"}, "seq"),
]


@pytest.mark.parametrize(("frame", "field"), BAD_FIELDS)
async def test_bad_field_gets_invalid_and_changes_nothing(member, moderator, room, frame, field):
    message = await send_as(moderator, room, "kept")
    frame = {
        key: {"ROOM": room.pk, "ROOM_STR": str(room.pk), "USER": member.pk}.get(value, value)
        if isinstance(value, str)
        else value
        for key, value in frame.items()
    }
    if frame.get("message") == "MESSAGE":
        frame["message"] = message.pk
    socket = await open_socket(moderator)
    await subscribe(socket, room, since=1)
    answer = await request(socket, frame)
    assert answer["type"] == "error", answer
    assert answer["code"] == "invalid"
    assert answer["field"] == field
    assert answer["request"] == frame["type"]
    assert answer["message"]
    assert await nothing_more(socket, timeout=0.2)
    assert await stored_messages(room) == ["kept"]
    assert not await database_sync_to_async(RoomMute.objects.exists)()
    assert not await database_sync_to_async(RoomReadState.objects.exists)()
    await socket.disconnect()


async def test_too_long_message_is_invalid(member, room, settings):
    settings.CHAT_MAX_MESSAGE_CHARS = 20
    socket = await open_socket(member)
    await subscribe(socket, room)
    answer = await request(socket, {"type": "chat.send", "room": room.pk, "body": "x" * 21})
    assert (answer["code"], answer["field"]) == ("invalid", "body")
    assert "20" in answer["message"]
    assert await stored_messages(room) == []
    await socket.disconnect()


async def test_oversize_frame_is_refused_before_anything_else(member, room):
    socket = await open_socket(member)
    await subscribe(socket, room)
    body = "x" * settings.WS_MAX_FRAME_BYTES
    answer = await request(socket, {"type": "chat.send", "room": room.pk, "body": body})
    assert answer["code"] == "too_large"
    assert await stored_messages(room) == []
    await socket.disconnect()


async def test_flood_is_rate_limited(member, room, settings):
    settings.WS_RATE_LIMIT = "5/60"
    socket = await open_socket(member)
    await subscribe(socket, room)  # frame 1
    for number in range(6):
        await socket.send_json_to({"type": "chat.send", "room": room.pk, "body": f"n{number}"})
    frames = []
    while len([f for f in frames if f["type"] in {"ack", "error"}]) < 6:
        frames.append(await next_frame(socket))
    refusals = [f for f in frames if f["type"] == "error"]
    assert [f["code"] for f in refusals] == ["rate_limited"] * 2
    assert await stored_messages(room) == ["n0", "n1", "n2", "n3"]
    await socket.disconnect()


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('{"type": "chat.send", "room": 1, "body": "unfinished', "bad_json"),
        ('["chat.send", 1, "hi"]', "bad_frame"),
        ('{"type": "chat.shout", "room": 1}', "unknown_type"),
        ('{"type": "chat.Send", "room": 1, "body": "hi"}', "unknown_type"),
    ],
)
async def test_malformed_frames_get_errors_and_the_socket_stays(member, room, text, code):
    socket = await open_socket(member)
    await subscribe(socket, room)
    await socket.send_to(text_data=text.replace('"room": 1', f'"room": {room.pk}'))
    assert (await next_frame(socket))["code"] == code
    await socket.send_json_to({"type": "chat.send", "room": room.pk, "body": "fine"})
    assert {(await next_frame(socket))["type"] for _ in range(2)} == {"ack", "event"}
    assert await stored_messages(room) == ["fine"]
    await socket.disconnect()


# --- Order ------------------------------------------------------------------------------------


async def collect_messages(socket, count: int) -> list[int]:
    """The sequence numbers of the next ``count`` message.created events."""
    seqs = []
    while len(seqs) < count:
        frame = await next_frame(socket, skip=("presence", "typing"), timeout=15)
        if frame["type"] == "event" and frame["event"] == "message.created":
            seqs.append(frame["seq"])
    return seqs


async def test_concurrent_senders_every_client_sees_every_message_once_in_order(room, group):
    """Senders on their own sockets send at once (tasks) while others write
    through the service in threads: every watching socket gets each number
    once, strictly increasing, without gaps, and a latecomer catches up."""
    senders_count, per_sender, thread_writers = 4, 6, 3

    @database_sync_to_async
    def people():
        from accounts.models import User

        made = []
        for number in range(senders_count + thread_writers + 2):
            user = User.objects.create_user(
                email=f"p{number}@example.org", password="x", display_name=f"P{number}"
            )
            join(user, group, Role.MEMBER)
            made.append(user)
        return made

    everyone = await people()
    senders = everyone[:senders_count]
    writers = everyone[senders_count : senders_count + thread_writers]
    watchers = everyone[senders_count + thread_writers :]
    total = senders_count * per_sender + thread_writers * per_sender

    watcher_sockets = [await open_socket(user) for user in watchers]
    for socket in watcher_sockets:
        await subscribe(socket, room)
    sender_sockets = [await open_socket(user) for user in senders]
    for socket in sender_sockets:
        await subscribe(socket, room)

    def write_in_thread(user):
        try:
            for number in range(per_sender):
                services.message_send(actor=user, room=room, body=f"{user.pk}/{number}")
        finally:
            connection.close()

    async def send_over_socket(socket, user):
        for number in range(per_sender):
            await socket.send_json_to(
                {"type": "chat.send", "room": room.pk, "body": f"{user.pk}/{number}"}
            )

    threads = [threading.Thread(target=write_in_thread, args=(user,)) for user in writers]
    for thread in threads:
        thread.start()
    await asyncio.gather(
        *(send_over_socket(s, u) for s, u in zip(sender_sockets, senders, strict=True))
    )
    await asyncio.get_running_loop().run_in_executor(None, lambda: [t.join() for t in threads])

    for socket in watcher_sockets + sender_sockets:
        assert await collect_messages(socket, total) == list(range(1, total + 1))
    latecomer = await open_socket(watchers[0])
    await subscribe(latecomer, room, since=total // 2)
    assert await collect_messages(latecomer, total - total // 2) == list(
        range(total // 2 + 1, total + 1)
    )
    assert await nothing_more(latecomer, skip=("presence",))
    for socket in [*watcher_sockets, *sender_sockets, latecomer]:
        await socket.disconnect()
