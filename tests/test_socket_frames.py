"""The frame matrix: every socket frame type, sent by every kind of person.

Every frame type the socket accepts (the consumer's own ``frame_handlers``
and the frames apps register with ``core.streams``) has its rows in
``MATRIX``: for each person, what the socket answers and whether the
database changed. A frame type without its rows fails
``test_every_frame_type_has_its_rows``.

Each case runs on a fresh database: the person opens a socket, subscribes
to the group's chat room when the case says so (those who may not are
refused, and send the frame anyway), sends the frame, and the answers are
collected until the socket is quiet. Outcomes:

- ``ack``, ``history``, ``pong``, ``subscribed``, ``unsubscribed``: that answer;
- ``error:<code>``: an error frame with that code;
- ``event:<name>``: no answer, the room's unstored event (typing);
- ``nothing``: no answer at all;
- ``refused``: no socket (a visitor: no session, closed at connect).

An answer that writes (``WRITES``) must change the database; any other
outcome must leave it as it was (presence events, unstored, are ignored).
"""

import copy
import datetime
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.apps import apps
from django.utils import timezone

from core import streams
from core.consumers import CLOSE_UNAUTHENTICATED, WorkspaceConsumer
from groups.models import Membership, Role
from meetings import chat, services
from tests.fixtures.people import enable_mfa, join
from tests.sockets import ORIGIN, open_socket
from workspace.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

ACTORS = [
    "member",
    "guest",
    "expired_guest",
    "removed_member",
    "moderator",  # with two-factor authentication
    "moderator_without_mfa",
    "visitor",  # no session
]
ANSWER_WITHIN = 5.0  # seconds for an answer to come
QUIET = 0.3  # seconds without a frame: nothing (more) comes
SETTLE = 0.15  # seconds without a frame after an answer: it is complete

# The subscription a case starts from: True subscribes to the room first.
SUBSCRIBED = True


def outcomes(default: str, **others: str) -> dict[str, str]:
    table = dict.fromkeys(ACTORS, default)
    table["visitor"] = "refused"
    table.update(others)
    return table


# Who may still reach the room: the group's valid people.
def for_people(answer: str, *, gone: str, **others: str) -> dict[str, str]:
    """``answer`` for the group's people, ``gone`` for the expired guest and
    the removed member."""
    return outcomes(answer, expired_guest=gone, removed_member=gone, **others)


