"""Every socket frame, fuzzed: hostile frames get an error frame (or nothing),
log no traceback, store nothing, and leave the socket usable.

A member of the group and a moderator (with two-factor authentication) open
the real socket (channels' WebsocketCommunicator against the workspace's ASGI
application, as tests/test_socket_frames.py does) and subscribe to the
group's chat room. Hypothesis builds the frames: text that is no JSON, JSON
nested deeper than the parser goes, frames above the size limit, binary
frames, JSON that is no object, unknown types, and each frame type the socket
accepts (the consumer's own and the apps', ``frame_types()``) with fields
left out, unknown fields, and values of every wrong kind: negative, huge and
fractional numbers, NaN, lists and objects, text with NUL and lone
surrogates, other people's ids, streams that are no stream.

After each frame the socket must answer a ping (it is still open and
working); nothing may be logged as an error; and the database may change
only if the frame was acknowledged as a write (``ack`` of a writing frame).

Besides Hypothesis's frames, ``test_socket_survives_every_field_spoiled``
walks every field of every frame type through a fixed list of wrong values
(and leaves each out), the same on every run.

``FUZZ_EXAMPLES`` (tests/fuzzing.py) sets the generated frames per person (× 10).
"""

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.apps import apps
from hypothesis import given, settings
from hypothesis import strategies as st

from core.consumers import WorkspaceConsumer
from groups.models import Role
from meetings import chat, services
from tests import fuzzing
from tests.fixtures.people import enable_mfa, join
from tests.sockets import open_socket
from tests.test_socket_frames import WRITES, frame_types

pytestmark = pytest.mark.django_db(transaction=True)

ANSWER_WITHIN = 5.0  # seconds for the ping's pong (everything before it answers the frame)

FIELDS = [
    "id",
    "stream",
    "since",
    "room",
    "message",
    "body",
    "before_seq",
    "limit",
    "user",
    "minutes",
    "seq",
    "client_id",
]


def json_values(world):
    """Any JSON value, the hostile ones often: the world's real ids and
    streams among them, so that the checks after the first are reached."""
    real = st.sampled_from(
        [
            world.room.pk,
            world.own_message,
            world.others_message,
            world.author.pk,
            world.room.stream,
            f"user:{world.author.pk}",
        ]
    )
    scalars = st.one_of(
        real,
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.sampled_from([0, -1, 2**63 - 1, 2**63, -(2**63), 1441, 101]),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=30),
        st.sampled_from(
            [
                "",
                "\x00",
                "a\x00b",
                "\ud800",
                "a\udfffb",
                "x" * 5000,
                " ",
                "room:",
                "room:0",
                "room:-1",
                "room:" + "9" * 95,
                "room:1:2",
                "user:0",
                "thread:abc",
                ":",
                "ROOM:1",
                "room:１",
            ]
        ),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
        ),
        max_leaves=6,
    )


@st.composite
def frames(draw, world):
    """(what to send, a label): a text frame, or ``bytes`` for a binary one."""
    kind = draw(st.sampled_from(["frame"] * 6 + ["raw", "not-object", "nested", "huge", "binary"]))
    if kind == "raw":
        return draw(
            st.one_of(
                st.text(min_size=1, max_size=60),
                st.sampled_from(
                    [
                        "{",
                        "{'type': 'ping'}",
                        "NaN",
                        "1e999999",
                        "[1,]",
                        '{"type": "ping", "type": 1}',
                        "9" * 5000,
                    ]
                ),
            )
        ), kind
    if kind == "not-object":
        return json.dumps(draw(json_values(world))), kind
    if kind == "nested":
        depth = draw(st.integers(min_value=1000, max_value=16_000))
        opener = draw(st.sampled_from(["[", '{"a":', '{"type": "ping", "id": [']))
        return opener * depth, kind
    if kind == "huge":
        return json.dumps({"type": "chat.send", "room": world.room.pk, "body": "x" * 20_000}), kind
    if kind == "binary":
        # (An empty frame cannot be sent through the communicator.)
        return draw(st.binary(min_size=1, max_size=100)), kind
    frame_type = draw(
        st.one_of(
            st.sampled_from(sorted(frame_types())),
            st.sampled_from(["", "unknown", "chat", "PING", "chat.send ", "frame_ping"]),
            json_values(world),
        )
    )
    fields = draw(st.lists(st.sampled_from(FIELDS), unique=True, max_size=5))
    frame = {"type": frame_type} | {name: draw(json_values(world)) for name in fields}
    if draw(st.booleans()):
        frame["unknown"] = draw(json_values(world))
    return json.dumps(frame), f"{frame_type!r}"


@database_sync_to_async
def snapshot() -> dict:
    rows = {}
    for label in ("accounts", "groups", "meetings", "notifications", "core"):
        for model in apps.get_app_config(label).get_models():
            rows[model._meta.label] = list(model.objects.order_by("pk").values())
    return rows


async def answer_to(socket, ping_id: int) -> list[dict]:
    """Every frame before the pong to ``ping_id`` (the socket handles frames
    in order: what came before it answered the fuzzed frame), events aside."""
    frames = []
    async with asyncio.timeout(ANSWER_WITHIN):
        while True:
            frame = await socket.receive_json_from(timeout=ANSWER_WITHIN)
            if frame.get("type") == "pong" and frame.get("id") == ping_id:
                return frames
            if frame.get("type") != "event":
                frames.append(frame)


class World:
    pass


