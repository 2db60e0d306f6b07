"""Scale-out: two daphne processes share chat rooms and presence through Redis
and PostgreSQL, as the two socket processes of docker-compose.yml do.

Both serve the test database and use the Redis of ``REDIS_URL`` under a prefix
of this run's own. A client on process A and one on process B are in the same
room: what is sent through either reaches the other, presence lists both on
both, and who leaves on one process is gone on the other.
"""

import os
import uuid

import pytest
from django.conf import settings
from django.db import connection

from meetings import services
from tests import servers
from tests.chat_client import ChatClient, session_for
from tests.fixtures.people import join

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

REDIS_URL = os.environ.get("REDIS_URL", "")


def missing_services() -> str | None:
    if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return (
            "scale-out needs PostgreSQL shared by several processes: "
            "set DATABASE_URL=postgres://postgres@127.0.0.1:5432/workspace"
        )
    if not REDIS_URL:
        return "scale-out needs Redis between the processes: set REDIS_URL=redis://127.0.0.1:6379/0"
    return None


@pytest.fixture
def two_processes(tmp_path):
    reason = missing_services()
    if reason:
        pytest.skip(reason)
    with servers.two_daphnes(
        tmp_path,
        database_url=servers.database_url(connection.settings_dict),
        redis_url=REDIS_URL,
        redis_prefix=f"scaleout-{uuid.uuid4().hex[:10]}",
    ) as urls:
        yield urls


@pytest.fixture
def room_and_sessions(group, make_user):
    ana = make_user("ana@example.org", display_name="Ana A")
    bo = make_user("bo@example.org", display_name="Bo B")
    for person in (ana, bo):
        join(person, group)
    return services.standing_room(group), session_for(ana), session_for(bo)


async def test_message_sent_through_one_process_reaches_the_other(two_processes, room_and_sessions):
    web_a, web_b = two_processes
    room, ana_session, bo_session = room_and_sessions
    ana = ChatClient(web_a, ana_session, room.pk)
    bo = ChatClient(web_b, bo_session, room.pk)
    assert (await ana.connect())["type"] == "subscribed"
    assert (await bo.connect())["type"] == "subscribed"

    # Presence: both people on both processes.
    for client in (ana, bo):
        await client.wait_until(lambda client=client: client.present() == ["Ana A", "Bo B"])

    ack = await ana.say("Hello from process A")
    assert ack["type"] == "ack"
    await bo.wait_until(lambda: bo.seqs() == [ack["seq"]])
    assert "Hello from process A" in bo.messages()[0]["html"]
    assert bo.messages()[0]["author"]["name"] == "Ana A"

    reply = await bo.say("And back from B")
    await ana.wait_until(lambda: ana.seqs() == [ack["seq"], reply["seq"]])
    await bo.wait_until(lambda: bo.seqs() == [ack["seq"], reply["seq"]])

    # Typing crosses the processes too.
    await bo.send({"type": "typing", "room": room.pk})
    typing = await ana.wait_for(lambda f: f.get("event") == "typing")
    assert typing["data"]["name"] == "Bo B"

    # Who leaves on B is gone on A.
    await bo.close()
    await ana.wait_until(lambda: ana.present() == ["Ana A"])
    await ana.close()