# case -> (frame type, subscribe first, frame builder, outcome per person).
# The builder gets the world and the person; "own" is a message the person
# wrote while they could, "others" one by someone else of the group.
MATRIX = {
    "ping": ("ping", False, lambda w, me: {"type": "ping", "id": 1}, outcomes("pong")),
    "subscribe": (
        "subscribe",
        False,
        lambda w, me: {"type": "subscribe", "stream": w.room.stream},
        for_people("subscribed", gone="error:forbidden"),
    ),
    "subscribe own user stream": (
        "subscribe",
        False,
        lambda w, me: {"type": "subscribe", "stream": f"user:{me.pk}"},
        outcomes("subscribed"),
    ),
    "subscribe someone else's user stream": (
        "subscribe",
        False,
        lambda w, me: {"type": "subscribe", "stream": f"user:{w.author.pk}"},
        outcomes("error:forbidden"),
    ),
    "unsubscribe": (
        "unsubscribe",
        SUBSCRIBED,
        lambda w, me: {"type": "unsubscribe", "stream": w.room.stream},
        for_people("unsubscribed", gone="nothing"),
    ),
    "chat.send": (
        "chat.send",
        SUBSCRIBED,
        lambda w, me: {"type": "chat.send", "room": w.room.pk, "body": "Hello"},
        for_people("ack", gone="error:not_subscribed"),
    ),
    "chat.edit own": (
        "chat.edit",
        SUBSCRIBED,
        lambda w, me: {"type": "chat.edit", "message": w.own[me.pk], "body": "Changed"},
        for_people("ack", gone="error:forbidden"),
    ),
    "chat.edit others'": (
        "chat.edit",
        SUBSCRIBED,
        lambda w, me: {"type": "chat.edit", "message": w.others, "body": "Changed"},
        outcomes("error:forbidden"),
    ),
    "chat.delete own": (
        "chat.delete",
        SUBSCRIBED,
        lambda w, me: {"type": "chat.delete", "message": w.own[me.pk]},
        for_people("ack", gone="error:forbidden"),
    ),
    "chat.delete others'": (
        "chat.delete",
        SUBSCRIBED,
        lambda w, me: {"type": "chat.delete", "message": w.others},
        for_people(
            "error:forbidden",
            gone="error:forbidden",
            moderator="ack",
            moderator_without_mfa="error:mfa_required",
        ),
    ),
    "chat.history": (
        "chat.history",
        SUBSCRIBED,
        lambda w, me: {"type": "chat.history", "room": w.room.pk},
        for_people("history", gone="error:forbidden"),
    ),
    "typing": (
        "typing",
        SUBSCRIBED,
        lambda w, me: {"type": "typing", "room": w.room.pk},
        for_people("event:typing", gone="error:not_subscribed"),
    ),
    "presence.heartbeat": (
        "presence.heartbeat",
        SUBSCRIBED,
        lambda w, me: {"type": "presence.heartbeat", "room": w.room.pk},
        for_people("nothing", gone="error:not_subscribed"),
    ),
    "chat.mute": (
        "chat.mute",
        SUBSCRIBED,
        lambda w, me: {"type": "chat.mute", "room": w.room.pk, "user": w.author.pk, "minutes": 5},
        for_people(
            "error:forbidden",
            gone="error:not_subscribed",
            moderator="ack",
            moderator_without_mfa="error:mfa_required",
        ),
    ),
    "chat.read": (
        "chat.read",
        SUBSCRIBED,
        lambda w, me: {"type": "chat.read", "room": w.room.pk, "seq": w.last_seq},
        for_people("ack", gone="error:forbidden"),
    ),
}

# Frames whose ack says something was written.
WRITES = {"chat.send", "chat.edit", "chat.delete", "chat.mute", "chat.read"}


def frame_types() -> set[str]:
    """Every frame type the socket accepts."""
    return set(WorkspaceConsumer.frame_handlers) | set(streams._frame_handlers)


def test_every_frame_type_has_its_rows():
    covered = {frame_type for frame_type, *_ in MATRIX.values()}
    assert frame_types() - covered == set(), "add rows for these frame types"
    assert covered - frame_types() == set(), "rows for frame types that are gone"
    for case, (_, _, _, table) in MATRIX.items():
        assert set(table) == set(ACTORS), case


def test_moderator_without_mfa_carries_out_no_moderator_frame():
    """The rows of a moderator without two-factor authentication: every
    moderator action refused as needing it (what their ack would mean is what
    a moderator with it gets)."""
    for case, (_, _, _, table) in MATRIX.items():
        if table["moderator"] == "ack" and table["member"] != "ack":
            assert table["moderator_without_mfa"] == "error:mfa_required", case


# --- The world -------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def own_redis_names(settings):
    """With Redis, this test's channel-layer groups and presence keys get a
    prefix of their own (other runs may share the Redis and its room ids)."""
    if not settings.REDIS_URL:
        return
    prefix = f"frames-test-{uuid.uuid4().hex[:10]}"
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    layers["default"]["CONFIG"]["prefix"] = prefix
    settings.CHANNEL_LAYERS = layers
    settings.PRESENCE_KEY_PREFIX = prefix


@pytest.fixture(autouse=True)
def _typing_forgotten():
    """Typing is announced once per person and room every few seconds; ids
    come back in a fresh database."""
    chat._typing_seen.clear()
    yield
    chat._typing_seen.clear()


