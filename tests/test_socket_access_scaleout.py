"""Access and sessions that end while sockets are open on several server
processes (two daphne processes sharing PostgreSQL and Redis, as the two
socket processes of docker-compose.yml do).

The change is made here, in the test process, through the services and the
models; its events reach the servers through Redis (the same prefix as this
run's channel layer). Each socket, on whichever process, ends what its person
may no longer follow, or closes if its session ended.
"""

import asyncio
import datetime
import os

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.utils import timezone

from groups import services as group_services
from groups.models import Membership, Role
from meetings import services
from tests import servers
from tests.chat_client import ChatClient, session_for
from tests.fixtures.people import join
from tests.test_chat_scaleout import REDIS_URL, missing_services

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

WAIT = 15


@pytest.fixture
def two_processes(tmp_path):
    reason = missing_services()
    if reason:
        pytest.skip(reason)
    # This run's own prefix (conftest.py): what the services publish here
    # reaches the servers.
    with servers.two_daphnes(
        tmp_path,
        database_url=servers.database_url(connection.settings_dict),
        redis_url=REDIS_URL,
        redis_prefix=os.environ["REDIS_PREFIX"],
    ) as urls:
        yield urls


@pytest.fixture
def room(group):
    return services.standing_room(group)


async def connected_on_both(two_processes, user, room) -> list[ChatClient]:
    clients = []
    for base_url in two_processes:
        client = ChatClient(base_url, await database_sync_to_async(session_for)(user), room.pk)
        assert (await client.connect())["type"] == "subscribed"
        clients.append(client)
    return clients


async def test_guest_end_set_after_subscribing_ends_the_room_on_every_process(
    two_processes, room, member, moderator, group
):
    clients = await connected_on_both(two_processes, member, room)

    @database_sync_to_async
    def make_guest_for_three_seconds():
        group_services.membership_change_role(
            actor=moderator,
            membership=Membership.objects.get(user=member, group=group),
            role=Role.GUEST,
            expires_at=timezone.now() + datetime.timedelta(seconds=3),
        )

    await make_guest_for_three_seconds()
    ended = {"type": "unsubscribed", "stream": f"room:{room.pk}", "reason": "access"}
    for client in clients:
        await client.wait_for(lambda frame: frame == ended, timeout=WAIT)
    for client in clients:
        await client.close()


async def test_password_change_closes_the_sessions_sockets_on_every_process(
    two_processes, room, make_user, group
):
    person = await database_sync_to_async(make_user)("both@example.org")
    await database_sync_to_async(join)(person, group)
    clients = await connected_on_both(two_processes, person, room)

    @database_sync_to_async
    def change_password():
        person.set_password("a-new-pass-phrase")
        person.save()

    await change_password()
    for client in clients:
        await asyncio.wait_for(client.reader, WAIT)  # it reads until the socket closes
        assert client.socket.close_code == 4401
