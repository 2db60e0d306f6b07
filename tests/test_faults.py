"""Faults, with real processes: what people see when a part of the system
fails under them, and that nothing acknowledged is lost.

- the daphne process holding the sockets killed (SIGKILL) in the middle of a
  meeting, behind nginx; a page process killed under the pages;
- PostgreSQL restarted under traffic (a throwaway cluster of the test's own,
  never the machine's shared one);
- the disk full during an upload (a file-size limit on the daphne process).

The task worker killed mid-run is tests/test_outbox_worker.py's
``test_worker_killed_mid_run_loses_no_email_and_doubles_at_most_one``.
"""

import asyncio
import contextlib
import hashlib
import json
import os
import signal
import subprocess
import threading
import time
import uuid

import psycopg
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import reverse

from documents import services as document_services
from documents.models import Document, DocumentVersion
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


async def sockets_settled(site, wanted, timeout: float = 10) -> dict[str, int]:
    """The sockets open on each process (their access logs), once
    ``wanted(counts)`` holds (or the timeout has passed)."""
    deadline = time.monotonic() + timeout
    while True:
        counts = {url: site.open_sockets(url) for url in (*site.pages, *site.sockets)}
        if wanted(counts) or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(0.1)


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
    # The sockets are on the socket processes only (least_conn: two and two).
    before = await sockets_settled(site, lambda counts: sum(counts.values()) == len(clients))
    assert [before[url] for url in site.pages] == [0, 0], before
    assert sum(before[url] for url in site.sockets) == len(clients), before
    # The socket process holding the most of them dies: the fault that
    # matters for a meeting.
    victim_url = max(site.sockets, key=lambda url: before[url])
    survivor_url = next(url for url in site.sockets if url != victim_url)
    held = before[victim_url]
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
        victim = site.processes[victim_url]
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(5)
        killed.set()

    await asyncio.gather(kill_when_under_way(), *(chat(client) for client in clients))

    # The sockets that were on the killed process (least_conn shares four
    # sockets two and two) reconnected through nginx to the other one.
    dropped = [client.name for client in clients if client.reconnects]
    assert 1 <= len(dropped) < len(clients), dropped
    assert len(dropped) == held, (dropped, before)
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
    # Every socket is on the surviving socket process now, none on a page process.
    after = await sockets_settled(site, lambda counts: counts[survivor_url] == len(clients))
    assert after[survivor_url] == len(clients), after
    assert [after[url] for url in site.pages] == [0, 0], after
    # The survivors' logs: no traceback from the other's death.
    for url in (survivor_url, *site.pages):
        assert "Traceback" not in site.logs[url].read_text(errors="replace"), url
    for client in clients:
        with contextlib.suppress(Exception):
            await client.close()


async def test_page_process_killed_pages_go_to_the_other_and_no_socket_drops(site, meeting_room):
    room, sessions = meeting_room
    client = ReconnectingChatClient(site.nginx, sessions[0], room.pk, name="c0")
    assert (await client.connect())["type"] == "subscribed"
    page = site.nginx + reverse("meetings:group_chat", kwargs={"slug": room.group.slug})
    cookie = {"Cookie": f"sessionid={sessions[0]}"}
    assert (await asyncio.to_thread(topology.fetch, page, headers=cookie)).status == 200

    victim = site.processes[site.web_a]
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(5)

    # nginx passes every page to the other page process (a GET is retried
    # on the next server when the first refuses the connection).
    for _ in range(6):
        answer = await asyncio.to_thread(topology.fetch, page, headers=cookie)
        assert answer.status == 200, answer.status
    # The socket, on a socket process, never noticed.
    ack = await client.say("after the page process died")
    assert ack["type"] == "ack", ack
    assert client.connected and client.reconnects == 0
    assert "Traceback" not in site.logs[site.web_b].read_text(errors="replace")
    await client.close()


# --- PostgreSQL restarted under traffic -------------------------------------------------


@pytest.fixture
def own_postgres(meeting_people):
    """A PostgreSQL cluster of the test's own holding a copy of the test
    database as it is now (schema, and the people and room of the
    fixtures): the shared server on :5432 is never restarted."""
    if connection.vendor != "postgresql":
        pytest.skip(
            "the restart test copies the test database into a PostgreSQL cluster of its "
            "own with pg_dump: run with DATABASE_URL=postgres://…, as CI does"
        )
    try:
        cluster_context = servers.postgres_cluster()
        cluster = cluster_context.__enter__()
    except LookupError as missing:
        pytest.skip(f"the restart test runs its own PostgreSQL: {missing} (Debian: postgresql)")
    try:
        source = servers.database_url(connection.settings_dict)
        with psycopg.connect(cluster.url(), autocommit=True) as admin:
            admin.execute("CREATE DATABASE workspace")
        dump = subprocess.run(
            [str(cluster.binaries / "pg_dump"), "--no-owner", "--no-privileges", source],
            capture_output=True,
            timeout=60,
            check=True,
        )
        restore = subprocess.run(
            ["psql", "-q", "-v", "ON_ERROR_STOP=1", cluster.url("workspace")],
            input=dump.stdout,
            capture_output=True,
            timeout=60,
        )
        assert restore.returncode == 0, restore.stderr.decode()[-2000:]
        yield cluster
    finally:
        cluster_context.__exit__(None, None, None)