class World:
    pass


def make_world(make_user, group, actor: str):
    """The group's standing room with a message by ``author`` and one by the
    person (written while they could); the person as ``actor`` describes."""
    world = World()
    world.room = services.standing_room(group)
    world.author = make_user("author@example.org", display_name="Ada Author")
    join(world.author, group)
    world.others = services.message_send(actor=world.author, room=world.room, body="Mine").pk
    world.own = {}
    world.person = None
    if actor == "visitor":
        world.last_seq = 1
        return world
    person = make_user(f"{actor}@example.org".replace("_", "-"), display_name=actor.title())
    role = {"guest": Role.GUEST, "expired_guest": Role.GUEST}.get(actor, Role.MEMBER)
    if actor.startswith("moderator"):
        role = Role.MODERATOR
    if actor == "moderator":
        enable_mfa(person)
    membership = join(person, group, role)
    world.own[person.pk] = services.message_send(actor=person, room=world.room, body="Own").pk
    if actor == "expired_guest":
        Membership.objects.filter(pk=membership.pk).update(
            expires_at=timezone.now() - datetime.timedelta(minutes=1)
        )
    elif actor == "removed_member":
        Membership.objects.filter(pk=membership.pk).update(active=False)
    world.person = person
    world.last_seq = 2
    return world


@database_sync_to_async
def snapshot() -> dict:
    rows = {}
    for label in ("groups", "meetings", "core"):
        for model in apps.get_app_config(label).get_models():
            rows[model._meta.label] = list(model.objects.order_by("pk").values())
    return rows


async def answers(socket, *, expected: str) -> list[dict]:
    """The frames the socket sends, but presence: until SETTLE seconds pass
    without one after the first, or (when ``expected`` is that nothing
    comes, or nothing came within ANSWER_WITHIN) QUIET seconds without any."""
    frames = []
    wait = QUIET if expected == "nothing" else ANSWER_WITHIN
    while not await socket.receive_nothing(timeout=wait):
        frame = await socket.receive_json_from()
        if frame.get("type") == "event" and frame.get("event") == "presence":
            continue
        frames.append(frame)
        wait = SETTLE
    return frames


def outcome_of(frames: list[dict]) -> str:
    replies = [frame for frame in frames if frame.get("type") != "event"]
    if replies:
        return " ".join(
            f"error:{frame['code']}" if frame["type"] == "error" else frame["type"]
            for frame in replies
        )
    if frames:
        return " ".join(f"event:{frame['event']}" for frame in frames)
    return "nothing"


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("case", list(MATRIX))
async def test_frame_matrix(case, actor, make_user, group):
    frame_type, subscribe_first, build, table = MATRIX[case]
    world = await database_sync_to_async(make_world)(make_user, group, actor)
    expected = table[actor]
    if world.person is None:
        socket = WebsocketCommunicator(application, "/ws/", headers=[ORIGIN])
        connected, code = await socket.connect()
        assert not connected and code == CLOSE_UNAUTHENTICATED
        assert expected == "refused"
        await socket.disconnect()
        return
    socket = await open_socket(world.person)
    try:
        if subscribe_first:
            await socket.send_json_to({"type": "subscribe", "stream": world.room.stream})
            # Subscribed, or refused: the frame goes anyway.
            await answers(socket, expected="subscribed or error")
        before = await snapshot()
        frame = build(world, world.person)
        assert frame["type"] == frame_type
        await socket.send_json_to(frame)
        got = outcome_of(await answers(socket, expected=expected))
        after = await snapshot()
    finally:
        await socket.disconnect()
    assert got == expected, f"{case} as {actor}: expected {expected}, got {got}"
    if got == "ack" and frame_type in WRITES:
        assert after != before, f"{case} as {actor}: acknowledged, nothing written"
    else:
        assert after == before, f"{case} as {actor}: {got}, yet the database changed"