def make_world(make_user, group, role: str):
    world = World()
    world.room = services.standing_room(group)
    world.author = make_user("author@example.org", display_name="Ada Author")
    join(world.author, group)
    world.others_message = services.message_send(
        actor=world.author, room=world.room, body="Theirs"
    ).pk
    world.person = make_user(f"{role}@example.org", display_name=role.title())
    if role == "moderator":
        enable_mfa(world.person)
    join(world.person, group, Role.MODERATOR if role == "moderator" else Role.MEMBER)
    world.own_message = services.message_send(actor=world.person, room=world.room, body="Mine").pk
    return world


@pytest.fixture(autouse=True)
def _many_frames(settings):
    """The socket's rate limit would answer most frames rate_limited."""
    settings.WS_RATE_LIMIT = "1000000/1"
    chat._typing_seen.clear()
    yield
    chat._typing_seen.clear()


@pytest.mark.parametrize("role", ["member", "moderator"])
def test_socket_survives_hostile_frames(role, make_user, group):
    world = make_world(make_user, group, role)
    ping = iter(range(1, 1_000_000))

    async def one(sent, kind) -> None:
        socket = await open_socket(world.person)
        try:
            await socket.send_json_to({"type": "subscribe", "stream": world.room.stream})
            assert (await socket.receive_json_from())["type"] == "subscribed"
            before = await snapshot()
            with fuzzing.watching_logs() as logs:
                if isinstance(sent, bytes):
                    await socket.send_to(bytes_data=sent)
                else:
                    await socket.send_to(text_data=sent)
                pong = next(ping)
                await socket.send_json_to({"type": "ping", "id": pong})
                try:
                    answers = await answer_to(socket, pong)
                except (TimeoutError, AssertionError) as error:
                    raise AssertionError(
                        f"{kind}: the socket no longer answers ({error!r}); logged: {logs.lines()}"
                    ) from None
            after = await snapshot()
        finally:
            await socket.disconnect()
        assert not logs.records, f"{kind}: logged {logs.lines()}"
        acked = [a for a in answers if a.get("type") == "ack" and a.get("request") in WRITES]
        if after != before:
            assert acked, f"{kind}: answered {answers}, yet the database changed"
        for answer in answers:
            assert answer.get("type") in ("ack", "error", "history", "subscribed", "unsubscribed",
                                          "pong"), answer  # fmt: skip

    @settings(fuzzing.FUZZ_SETTINGS, max_examples=fuzzing.EXAMPLES * 10)
    @given(sent=frames(world))
    def survives(sent):
        async_to_sync(one)(*sent)

    survives()


# Every frame type with fields that work (as a member of the group): the
# starting point of the frames spoiled one field at a time below.
def good_frames(world) -> dict[str, dict]:
    room = world.room.pk
    return {
        "ping": {"id": 1},
        "subscribe": {"stream": world.room.stream, "since": 0},
        "unsubscribe": {"stream": f"room:{room + 1000}"},
        "chat.send": {"room": room, "body": "Hi", "client_id": "c1"},
        "chat.edit": {"message": world.own_message, "body": "Changed"},
        "chat.delete": {"message": world.others_message},
        "chat.history": {"room": room, "before_seq": 5, "limit": 10},
        "typing": {"room": room},
        "presence.heartbeat": {"room": room},
        "chat.mute": {"room": room, "user": world.author.pk, "minutes": 5},
        "chat.read": {"room": room, "seq": 1},
    }


SPOILERS = [None, True, -1, 0, 2**64, -(2**63), 1.5, float("nan"), float("inf"), "", "x",
            "\ud800", "a\x00b", "x" * 5000, [], {}, [1], {"a": 1}]  # fmt: skip


def spoiled_frames(world) -> list[dict]:
    """Each field of each good frame replaced by each spoiler, and left out."""
    frames = []
    for frame_type, fields in good_frames(world).items():
        for name in fields:
            frames.append({"type": frame_type} | {k: v for k, v in fields.items() if k != name})
            for spoiler in SPOILERS:
                frames.append({"type": frame_type, **fields, name: spoiler})
    return frames


async def test_socket_survives_every_field_spoiled(make_user, group):
    """Deterministic, over one socket: every field of every frame type gets
    every kind of wrong value (and goes missing), from a moderator, who may
    send every frame (a member's refusals come sooner)."""
    world = await database_sync_to_async(make_world)(make_user, group, "moderator")
    assert set(good_frames(world)) == frame_types(), "add the new frame type to good_frames"
    socket = await open_socket(world.person)
    failures = []
    try:
        await socket.send_json_to({"type": "subscribe", "stream": world.room.stream})
        assert (await socket.receive_json_from())["type"] == "subscribed"
        for number, frame in enumerate(spoiled_frames(world), start=1_000_000):
            before = await snapshot()
            with fuzzing.watching_logs() as logs:
                await socket.send_to(text_data=json.dumps(frame))
                await socket.send_json_to({"type": "ping", "id": number})
                try:
                    answers = await answer_to(socket, number)
                except (TimeoutError, AssertionError) as error:
                    failures.append(f"{frame!r:.300}: no pong ({error!r}); {logs.lines()}")
                    break
            after = await snapshot()
            label = f"{frame!r:.300}"
            if logs.records:
                failures.append(f"{label}: logged {logs.lines()}")
            writes = [a for a in answers if a.get("type") == "ack" and a.get("request") in WRITES]
            if after != before and not writes:
                failures.append(f"{label}: answered {answers}, yet the database changed")
    finally:
        await socket.disconnect()
    assert not failures, "\n".join(failures)


def test_every_frame_type_is_fuzzed():
    """The frame types come from the consumer and the apps' registry."""
    assert {"ping", "subscribe", "unsubscribe", "chat.send"} <= frame_types()
    assert set(WorkspaceConsumer.frame_handlers) <= frame_types()
