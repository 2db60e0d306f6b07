"""Thread streams over the socket: who may follow a thread live, what reaches
them, and access that ends at once when the thread moves or is hidden."""

import pytest
from channels.db import database_sync_to_async

from discussions import services
from groups.models import Role
from tests.fixtures.people import join
from tests.sockets import open_socket

pytestmark = pytest.mark.django_db(transaction=True)


async def subscribe(socket, stream):
    await socket.send_json_to({"type": "subscribe", "stream": stream})
    return await socket.receive_json_from()


@pytest.fixture
def people(
    member,
    guest,
    moderator,
    organiser,
    outsider,
    other_member,
    other_moderator,
    expired_guest,
    removed_member,
):
    """Everyone by fixture name (made before the test's event loop runs)."""
    return {
        "member": member,
        "guest": guest,
        "moderator": moderator,
        "organiser": organiser,
        "outsider": outsider,
        "other_member": other_member,
        "other_moderator": other_moderator,
        "expired_guest": expired_guest,
        "removed_member": removed_member,
    }


@pytest.fixture
def thread(group, member):
    return services.thread_create(
        actor=member, group=group, title="Labour pathways", body="What works for whom?"
    )


@pytest.fixture
def hidden_thread(group, member, moderator):
    thread = services.thread_create(actor=member, group=group, title="Hidden", body="Quiet.")
    return services.thread_hide(actor=moderator, thread=thread)


@pytest.mark.parametrize("actor", ["member", "guest", "moderator", "organiser"])
async def test_thread_subscription_allowed_if_person_of_the_group(people, thread, actor):
    socket = await open_socket(people[actor])
    frame = await subscribe(socket, thread.stream)
    assert frame["type"] == "subscribed" and frame["stream"] == thread.stream
    await socket.disconnect()


@pytest.mark.parametrize(
    "actor", ["outsider", "other_member", "other_moderator", "expired_guest", "removed_member"]
)
async def test_thread_subscription_refused_if_not_person_of_the_group(people, thread, actor):
    socket = await open_socket(people[actor])
    frame = await subscribe(socket, thread.stream)
    assert frame["type"] == "error" and frame["code"] == "forbidden"
    await database_sync_to_async(services.post_create)(
        actor=people["member"], thread=thread, body="Psst."
    )
    assert await socket.receive_nothing(timeout=0.2)
    await socket.disconnect()


@pytest.mark.parametrize(
    ("actor", "allowed"),
    [("member", False), ("guest", False), ("moderator", True), ("organiser", True)],
)
async def test_hidden_thread_subscription_allowed_only_if_moderator(
    people, hidden_thread, actor, allowed
):
    socket = await open_socket(people[actor])
    frame = await subscribe(socket, hidden_thread.stream)
    assert (frame["type"] == "subscribed") is allowed
    await socket.disconnect()


@pytest.mark.parametrize("stream", ["thread:999999", "thread:abc", "thread:0x1", "thread:"])
async def test_thread_subscription_refused_if_thread_missing_or_malformed(member, stream):
    socket = await open_socket(member)
    frame = await subscribe(socket, stream)
    assert frame["type"] == "error" and frame["code"] in {"forbidden", "bad_stream"}
    # The socket still answers: a bad key is refused, not a crash.
    await socket.send_json_to({"type": "ping", "id": 7})
    assert await socket.receive_json_from() == {"type": "pong", "id": 7}
    await socket.disconnect()


async def test_post_created_through_service_reaches_subscribed_socket(thread, member, guest):
    socket = await open_socket(member)
    await subscribe(socket, thread.stream)
    post = await database_sync_to_async(services.post_create)(
        actor=guest, thread=thread, body="A reply."
    )
    frame = await socket.receive_json_from()
    assert frame["type"] == "event" and frame["stream"] == thread.stream
    assert frame["event"] == "post.created"
    assert frame["data"] == {"post": post.pk, "parent": None, "position": 2}
    await socket.disconnect()


async def test_post_events_of_a_thread_reach_nobody_of_another_group(
    thread, other_member, other_group, member
):
    other_thread = await database_sync_to_async(services.thread_create)(
        actor=other_member, group=other_group, title="Elsewhere", body="Hi."
    )
    socket = await open_socket(other_member)
    await subscribe(socket, other_thread.stream)
    await database_sync_to_async(services.post_create)(actor=member, thread=thread, body="Mine.")
    assert await socket.receive_nothing(timeout=0.2)
    await socket.disconnect()


async def test_subscription_ends_if_thread_moved_to_another_group(
    thread, member, moderator, other_group
):
    await database_sync_to_async(join)(moderator, other_group, Role.MODERATOR)
    socket = await open_socket(member)
    await subscribe(socket, thread.stream)
    await database_sync_to_async(services.thread_move)(
        actor=moderator, thread=thread, to_group=other_group
    )
    frames = [await socket.receive_json_from() for _ in range(3)]
    assert [frame.get("event") for frame in frames[:2]] == ["thread.moved", "access.changed"]
    assert frames[2] == {"type": "unsubscribed", "stream": thread.stream, "reason": "access"}
    # Nothing more of the thread reaches them.
    await database_sync_to_async(services.post_create)(
        actor=moderator, thread=thread, body="In the new group."
    )
    assert await socket.receive_nothing(timeout=0.2)
    await socket.disconnect()


async def test_subscription_stays_if_thread_moved_within_reach(
    thread, moderator, organiser, other_group
):
    await database_sync_to_async(join)(moderator, other_group, Role.MODERATOR)
    socket = await open_socket(organiser)
    await subscribe(socket, thread.stream)
    await database_sync_to_async(services.thread_move)(
        actor=moderator, thread=thread, to_group=other_group
    )
    frames = [await socket.receive_json_from() for _ in range(2)]
    assert [frame["event"] for frame in frames] == ["thread.moved", "access.changed"]
    assert await socket.receive_nothing(timeout=0.2)
    await socket.disconnect()


async def test_subscription_ends_for_members_if_thread_hidden(thread, member, moderator):
    member_socket = await open_socket(member)
    moderator_socket = await open_socket(moderator)
    await subscribe(member_socket, thread.stream)
    await subscribe(moderator_socket, thread.stream)
    await database_sync_to_async(services.thread_hide)(actor=moderator, thread=thread)
    frames = [await member_socket.receive_json_from() for _ in range(3)]
    assert frames[0]["event"] == "thread.updated" and frames[0]["data"]["hidden"] is True
    assert frames[2] == {"type": "unsubscribed", "stream": thread.stream, "reason": "access"}
    moderator_frames = [await moderator_socket.receive_json_from() for _ in range(2)]
    assert [frame["event"] for frame in moderator_frames] == ["thread.updated", "access.changed"]
    assert await moderator_socket.receive_nothing(timeout=0.2)
    await member_socket.disconnect()
    await moderator_socket.disconnect()


async def test_missed_post_events_replayed_if_subscribed_with_since(thread, member, guest):
    from core import realtime

    seq = await database_sync_to_async(realtime.last_seq)(thread.stream)
    for body in ("One.", "Two."):
        await database_sync_to_async(services.post_create)(actor=guest, thread=thread, body=body)
    socket = await open_socket(member)
    await socket.send_json_to({"type": "subscribe", "stream": thread.stream, "since": seq})
    assert (await socket.receive_json_from())["type"] == "subscribed"
    replayed = [await socket.receive_json_from() for _ in range(2)]
    assert [frame["event"] for frame in replayed] == ["post.created", "post.created"]
    assert [frame["data"]["position"] for frame in replayed] == [2, 3]
    await socket.disconnect()
