"""Faults, with real processes: what people see when a part of the system
fails under them, and that nothing acknowledged is lost.

- a daphne process killed (SIGKILL) in the middle of a meeting, behind nginx;
- PostgreSQL restarted under traffic (a throwaway cluster of the test's own,
  never the machine's shared one);
- the disk full during an upload (a file-size limit on the daphne process).

The task worker killed mid-run is tests/test_outbox_worker.py's
``test_worker_killed_mid_run_loses_no_email_and_doubles_at_most_one``.
"""

import asyncio
import contextlib
import os
import signal

import pytest
from django.db import connection

from meetings import services as meeting_services
from meetings.models import ChatMessage
from tests import servers, topology
from tests.chat_client import ReconnectingChatClient
from tests.fixtures.people import join

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

CATCH_UP_TIMEOUT = 30


def stored_messages(room_id: int) -> list[tuple[int, int, int, str]]:
    """(seq, id, author id, body) of the room's messages, in sequence order."""
    try:
        return list(
            ChatMessage.objects.filter(room_id=room_id)
            .order_by("seq")
            .values_list("seq", "pk", "author_id", "body")
        )
    finally:
        connection.close()  # this thread's own connection


def shown_once_in_order(client) -> list[tuple[int, int]]:
    """(seq, id) of what the client received, each message once: checked
    to be strictly increasing (nothing repeated, nothing out of order)."""
    shown = [(message["seq"], message["id"]) for message in client.messages()]
    seqs = [seq for seq, _pk in shown]
    assert seqs == sorted(set(seqs)), f"{client.name} received {seqs}"
    return shown


def assert_nothing_lost(clients, acked, stored) -> None:
    """Every acknowledged message is stored once; every client was shown
    every stored message once, in sequence order; each sender's messages
    are stored in the order they were sent."""
    stored_ids = [pk for _seq, pk, _author, _body in stored]
    assert len(stored_ids) == len(set(stored_ids))
    assert [seq for seq, *_ in stored] == list(range(1, len(stored) + 1))
    by_id = {pk: body for _seq, pk, _author, body in stored}
    for pk, body in acked:
        assert by_id.get(pk) == body, (pk, body)
    bodies = [body for *_x, body in stored]
    assert len(bodies) == len(set(bodies)), "a message was stored twice"
    for client in clients:
        assert shown_once_in_order(client) == [(seq, pk) for seq, pk, *_ in stored], client.name
        own = [body for body in bodies if body.startswith(f"{client.name} #")]
        assert own == sorted(own, key=lambda body: int(body.split("#")[1])), own


@pytest.fixture
def meeting_people(group, make_user):
    """The group's room and four people in it."""
    people = [make_user(f"fault{number}@example.org") for number in range(4)]
    for person in people:
        join(person, group)
    return meeting_services.standing_room(group), people


# --- A daphne process killed in the middle of a meeting -------------------------------


@pytest.fixture
def site(tmp_path):
    reason = topology.missing_services()
    if reason:
        pytest.skip(reason)
    database = servers.database_url(connection.settings_dict)  # the test database
    with topology.running(tmp_path, database_url=database) as built:
        yield built


@pytest.fixture
def meeting_room(site, meeting_people, password):
    """The room and the people's sessions, signed in through nginx (the
    processes have a SECRET_KEY of their own)."""
    room, people = meeting_people
    return room, [topology.log_in(site.nginx, person.email, password) for person in people]


async def test_daphne_killed_mid_meeting_loses_no_acknowledged_message(site, meeting_room):
    room, sessions = meeting_room
    clients = [
        ReconnectingChatClient(site.nginx, session, room.pk, name=f"c{number}")
        for number, session in enumerate(sessions)
    ]
    for client in clients:
        assert (await client.connect())["type"] == "subscribed"
    per_client = 12
    acked: list[tuple[int, str]] = []
    killed = asyncio.Event()

    async def chat(client):
        for number in range(per_client):
            body = f"{client.name} #{number}"
            ack = await client.say_reliably(body)
            assert ack["type"] == "ack", ack
            acked.append((ack["id"], body))
            if not killed.is_set():
                await asyncio.sleep(0.05)
            else:
                await asyncio.sleep(0.01)

    async def kill_when_under_way():
        while len(acked) < per_client:  # a quarter of the messages acknowledged
            await asyncio.sleep(0.01)
        victim = site.processes[site.web_a]
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(5)
        killed.set()

    await asyncio.gather(kill_when_under_way(), *(chat(client) for client in clients))

    # The sockets that were on the killed process (least_conn shares four
    # sockets two and two) reconnected through nginx to the other one.
    dropped = [client.name for client in clients if client.reconnects]
    assert 1 <= len(dropped) < len(clients), dropped
    total = len(clients) * per_client
    assert len(acked) == total
    for client in clients:
        await client.wait_until(
            lambda client=client: len(client.seqs()) >= total, timeout=CATCH_UP_TIMEOUT
        )
    await asyncio.sleep(1)  # anything repeated late would show now

    stored = await asyncio.to_thread(stored_messages, room.pk)
    assert len(stored) == total
    assert_nothing_lost(clients, acked, stored)
    # The survivor's log: no traceback from the other's death.
    assert "Traceback" not in (site.workdir / "daphne-b.log").read_text()
    for client in clients:
        with contextlib.suppress(Exception):
            await client.close()
