"""Access that ends while a socket is open, whatever way it ends.

A subscription ends (``unsubscribed`` {reason: "access"}) as soon as the
person may no longer follow the stream: a guest's end that was set, shortened
or extended and shortened after the socket subscribed, a membership removed, a
thread moved or hidden, and any of these one after the other. Real sockets
against the ASGI application (channels' WebsocketCommunicator); the moves of
threads (moved, hidden) alone are in discussions/tests/test_consumers.py.
"""

import asyncio
import datetime
import zoneinfo

import pytest
from channels.db import database_sync_to_async
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core import realtime
from core.hub import get_hub
from discussions import services as discussions
from groups import services
from groups.models import Invitation, Membership, Role
from tests.fixtures.people import enable_mfa, join
from tests.sockets import open_socket

pytestmark = pytest.mark.django_db(transaction=True)

# Generous: the machine running the tests may be busy.
WAIT = 8.0


def soon(seconds: float = 2.0) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(seconds=seconds)


@database_sync_to_async
def emit(stream, event_type="probe", data=None):
    with transaction.atomic():
        return realtime.emit(stream, event_type, data or {})


async def subscribe(socket, stream):
    await socket.send_json_to({"type": "subscribe", "stream": stream})
    frame = await socket.receive_json_from(timeout=WAIT)
    assert frame["type"] == "subscribed", frame


