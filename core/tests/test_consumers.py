"""The one socket: authentication, origin check, frame validation, event relay."""

import json

import pytest
from channels.consumer import AsyncConsumer
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings

from core import realtime
from tests.sockets import ORIGIN
from workspace.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def session_cookie(client, user):
    client.force_login(user)
    return (
        b"cookie",
        f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode(),
    )


async def connect(*headers):
    communicator = WebsocketCommunicator(application, "/ws/", headers=list(headers))
    connected, code = await communicator.connect()
    return communicator, connected, code


async def test_socket_refused_if_anonymous():
    communicator, connected, code = await connect(ORIGIN)
    assert not connected
    assert code == 4401
    await communicator.disconnect()


async def test_socket_refused_if_origin_is_foreign(session_cookie):
    communicator, connected, _ = await connect((b"origin", b"https://evil.example"), session_cookie)
    assert not connected
    await communicator.disconnect()


async def test_socket_refused_if_origin_is_missing(session_cookie):
    communicator, connected, _ = await connect(session_cookie)
    assert not connected
    await communicator.disconnect()


@pytest.fixture
async def socket(session_cookie):
    communicator, connected, _ = await connect(ORIGIN, session_cookie)
    assert connected
    hello = await communicator.receive_json_from()
    assert hello["type"] == "hello"
    yield communicator
    await communicator.disconnect()


async def test_hello_names_the_signed_in_user(session_cookie, user):
    communicator, connected, _ = await connect(ORIGIN, session_cookie)
    assert connected
    assert await communicator.receive_json_from() == {"type": "hello", "user": user.pk}
    await communicator.disconnect()


async def test_ping_gets_pong(socket):
    await socket.send_json_to({"type": "ping", "id": 7})
    assert await socket.receive_json_from() == {"type": "pong", "id": 7}


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{not json", "bad_json"),
        ("[1, 2]", "bad_frame"),
        ('{"no": "type"}', "bad_frame"),
        ('{"type": 5}', "bad_frame"),
        ('{"type": "launch_rockets"}', "unknown_type"),
        # Found by tests/test_fuzz_frames.py: nesting deeper than the JSON
        # parser goes (RecursionError, not a ValueError) closed the socket.
        ("[" * 15_000, "bad_json"),
        ('{"type": "ping", "id": ' + "[" * 15_000, "bad_json"),
        # A stream that is no name (a list cannot even be looked up) closed it too.
        ('{"type": "unsubscribe", "stream": []}', "bad_stream"),
        ('{"type": "unsubscribe", "stream": {"a": 1}}', "bad_stream"),
        ('{"type": "unsubscribe", "stream": "no stream"}', "bad_stream"),
        # Lone surrogates: no database or renderer takes them (a chat.send
        # with one ended the socket with a UnicodeEncodeError).
        ('{"type": "ping", "id": "\\ud800"}', "bad_json"),
        ('{"type": "chat.send", "room": 1, "body": "a\\udfffb"}', "bad_json"),
    ],
)
async def test_bad_frame_gets_error_and_socket_stays_open(socket, text, code):
    await socket.send_to(text_data=text)
    frame = await socket.receive_json_from()
    assert frame["type"] == "error"
    assert frame["code"] == code
    await socket.send_json_to({"type": "ping", "id": 1})
    assert (await socket.receive_json_from())["type"] == "pong"


async def test_surrogate_pair_escape_is_one_character_and_accepted(socket):
    """An emoji written as a JSON surrogate pair is valid Unicode: not refused."""
    await socket.send_to(text_data='{"type": "ping", "id": "\\ud83d\\ude00"}')
    assert await socket.receive_json_from() == {"type": "pong", "id": "\U0001f600"}


async def test_binary_frame_gets_error(socket):
    await socket.send_to(bytes_data=b"\x00\x01")
    assert (await socket.receive_json_from())["code"] == "binary"


async def test_oversize_frame_gets_error(socket):
    await socket.send_to(
        text_data=json.dumps({"type": "ping", "pad": "x" * settings.WS_MAX_FRAME_BYTES})
    )
    frame = await socket.receive_json_from()
    assert frame["code"] == "too_large"


async def test_flood_is_rate_limited(socket, settings):
    settings.WS_RATE_LIMIT = "5/60"
    for number in range(8):
        await socket.send_json_to({"type": "ping", "id": number})
    frames = [await socket.receive_json_from() for _ in range(8)]
    assert [f["type"] for f in frames[:5]] == ["pong"] * 5
    assert {f.get("code") for f in frames[5:]} == {"rate_limited"}


async def test_event_published_to_user_stream_reaches_the_socket(socket, user):
    await database_sync_to_async(realtime.publish)(f"user:{user.pk}", "test.ping", {"n": 1})
    assert await socket.receive_json_from() == {
        "type": "event",
        "stream": f"user:{user.pk}",
        "seq": None,
        "event": "test.ping",
        "data": {"n": 1},
    }


@pytest.mark.parametrize("frame_once", [True, False], ids=["fast-path", "plain-channels"])
async def test_events_and_answers_reach_the_socket_whether_frame_once_is_on_or_off(
    settings, monkeypatch, session_cookie, user, frame_once
):
    """With WS_FRAME_ONCE off the consumer runs channels' own loop and dispatch
    (seen by counting calls of channels' dispatch), and frames still arrive."""
    settings.WS_FRAME_ONCE = frame_once
    channels_dispatches = []
    channels_dispatch = AsyncConsumer.dispatch

    async def counted_dispatch(self, message):
        channels_dispatches.append(message["type"])
        return await channels_dispatch(self, message)

    monkeypatch.setattr(AsyncConsumer, "dispatch", counted_dispatch)
    communicator, connected, _ = await connect(ORIGIN, session_cookie)
    assert connected
    assert (await communicator.receive_json_from())["type"] == "hello"
    await communicator.send_json_to({"type": "ping", "id": 7})
    assert await communicator.receive_json_from() == {"type": "pong", "id": 7}
    await database_sync_to_async(realtime.publish)(f"user:{user.pk}", "test.ping", {"n": 2})
    assert (await communicator.receive_json_from())["data"] == {"n": 2}
    await communicator.disconnect()
    assert bool(channels_dispatches) is not frame_once


async def test_event_of_another_user_does_not_reach_the_socket(socket, make_user):
    other = await database_sync_to_async(make_user)()
    await database_sync_to_async(realtime.publish)(f"user:{other.pk}", "test.ping", {"n": 1})
    assert await socket.receive_nothing(timeout=0.3)