@pytest.fixture
def server_on_own_postgres(own_postgres, tmp_path):
    """One daphne with production settings (DEBUG=0) on the test's cluster,
    waiting at most 2 s for a pooled connection."""
    port = servers.free_port()
    env = {
        **topology.production_env(
            port=port, database_url=own_postgres.url("workspace"), workdir=tmp_path
        ),
        "SITE_URL": f"http://127.0.0.1:{port}",
        "TRUSTED_PROXY_COUNT": "0",
        "DOCUMENTS_X_ACCEL": "0",
        "REDIS_URL": "",
        "DATABASE_POOL_TIMEOUT": "2",
        "LOG_LEVEL": "INFO",
    }
    topology.collect_static(env)
    log_path = tmp_path / "daphne.log"
    with servers.daphne(env=env, port=port, log_path=log_path) as (base_url, process):
        yield base_url, process, log_path
    print("daphne log, last lines:\n" + log_path.read_text(errors="replace")[-4000:])


class Poller(threading.Thread):
    """Asks for a page every 50 ms and keeps every answer (time, status,
    Retry-After, body)."""

    def __init__(self, url: str, session: str):
        super().__init__(daemon=True)
        self.url = url
        self.session = session
        self.answers: list[tuple[float, int, str | None, str]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                answer = topology.fetch(self.url, headers={"Cookie": f"sessionid={self.session}"})
                self.answers.append(
                    (
                        time.monotonic(),
                        answer.status,
                        answer.headers.get("Retry-After"),
                        answer.text,
                    )
                )
            except OSError as error:  # must not happen: daphne stays up
                self.answers.append((time.monotonic(), 0, None, repr(error)))
            time.sleep(0.05)


def stored_on(cluster, room_id: int) -> list[tuple[int, int, int, str]]:
    with psycopg.connect(cluster.url("workspace")) as db:
        return db.execute(
            "SELECT seq, id, author_id, body FROM meetings_chatmessage"
            " WHERE room_id = %s ORDER BY seq",
            [room_id],
        ).fetchall()


async def test_postgres_restarted_under_traffic_answers_503_and_loses_nothing(
    own_postgres, server_on_own_postgres, meeting_people, password
):
    base_url, process, log_path = server_on_own_postgres
    room, people = meeting_people
    sessions = [
        await asyncio.to_thread(topology.log_in, base_url, person.email, password)
        for person in people[:3]
    ]
    clients = [
        ReconnectingChatClient(base_url, session, room.pk, name=f"c{number}")
        for number, session in enumerate(sessions)
    ]
    for client in clients:
        assert (await client.connect())["type"] == "subscribed"
    page = base_url + reverse("meetings:group_chat", kwargs={"slug": room.group.slug})
    poller = Poller(page, sessions[0])
    poller.start()

    per_client = 15
    acked: list[tuple[int, str]] = []
    outage: dict[str, float] = {}

    async def chat(client):
        for number in range(per_client):
            body = f"{client.name} #{number}"
            ack = await client.say_reliably(body)
            assert ack["type"] == "ack", ack
            acked.append((ack["id"], body))
            await asyncio.sleep(0.1)

    async def restart_when_under_way():
        while len(acked) < per_client:
            await asyncio.sleep(0.01)
        outage["from"] = time.monotonic()
        await asyncio.to_thread(own_postgres.stop, "fast")  # pg_ctl stop -m fast
        await asyncio.sleep(2)
        await asyncio.to_thread(own_postgres.start)
        outage["to"] = time.monotonic()

    try:
        await asyncio.gather(restart_when_under_way(), *(chat(client) for client in clients))
        # Pages work again, without restarting daphne.
        deadline = time.monotonic() + 20
        while not [a for a in poller.answers if a[0] > outage["to"] and a[1] == 200]:
            assert time.monotonic() < deadline, "no page answered 200 after the restart"
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
    finally:
        poller.done.set()
        await asyncio.to_thread(poller.join, 10)

    assert process.poll() is None  # the same daphne throughout
    statuses = [status for _at, status, _retry, _body in poller.answers]
    assert set(statuses) <= {200, 503}, statuses
    during = [a for a in poller.answers if outage["from"] < a[0] < outage["to"]]
    unavailable = [a for a in poller.answers if a[1] == 503]
    assert unavailable and during, statuses
    for _at, _status, retry_after, body in unavailable:
        assert retry_after == "30"
        assert "Temporarily unavailable" in body and "Bitte versuchen Sie es" in body
        assert "Traceback" not in body
    # Once PostgreSQL was back and the first page had succeeded, every page did.
    first_ok = next(a[0] for a in poller.answers if a[0] > outage["to"] and a[1] == 200)
    assert {a[1] for a in poller.answers if a[0] >= first_ok} == {200}

    total = len(clients) * per_client
    assert len(acked) == total
    for client in clients:
        await client.wait_until(
            lambda client=client: len(client.seqs()) >= total, timeout=CATCH_UP_TIMEOUT
        )
    await asyncio.sleep(1)
    stored = await asyncio.to_thread(stored_on, own_postgres, room.pk)
    assert len(stored) == total
    assert_nothing_lost(clients, acked, stored)
    assert any(client.reconnects for client in clients)  # sockets did reconnect

    log = log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[-4000:]
    assert "Database unavailable, answered 503: GET" in log
    assert "Database unavailable, socket closed (4503)" in log
    for client in clients:
        with contextlib.suppress(Exception):
            await client.close()


# --- The disk full during an upload -----------------------------------------------------

PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
    b"trailer << /Root 1 0 R >>\n%%EOF\n"
)
CSRF = "a" * 32  # a CSRF secret: the cookie and the header carry the same