async def until(socket, predicate, timeout=WAIT) -> list[dict]:
    """The frames that arrive up to the first ``predicate`` accepts."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen = []
    while True:
        remaining = deadline - loop.time()
        assert remaining > 0, f"not within {timeout} s; arrived: {seen}"
        try:
            frame = await socket.receive_json_from(timeout=remaining)
        except TimeoutError:
            raise AssertionError(f"not within {timeout} s; arrived: {seen}") from None
        seen.append(frame)
        if predicate(frame):
            return seen


def unsubscribed(stream):
    return lambda frame: frame == {"type": "unsubscribed", "stream": stream, "reason": "access"}


async def assert_ended(socket, stream, timeout=WAIT):
    """The subscription ends, and no event of the stream arrives after that."""
    await until(socket, unsubscribed(stream), timeout)
    await emit(stream)
    assert await socket.receive_nothing(timeout=0.5)


async def assert_follows(socket, stream):
    """The subscription is still there: a new event of the stream arrives."""
    seq = await emit(stream, "probe")
    frames = await until(socket, lambda f: f.get("event") == "probe" and f.get("seq") == seq)
    assert not any(f.get("type") == "unsubscribed" for f in frames), frames


def membership(user, group) -> Membership:
    return Membership.objects.get(user=user, group=group)


@pytest.fixture
def both_moderator(make_user, group, other_group):
    user = enable_mfa(make_user("both@example.org", display_name="Bo Both"))
    join(user, group, Role.MODERATOR)
    join(user, other_group, Role.MODERATOR)
    return user


# --- A guest's end, set or moved after the socket subscribed --------------------------


async def test_subscription_ends_if_role_changed_to_guest_whose_end_then_passes(
    member, moderator, group
):
    stream = f"group:{group.pk}"
    socket = await open_socket(member)
    await subscribe(socket, stream)

    @database_sync_to_async
    def make_guest():
        services.membership_change_role(
            actor=moderator,
            membership=membership(member, group),
            role=Role.GUEST,
            expires_at=soon(),
        )

    await make_guest()
    await assert_ended(socket, stream)
    await socket.disconnect()


async def test_subscription_ends_if_guest_end_shortened(guest, moderator, group):
    stream = f"group:{group.pk}"
    socket = await open_socket(guest)
    await subscribe(socket, stream)
    await database_sync_to_async(services.membership_extend)(
        actor=moderator,
        membership=await database_sync_to_async(membership)(guest, group),
        expires_at=soon(),
    )
    await assert_ended(socket, stream)
    await socket.disconnect()


async def test_subscription_ends_if_guest_end_extended_then_shortened(guest, moderator, group):
    stream = f"group:{group.pk}"
    await database_sync_to_async(Membership.objects.filter(user=guest).update)(expires_at=soon(1.5))
    socket = await open_socket(guest)
    await subscribe(socket, stream)

    @database_sync_to_async
    def move_end(expires_at):
        services.membership_extend(
            actor=moderator, membership=membership(guest, group), expires_at=expires_at
        )

    await move_end(timezone.now() + datetime.timedelta(days=7))
    await until(socket, lambda f: f.get("event") == "access.changed")
    # The first end passes: still a guest, still subscribed.
    await asyncio.sleep(2)
    await assert_follows(socket, stream)
    await move_end(soon())
    await assert_ended(socket, stream)
    await socket.disconnect()


async def test_subscription_ends_if_invited_guest_end_is_shortened(make_user, moderator, group):
    person = await database_sync_to_async(make_user)("expert@example.org")

    @database_sync_to_async
    def invite_and_accept():
        invitation = services.invitation_send(
            actor=moderator,
            group=group,
            email=person.email,
            role=Role.GUEST,
            access_until=timezone.now() + datetime.timedelta(days=3),
        )
        token = invitation.set_new_token()
        Invitation.objects.filter(pk=invitation.pk).update(token_hash=invitation.token_hash)
        services.invitation_accept(user=person, token=token)

    await invite_and_accept()
    stream = f"group:{group.pk}"
    socket = await open_socket(person)
    await subscribe(socket, stream)
    await database_sync_to_async(services.membership_extend)(
        actor=moderator,
        membership=await database_sync_to_async(membership)(person, group),
        expires_at=soon(),
    )
    await assert_ended(socket, stream)
    await socket.disconnect()


async def test_subscription_ends_of_every_kind_if_guest_end_passes(guest, moderator, group):
    thread = await database_sync_to_async(discussions.thread_create)(
        actor=moderator, group=group, title="Plan", body="Let us plan."
    )
    socket = await open_socket(guest)
    for stream in (f"group:{group.pk}", thread.stream):
        await subscribe(socket, stream)
    await database_sync_to_async(services.membership_extend)(
        actor=moderator,
        membership=await database_sync_to_async(membership)(guest, group),
        expires_at=soon(),
    )
    remaining = {f"group:{group.pk}", thread.stream}

    def all_ended(frame):
        if frame.get("type") == "unsubscribed" and frame.get("reason") == "access":
            remaining.discard(frame["stream"])
        return not remaining

    await until(socket, all_ended)
    await socket.disconnect()


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])
async def test_subscription_follows_the_end_of_day_in_the_moderators_time_zone(
    member, moderator, group, zone
):
    """The manage form takes a date: the access ends at the end of that day
    where the moderator is, and the open socket takes that same moment."""
    stream = f"group:{group.pk}"
    socket = await open_socket(member)
    await subscribe(socket, stream)

    @database_sync_to_async
    def make_guest_through_the_form():
        moderator.time_zone = zone
        moderator.save(update_fields=["time_zone"])
        client = Client()
        client.force_login(moderator)
        day = timezone.localdate(timezone=zoneinfo.ZoneInfo(zone))
        response = client.post(
            reverse("groups:membership_role", args=[group.slug, membership(member, group).pk]),
            {"role": Role.GUEST, "access_until": day.isoformat()},
        )
        assert response.status_code == 302
        return datetime.datetime.combine(
            day, datetime.time(23, 59, 59), tzinfo=zoneinfo.ZoneInfo(zone)
        )

    end = await make_guest_through_the_form()
    assert (await database_sync_to_async(membership)(member, group)).expires_at == end
    # The socket was told (the process's events reach it one after the other,
    # so once a later one arrived, it has decided afresh) and holds the same
    # end, with a timer waiting for it.
    await until(socket, lambda f: f.get("event") == "access.changed")
    await assert_follows(socket, stream)
    consumer = next(iter(get_hub().subscribers[stream]))
    assert consumer.subscriptions[stream].access.expires_at == end
    assert consumer.subscriptions[stream].timer is not None
    await socket.disconnect()


# --- Threads: removal, expiry, move, hide, and one after the other --------------------


async def test_thread_subscription_ends_if_member_removed(member, moderator, group):
    thread = await database_sync_to_async(discussions.thread_create)(
        actor=moderator, group=group, title="Plan", body="Let us plan."
    )
    socket = await open_socket(member)
    await subscribe(socket, thread.stream)
    await database_sync_to_async(services.membership_revoke)(
        actor=moderator, membership=await database_sync_to_async(membership)(member, group)
    )
    await assert_ended(socket, thread.stream)
    await socket.disconnect()


async def test_thread_subscription_ends_if_moved_and_then_member_removed_from_new_group(
    make_user, both_moderator, group, other_group
):
    """A member of A and C follows a thread of A; it moves to C; they are
    removed from C."""
    person = await database_sync_to_async(make_user)("ac@example.org")
    await database_sync_to_async(join)(person, group)
    await database_sync_to_async(join)(person, other_group)
    thread = await database_sync_to_async(discussions.thread_create)(
        actor=both_moderator, group=group, title="Plan", body="Let us plan."
    )
    socket = await open_socket(person)
    await subscribe(socket, thread.stream)
    await database_sync_to_async(discussions.thread_move)(
        actor=both_moderator, thread=thread, to_group=other_group
    )
    await until(socket, lambda f: f.get("event") == "access.changed")
    await assert_follows(socket, thread.stream)  # still theirs: they are in C
    await database_sync_to_async(services.membership_revoke)(
        actor=both_moderator,
        membership=await database_sync_to_async(membership)(person, other_group),
    )
    await assert_ended(socket, thread.stream)
    # Their own group's stream (A) stays.
    await socket.disconnect()


async def test_thread_subscription_follows_the_new_groups_guest_end_after_a_move(
    make_user, both_moderator, group, other_group
):
    """A member of A, guest of C until shortly, follows a thread of A; it
    moves to C: the subscription ends with their access to C."""
    person = await database_sync_to_async(make_user)("ac@example.org")
    await database_sync_to_async(join)(person, group)
    await database_sync_to_async(join)(person, other_group, Role.GUEST, soon(4))
    thread = await database_sync_to_async(discussions.thread_create)(
        actor=both_moderator, group=group, title="Plan", body="Let us plan."
    )
    socket = await open_socket(person)
    await subscribe(socket, thread.stream)
    await database_sync_to_async(discussions.thread_move)(
        actor=both_moderator, thread=thread, to_group=other_group
    )
    await until(socket, lambda f: f.get("event") == "access.changed")
    await assert_ended(socket, thread.stream)
    await socket.disconnect()


async def test_thread_subscription_ends_if_moved_and_then_hidden(
    make_user, both_moderator, group, other_group
):
    person = await database_sync_to_async(make_user)("ac@example.org")
    await database_sync_to_async(join)(person, group)
    await database_sync_to_async(join)(person, other_group)
    thread = await database_sync_to_async(discussions.thread_create)(
        actor=both_moderator, group=group, title="Plan", body="Let us plan."
    )
    socket = await open_socket(person)
    await subscribe(socket, thread.stream)
    await database_sync_to_async(discussions.thread_move)(
        actor=both_moderator, thread=thread, to_group=other_group
    )
    await until(socket, lambda f: f.get("event") == "access.changed")
    await database_sync_to_async(discussions.thread_hide)(actor=both_moderator, thread=thread)
    await assert_ended(socket, thread.stream)
    await socket.disconnect()


async def test_organiser_subscriptions_end_if_no_longer_staff(organiser, group):
    stream = f"group:{group.pk}"
    socket = await open_socket(organiser)
    await subscribe(socket, stream)

    @database_sync_to_async
    def demote():
        organiser.is_staff = False
        organiser.save()

    await demote()
    await assert_ended(socket, stream)
    await socket.disconnect()
