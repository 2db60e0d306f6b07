"""The chat through a Redis outage, with real processes.

The test runs its own ``redis-server`` on a free port (no persistence) and a
daphne process that uses it as channel layer and cache, serving the test
database. Clients chat; Redis is killed (SIGKILL) and started again on the
same port. The database is the source of truth and Redis only delivers, so:

- every message the server acknowledged is stored, also while Redis is down;
- after Redis is back and the clients have reconnected and caught up, every
  client has every message exactly once, in sequence order, including those
  sent during the outage;
- the socket keeps working during the outage: sending, and opening new sockets.
"""

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import uuid
from pathlib import Path

import pytest
from django.db import connection

from meetings import services
from meetings.models import ChatMessage
from tests import servers
from tests.chat_client import ChatClient, session_for
from tests.fixtures.people import join

pytestmark = pytest.mark.django_db(transaction=True)

CATCH_UP_TIMEOUT = 30


def redis_binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    return "/usr/bin/redis-server" if os.access("/usr/bin/redis-server", os.X_OK) else None


class RedisProcess:
    """A redis-server of the test's own that can be killed and started again
    on the same port."""

    def __init__(self, binary: str, port: int, workdir: Path):
        self.binary = binary
        self.port = port
        self.workdir = workdir
        self.process: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.starts += 1
        log = open(self.workdir / f"redis-{self.starts}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        servers.wait_for_port(self.port, process=self.process)

    def kill(self) -> None:
        """SIGKILL: no goodbye to the clients, nothing saved."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()


@pytest.fixture
def redis_process(tmp_path):
    binary = redis_binary()
    if binary is None:
        pytest.skip("the reliability test runs its own Redis: install redis-server")
    redis = RedisProcess(binary, servers.free_port(), tmp_path)
    redis.start()
    yield redis
    redis.stop()


@pytest.fixture
def chat_server(redis_process, tmp_path):
    """daphne on the test database with the test's own Redis."""
    log_path = tmp_path / "daphne.log"
    env = {
        "DEBUG": "1",
        "DATABASE_URL": servers.database_url(connection.settings_dict),
        "REDIS_URL": redis_process.url,
        "REDIS_PREFIX": f"reliability-{uuid.uuid4().hex[:8]}",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
        "LOG_LEVEL": "WARNING",
    }
    with servers.daphne(env=env, log_path=log_path) as (base_url, _process):
        yield base_url
    # Shown with the test's output if it failed.
    print(
        "daphne log, last lines:\n"
        + "\n".join(
            log_path.read_text(errors="replace").splitlines()[
                -int(os.environ.get("CHAT_LOG_LINES", "60")) :
            ]
        )
    )


def stored_messages(room) -> list[tuple[int, int]]:
    try:
        return list(ChatMessage.objects.filter(room=room).order_by("seq").values_list("pk", "seq"))
    finally:
        connection.close()  # this thread's own connection


@pytest.fixture
def room_and_sessions(group, make_user):
    people = [make_user(f"chatter{number}@example.org") for number in range(4)]
    for person in people:
        join(person, group)
    room = services.standing_room(group)
    return room, [session_for(person) for person in people]


async def test_no_acknowledged_message_is_lost_when_redis_dies_and_returns(
    chat_server, redis_process, room_and_sessions
):
    room, (ana, ben, cem, dee) = room_and_sessions
    a, b, c = (ChatClient(chat_server, session, room.pk) for session in (ana, ben, cem))
    for client in (a, b, c):
        assert (await client.connect())["type"] == "subscribed"
    acked = []

    async def say(client, body):
        ack = await client.say(body)
        assert ack["type"] == "ack", ack
        acked.append((ack["seq"], ack["id"], body))

    for number in range(4):
        await say(a, f"before a{number}")
        await say(b, f"before b{number}")
    for client in (a, b, c):
        await client.wait_until(lambda client=client: len(client.seqs()) == 8)

    # Redis dies. C's connection drops meanwhile; A keeps chatting.
    redis_process.kill()
    await c.close()
    for number in range(3):
        await say(a, f"during a{number}")
    # A new socket opens during the outage and catches up from the database.
    d = ChatClient(chat_server, dee, room.pk)
    assert (await d.connect(since=0))["type"] == "subscribed"

    redis_process.start()
    assert (await c.connect())["type"] == "subscribed"  # from the last seq it saw
    for number in range(3):
        await say(b, f"after b{number}")

    total = len(acked)
    assert total == 14
    for client in (a, b, c, d):
        await client.wait_until(
            lambda client=client: len(client.seqs()) >= total, timeout=CATCH_UP_TIMEOUT
        )
    await asyncio.sleep(1)  # anything repeated late would show now

    expected = sorted(acked)
    assert [seq for seq, _id, _body in expected] == list(range(1, total + 1))
    for client in (a, b, c, d):
        shown = [(m["seq"], m["id"], m["html"]) for m in client.messages()]
        assert [(seq, pk) for seq, pk, _html in shown] == [(seq, pk) for seq, pk, _ in expected]
        assert all(
            body in html for (_s, _p, html), (*_x, body) in zip(shown, expected, strict=True)
        )

    assert await asyncio.to_thread(stored_messages, room) == [
        (pk, seq) for seq, pk, _body in expected
    ]

    for client in (a, b, c, d):
        with contextlib.suppress(Exception):
            await client.close()