def post_file(url: str, cookie: str, fields: dict, name: str, content: bytes, **headers):
    """A multipart form POST as the upload form sends it: (status, headers, body)."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
        for key, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/pdf\r\n\r\n".encode()
        + content
        + b"\r\n"
    )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    answer = topology.fetch(
        url,
        "POST",
        headers={
            "Cookie": f"{cookie}; csrftoken={CSRF}",
            "X-CSRFToken": CSRF,
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            **headers,
        },
        body=body,
    )
    return answer


def files_under(root) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in root.rglob("*")
        if path.is_file()
    }


def test_disk_full_during_upload_stores_nothing_and_keeps_earlier_versions(
    group, member, media_root, tmp_path
):
    if connection.vendor != "postgresql":
        pytest.skip(
            "the file-size limit that fills the disk would stop SQLite writing its own "
            "database too: run with DATABASE_URL=postgres://…, as CI does"
        )
    first = PDF + os.urandom(100 * 1024)
    document = document_services.document_upload(
        actor=member, group=group, uploaded=SimpleUploadedFile("report.pdf", first)
    )
    earlier = document.current_version
    stored_before = files_under(media_root)
    rows_before = (Document.objects.count(), DocumentVersion.objects.count())
    client = Client()
    client.force_login(member)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    env = {
        "DEBUG": "1",
        "DATABASE_URL": servers.database_url(connection.settings_dict),
        "MEDIA_ROOT": str(media_root),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
        "LOG_LEVEL": "WARNING",
    }
    log_path = tmp_path / "daphne.log"
    limit = 64 * 1024  # no file of the process grows past it: the disk is full
    new_document = reverse("documents:upload", kwargs={"slug": group.slug})
    new_version = reverse("documents:version_upload", args=[document.pk])
    message = "The file could not be stored"
    with servers.daphne(env=env, log_path=log_path, file_size_limit=limit) as (base_url, process):
        # A body under 100 KB stays in memory while received; writing the
        # file to the media folder fails half way: the form again, with why.
        for url, fields, headers in (
            (new_document, {"title": "Minutes"}, {}),
            (new_version, {"change_note": "v2"}, {"Accept": "application/json"}),
        ):
            content = PDF + os.urandom(90 * 1024)
            answer = post_file(base_url + url, cookie, fields, "minutes.pdf", content, **headers)
            assert answer.status == 503, (url, answer.status, answer.text[:500])
            if headers:  # static/js/upload.js asks for JSON and shows the errors
                errors = json.loads(answer.body)["errors"]
                assert list(errors) == ["file"] and errors["file"][0].startswith(message)
            else:
                assert message in answer.text.replace("&#x27;", "'")
                assert 'name="file"' in answer.text  # the form, to try again
            assert "Traceback" not in answer.text

        # A larger body goes to a temporary file while received, which fails
        # first: answered 503 too, not a connection dropped.
        content = PDF + os.urandom(3 * 1024 * 1024)
        fields = {"change_note": "v2"}
        answer = post_file(base_url + new_version, cookie, fields, "big.pdf", content)
        assert answer.status == 503
        assert answer.headers["Retry-After"] == "60"
        assert "disk is full" in answer.text and "Nothing was saved" in answer.text

        # The earlier version is intact.
        download = topology.fetch(
            base_url + reverse("documents:download", args=[earlier.pk]),
            headers={"Cookie": cookie},
        )
        assert download.status == 200
        assert download.body == first
        assert process.poll() is None

    assert (Document.objects.count(), DocumentVersion.objects.count()) == rows_before
    assert files_under(media_root) == stored_before  # nothing half-written left
    document.refresh_from_db()
    assert document.current_version == earlier
    log = log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]
    assert log.count("Upload not stored") == 2
    assert "the body could not be stored" in log
