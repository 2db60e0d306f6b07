"""Capacity: how many active members the compose topology serves on this machine.

    .venv/bin/python bench/load.py [--steps 100,250,500,1000,2000] [--seconds 60]
        [--think 20] [--chat-think 30] [--reply-share 0.05] [--meeting-share 0.3]

Starts the topology of ``docker-compose.yml`` from real processes, as
``tests/test_topology.py`` does: a throwaway PostgreSQL database on the server
``--postgres-url`` names (created here, dropped at the end), Redis under a
prefix of its own (its keys deleted at the end), ``manage.py migrate``,
``collectstatic`` and ``periodic_start`` (the compose ``migrate`` job), the
task worker (``manage.py db_worker``), four daphne processes with
``--proxy-headers`` (the same settings), two for the pages (``daphne_a``,
``daphne_b``: web1, web2 in compose) and two for the sockets (``socket_a``,
``socket_b``: socket1, socket2), and nginx configured from
``deploy/nginx.conf.template`` in front (``/ws/`` to the socket processes,
every other path to the page processes; two workers with the
``worker_connections`` and ``worker_rlimit_nofile`` of ``deploy/nginx.conf``,
the main configuration compose mounts, unless ``--nginx-workers`` and
``--nginx-connections`` say otherwise), production settings (DEBUG off,
``DOCUMENTS_X_ACCEL``, one trusted proxy; emails go to the worker's log,
``consolemail://``).

Seeds, in bulk, for the largest step: half of the members in groups of 100,
half in groups of 10 (users with one precomputed password hash, verified
addresses, memberships, a signed-in session each written straight into the
session table), per group ``--threads`` threads of ``--posts`` posts
(``_common.build_thread``) and ``--documents`` documents (through
``documents.services.document_upload``), and a meeting: happening now, its chat
room open, in ``--meeting-share`` of the groups; next week in the others.

Then simulates active members in this one asyncio process. The members are
taken in a fixed random order, so that every step holds the members of the
one before and a mix of both group sizes. Each member:

- holds one socket through nginx (``/ws/``, session cookie, the site's Origin),
  subscribed as ``static/js/socket.js`` subscribes: its group's stream and, in
  a meeting, the meeting room's stream (then a presence heartbeat every 20 s,
  as ``static/js/chat.js`` sends);
- reads pages through nginx on one keep-alive connection (cookies kept,
  ``Accept-Encoding: gzip``; static files are not fetched: cached by the
  browser, served by nginx from disk): think time exponential with mean
  ``--think`` s, then one of home 20 %, the group's thread list 20 %, a thread
  30 %, the documents 15 %, the group's meeting 15 %;
- after a thread page, with probability ``--reply-share``, replies through the
  thread page's form (CSRF token and cookie, Origin), and follows the redirect;
- in a meeting, chats: a ``chat.send`` frame every exponential ``--chat-think``
  s, as chat.js sends it; each message carries its id and send time, and its
  delivery to every socket subscribed to the room is tracked
  (``_chat_client.Tracker``).

Per step (``--steps``): the new members' sockets are connected, ``--warmup``
s pass, then ``--seconds`` of steady state are measured: p50/p99 page latency
(every request started in the window, the reply's POST included), p99 chat send
→ delivered to all the room's sockets, errors (an answer >= 400 or a redirect
to the sign-in page, a socket closed, an error frame, a request over
``--timeout`` s, a chat message not delivered to everyone within
``--settle`` s), each process's CPU (seconds and % of a core) and resident
memory at the end (the four daphne processes, the worker, nginx's master and
workers, PostgreSQL's backends of this database summed, Redis), the page
processes' CPU per page request and the socket processes' CPU together, the
load generator's own CPU and its event loop's lag. A step passes with p99 page <= 300 ms, p99
chat <= 250 ms and no error; ``capacity`` is the largest passing step; the ramp
stops after the first failing one. The last line is one JSON object.

``BENCH_PROFILE_DIR``: the four daphne processes run under ``bench/_sampler.py``
(a sampling profiler of every thread) and write their stacks there; the JSON
gets a summary (``profile``). ``BENCH_PAGE_PROFILE=1``: each page is also
rendered under cProfile in this process (``page_costs_in_process``).
``BENCH_SWITCH_INTERVAL=<seconds>``: daphne runs with that GIL switch
interval (an experiment; through ``bench/_sampler.py``, sampling off).
``BENCH_KEEP_LOGS=<dir>``: the servers' logs are copied there at the end
(``server_log_errors`` counts their tracebacks; the logs show them whole).

``--neighbour SHARE``: a noisy neighbour, one process per core busy for SHARE
of its time (``bench/_neighbour.py``), from before the first step to the end:
the workspace runs on what a slower or shared host would leave it (0.25: a
host a third slower). Its CPU is reported (``processes.neighbour``) but not
counted in the site's.
"""

import argparse
import asyncio
import contextlib
import gc
import json
import math
import os
import random
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import _chat_client as wsc
import _common as bench
from _common import log

TARGETS = {"page_p99_ms": 300.0, "chat_p99_ms": 250.0, "errors": 0}
PAGES = ("home", "threads", "thread", "documents", "meeting")
PAGE_WEIGHTS = (20, 20, 30, 15, 15)
HEARTBEAT_SECONDS = 20.0  # static/js/chat.js: HEARTBEAT_MS
PASSWORD = "load-bench-password"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--steps", default="100,250,500,1000,2000", help="active members")
    parser.add_argument("--seconds", type=float, default=60, help="measured seconds per step")
    parser.add_argument("--warmup", type=float, default=10, help="seconds after connecting")
    parser.add_argument("--think", type=float, default=20, help="mean seconds between pages")
    parser.add_argument("--chat-think", type=float, default=30, help="mean s between messages")
    parser.add_argument("--reply-share", type=float, default=0.05, help="thread views replied to")
    parser.add_argument("--meeting-share", type=float, default=0.3, help="groups in a meeting")
    parser.add_argument("--threads", type=int, default=3, help="threads per group")
    parser.add_argument("--posts", type=int, default=20, help="posts per thread")
    parser.add_argument("--documents", type=int, default=2, help="documents per group")
    parser.add_argument("--timeout", type=float, default=10, help="seconds before a request fails")
    parser.add_argument("--settle", type=float, default=10, help="seconds for the last deliveries")
    parser.add_argument("--nginx-workers", type=int, default=2, help="worker_processes (auto: 2)")
    parser.add_argument(
        "--nginx-connections",
        type=int,
        default=None,
        help="worker_connections (default: deploy/nginx.conf's; the image's own has 1024)",
    )
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument(
        "--neighbour",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="a busy process per core, taking SHARE of it (0.25: a host a third slower)",
    )
    parser.add_argument(
        "--keep-going", action="store_true", help="ramp on after a failed step (to see the curve)"
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL") or "redis://127.0.0.1:6379/0",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="where the throwaway database is created (needs CREATE DATABASE)",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="another setting for daphne and the worker, e.g. DATABASE_POOL_SIZE=10",
    )
    args = parser.parse_args()
    args.steps = sorted({int(step) for step in args.steps.split(",") if step.strip()})
    if not args.steps or args.steps[0] < 1:
        parser.error("--steps: active members, e.g. 100,250,500")
    if not 0 <= args.neighbour < 1:
        parser.error("--neighbour: a share of each core, from 0 (none) to below 1, e.g. 0.25")
    # nginx as compose runs it (deploy/nginx.conf), unless told otherwise: then
    # its workers may open twice as many files as connections, plus 64.
    production = bench.servers.production_nginx_limits()
    if args.nginx_connections is None:
        args.nginx_connections = production.worker_connections
        args.nginx_rlimit_nofile = production.worker_rlimit_nofile
    else:
        args.nginx_rlimit_nofile = 2 * args.nginx_connections + 64
    return args


# --- The data ----------------------------------------------------------------------


@dataclass
class Seat:
    """What the load generator knows of a member (no Django objects)."""

    user_id: int
    session: str
    group_id: int
    slug: str
    threads: list[int]
    meeting: int
    room: int | None  # the meeting room's id when the group's meeting is now


def seed(total: int, args) -> tuple[list[Seat], dict]:
    """Groups of 100 and of 10 holding ``total`` members between them (half
    each), with threads, documents and meetings; returns the members in the
    order they become active, and what was made."""
    import datetime

    from allauth.account.models import EmailAddress
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    from accounts.models import User
    from documents.services import document_upload
    from groups.models import Membership, Role, WorkingGroup
    from meetings.models import Meeting
    from meetings.services import meeting_room

    rng = random.Random(args.seed)
    sizes = [100] * math.ceil(total / 2 / 100) + [10] * math.ceil(total / 2 / 10)
    password = make_password(PASSWORD)  # hashed once, for everybody
    now = timezone.now()
    store = SessionStore()
    expires = now + datetime.timedelta(seconds=settings.SESSION_COOKIE_AGE)
    seats: list[Seat] = []
    made = Counter()
    started = time.monotonic()
    for number, size in enumerate(sizes):
        group = WorkingGroup.objects.create(name=f"Load {size} #{number}", slug=f"load-{number}")
        users = User.objects.bulk_create(
            User(
                email=f"load{number}-{index}@bench.example.org",
                display_name=f"Member {number}.{index}",
                password=password,
            )
            for index in range(size)
        )
        EmailAddress.objects.bulk_create(
            EmailAddress(user=user, email=user.email, verified=True, primary=True) for user in users
        )
        Membership.objects.bulk_create(
            Membership(user=user, group=group, role=Role.MODERATOR if i == 0 else Role.MEMBER)
            for i, user in enumerate(users)
        )
        keys = [get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789") for _ in users]
        Session.objects.bulk_create(
            Session(
                session_key=key,
                session_data=store.encode(
                    {
                        SESSION_KEY: str(user.pk),
                        BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                        HASH_SESSION_KEY: user.get_session_auth_hash(),
                    }
                ),
                expire_date=expires,
            )
            for key, user in zip(keys, users, strict=True)
        )
        threads = [
            bench.build_thread(group, users, args.posts, title=f"Topic {t + 1} of {group.name}").pk
            for t in range(args.threads)
        ]
        for index in range(args.documents):
            content = bench.PDF_HEAD + rng.randbytes(20_000)
            document_upload(
                actor=users[index % size],
                group=group,
                uploaded=SimpleUploadedFile(f"report-{index}.pdf", content, "application/pdf"),
                title=f"Report {index + 1}",
            )
        in_meeting = rng.random() < args.meeting_share
        starts = (
            now - datetime.timedelta(minutes=10) if in_meeting else now + datetime.timedelta(days=7)
        )
        meeting = Meeting.objects.create(
            group=group,
            title=f"{group.name}: working session",
            starts_at=starts,
            ends_at=starts + datetime.timedelta(hours=4),
            agenda="1. Where we are\n2. Next steps",
            video_link="https://video.example.org/load",
            created_by=users[0],
        )
        room = meeting_room(meeting)
        made["groups"] += 1
        made[f"groups_of_{size}"] += 1
        made["meetings_now"] += in_meeting
        made["members_in_meetings"] += size if in_meeting else 0
        for user, key in zip(users, keys, strict=True):
            seats.append(
                Seat(
                    user_id=user.pk,
                    session=key,
                    group_id=group.pk,
                    slug=group.slug,
                    threads=threads,
                    meeting=meeting.pk,
                    room=room.pk if in_meeting else None,
                )
            )
    rng.shuffle(seats)
    made["members"] = len(seats)
    made["threads"] = len(sizes) * args.threads
    made["posts"] = made["threads"] * args.posts
    made["documents"] = len(sizes) * args.documents
    made["seed_seconds"] = round(time.monotonic() - started, 1)
    return seats, dict(made)


def page_costs(seat: Seat, runs: int = 5) -> dict:
    """Each page rendered in this process (django.test.Client, the whole
    middleware stack, no server): status, queries, the median CPU time of
    Python (PostgreSQL's is not in it) and the size."""
    import statistics

    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1", HTTP_ACCEPT_LANGUAGE="en")
    client.cookies[settings.SESSION_COOKIE_NAME] = seat.session
    costs = {}
    for page, path in Load.paths(seat, seat.threads[0]).items():
        client.get(path)
        times = []
        for _ in range(runs):
            started = time.process_time()
            with CaptureQueriesContext(connection) as queries:
                response = client.get(path)
            times.append((time.process_time() - started) * 1000)
        costs[page] = {
            "status": response.status_code,
            "queries": len(queries),
            "cpu_ms": round(statistics.median(times), 1),
            "kb": round(len(response.content) / 1024, 1),
        }
        if os.environ.get("BENCH_PAGE_PROFILE"):
            costs[page]["profile"] = profile_page(client, path, runs)
    # The bell's count alone (in every page's header): as it is, and with
    # every kind's rule built into the query (as it was before issue 16).
    from accounts.models import User
    from notifications import selectors

    user = User.objects.get(pk=seat.user_id)
    for name, count in (
        ("bell", lambda: selectors.unread_count(user)),
        (
            "bell_all_rules",
            lambda: selectors.notifications_visible_to(user).filter(read_at__isnull=True).count(),
        ),
    ):
        count()
        times = []
        for _ in range(runs * 4):
            started = time.process_time()
            count()
            times.append((time.process_time() - started) * 1000)
        costs[name] = {"cpu_ms": round(statistics.median(times), 2), "unread": count()}
    return costs


def profile_page(client, path: str, runs: int) -> dict:
    """BENCH_PAGE_PROFILE: cProfile of ``runs`` renderings of a page (in this
    process the view runs in the profiled thread): the project's functions
    by cumulative time, ms per rendering."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(runs):
        client.get(path)
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    root = str(bench.ROOT) + "/"
    ours = [
        (cumulative, f"{name} ({file.removeprefix(root)}:{line})")
        for (file, line, name), (_calls, _n, _own, cumulative, _callers) in stats.items()
        if file.startswith(root) and "/.venv/" not in file and "/bench/" not in file
    ]
    return {label: round(seconds * 1000 / runs, 2) for seconds, label in sorted(ours)[-15:][::-1]}


def wait_for_tasks(timeout: float) -> int:
    """Waits until the worker has run the tasks that are due (the seeding's
    notifications); returns how many are left."""
    from django.db import close_old_connections
    from django_tasks_db.models import DBTaskResult

    deadline = time.monotonic() + timeout
    while True:
        left = DBTaskResult.objects.ready().count()
        close_old_connections()
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(1)


# --- A browser ---------------------------------------------------------------------


class Browser:
    """One member's browser: a keep-alive HTTP/1.1 connection to nginx and
    a cookie jar (an asyncio twin of ``public_site.Browser``)."""

    def __init__(self, port: int, cookies: dict[str, str]):
        self.port = port
        self.origin = f"http://127.0.0.1:{port}"
        self.cookies = dict(cookies)
        self.reader = self.writer = None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, method: str, path: str, form: dict | None = None):
        """(status, headers (lower-case names; set-cookie joined), body)."""
        lines = [
            f"{method} {path} HTTP/1.1",
            f"Host: 127.0.0.1:{self.port}",
            "Accept: text/html",
            "Accept-Language: en",
            "Accept-Encoding: gzip",
            "Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
        ]
        body = b""
        if form is not None:
            body = urlencode(form).encode()
            lines += [
                "Content-Type: application/x-www-form-urlencoded",
                f"Content-Length: {len(body)}",
                f"Origin: {self.origin}",
                f"Referer: {self.origin}{path}",
            ]
        data = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        for attempt in range(2):
            fresh = self.writer is None
            if fresh:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            try:
                self.writer.write(data)
                return await self._response()
            except (ConnectionError, asyncio.IncompleteReadError):
                # nginx closed an idle keep-alive connection: a browser opens
                # another (for a GET; a POST without an answer is an error).
                self.close()
                if fresh or attempt or method != "GET":
                    raise
        raise AssertionError("unreachable")

    async def _response(self):
        reader = self.reader
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        headers: dict[str, str] = {}
        for line in head.decode("latin-1").split("\r\n")[1:]:
            name, _colon, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "set-cookie":
                cookie, _semicolon, _attributes = value.partition(";")
                key, _equals, cookie_value = cookie.partition("=")
                self.cookies[key.strip()] = cookie_value.strip()
            elif name:
                headers[name] = value
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    break
                parts.append((await reader.readexactly(size + 2))[:-2])
            content = b"".join(parts)
        elif "content-length" in headers:
            content = await reader.readexactly(int(headers["content-length"]))
        elif status in (204, 304):
            content = b""
        else:
            content = await reader.read()
            self.close()
        if headers.get("connection", "").lower() == "close":
            self.close()
        if headers.get("content-encoding") == "gzip":
            content = zlib.decompress(content, 31)
        return status, headers, content


# --- One step's figures ------------------------------------------------------------


@dataclass
class Step:
    active: int
    measuring: bool = False
    pages: list[float] = field(default_factory=list)  # ms, requests started in the window
    by_page: dict = field(default_factory=dict)
    replies: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    lag: list[float] = field(default_factory=list)
    caught_up: int = 0  # chat deliveries by catch-up, not live


class Room:
    def __init__(self, room_id: int):
        self.id = room_id
        self.clients: list[wsc.Client] = []
        self.tracker: wsc.Tracker | None = None
        self.next_id = 0


LIVE = b'{"type":"event"'  # the hub's frame, serialised once for all sockets
CAUGHT_UP = b'{"type": "event"'  # a socket's catch-up from the database


def is_chat_event(payload: bytes) -> bool:
    return (payload.startswith(LIVE) or payload.startswith(CAUGHT_UP)) and wsc.MARK in payload


def is_ack(payload: bytes) -> bool:
    return payload.startswith(b'{"type": "ack"')


class Load:
    """The simulated members of one run."""

    def __init__(self, seats: list[Seat], port: int, args, cookie_name: str):
        self.seats = seats
        self.port = port
        self.args = args
        self.cookie_name = cookie_name
        self.clients: list[wsc.Client] = []
        self.rooms: dict[int, Room] = {}
        self.tasks: list[asyncio.Task] = []
        self.step = Step(active=0)
        self.closing = False
        self.replies_sent = 0

    # sockets

    def on_text(self, client, payload: bytes, now: int) -> None:
        if payload.startswith(b'{"type": "error"'):
            code = json.loads(payload).get("code", "?")
            self.step.errors[f"socket error frame: {code}"] += 1
            return
        room = getattr(client, "room", None)
        if room is not None and room.tracker is not None:
            if payload.startswith(CAUGHT_UP) and wsc.MARK in payload:
                self.step.caught_up += 1  # live delivery missed it
            room.tracker.on_text(client, payload, now)

    def on_open(self, client) -> None:
        seat = self.seats[client.index]
        client.seat = seat
        if seat.room is not None:
            client.send_text(json.dumps({"type": "subscribe", "stream": f"room:{seat.room}"}))
        client.send_text(json.dumps({"type": "subscribe", "stream": f"group:{seat.group_id}"}))

    @staticmethod
    def ready(payload: bytes) -> bool:
        if payload.startswith(b'{"type": "error"'):
            raise RuntimeError(f"subscription refused: {payload[:200]!r}")
        return payload.startswith(b'{"type": "subscribed"') and b'"group:' in payload

    def on_closed(self, client, _future) -> None:
        if not self.closing:
            self.step.errors["socket closed"] += 1

    async def add(self, count: int) -> float:
        """Connects the next ``count`` members and starts their browsing."""
        for room in self.rooms.values():
            room.tracker = None
        start = len(self.clients)
        started = time.monotonic()
        new = await wsc.connect_many(
            port=self.port,
            path="/ws/",
            start=start,
            count=count,
            on_text=self.on_text,
            headers=lambda index: {"Cookie": f"{self.cookie_name}={self.seats[index].session}"},
            on_open=self.on_open,
            ready=self.ready,
            batch=50,
            timeout=60 + count * 0.2,
        )
        seconds = time.monotonic() - started
        for client in new:
            seat = client.seat
            client.closed.add_done_callback(lambda future, c=client: self.on_closed(c, future))
            client.room = None
            if seat.room is not None:
                room = self.rooms.setdefault(seat.room, Room(seat.room))
                client.global_index = client.index
                client.index = len(room.clients)  # the Tracker's numbering: within the room
                client.room = room
                room.clients.append(client)
                self.tasks.append(asyncio.create_task(self.chat(client, room)))
            self.clients.append(client)
            self.tasks.append(asyncio.create_task(self.browse(seat)))
        return seconds

    # what a member does

    @staticmethod
    def paths(seat: Seat, thread: int) -> dict[str, str]:
        return {
            "home": "/",
            "threads": f"/groups/{seat.slug}/threads/",
            "thread": f"/threads/{thread}/",
            "documents": f"/groups/{seat.slug}/documents/",
            "meeting": f"/meetings/{seat.meeting}/",
        }

    async def prime(self) -> dict:
        """Untimed, before the first step: every page a few times through
        nginx (both page processes load their code and templates)."""
        answers = Counter()
        for seat in self.seats[:8]:
            browser = Browser(self.port, {self.cookie_name: seat.session})
            try:
                for page, path in self.paths(seat, seat.threads[0]).items():
                    status, _headers, _content = await browser.request("GET", path)
                    answers[f"{page} {status}"] += 1
            finally:
                browser.close()
        return dict(answers)

    async def browse(self, seat: Seat) -> None:
        args = self.args
        rng = random.Random(seat.user_id)
        browser = Browser(self.port, {self.cookie_name: seat.session})
        try:
            while True:
                await asyncio.sleep(rng.expovariate(1 / args.think))
                page = rng.choices(PAGES, PAGE_WEIGHTS)[0]
                thread = rng.choice(seat.threads)
                content = await self.get(browser, page, self.paths(seat, thread)[page])
                if page == "thread" and content and rng.random() < args.reply_share:
                    await self.reply(browser, thread, content)
        finally:
            browser.close()

    async def timed(self, browser: Browser, method: str, path: str, form=None):
        """One request; its latency in ms (None on failure) and the answer."""
        step = self.step
        measuring = step.measuring
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.args.timeout):
                answer = await browser.request(method, path, form)
        except TimeoutError:
            browser.close()
            step.errors[f"{method} timeout"] += 1
            return None, None
        except (OSError, asyncio.IncompleteReadError, ValueError) as error:
            browser.close()
            step.errors[f"{method} {type(error).__name__}"] += 1
            return None, None
        milliseconds = (time.perf_counter() - started) * 1000
        if measuring:
            step.pages.append(milliseconds)
        return milliseconds, answer

    async def get(self, browser: Browser, page: str, path: str) -> bytes | None:
        milliseconds, answer = await self.timed(browser, "GET", path)
        if answer is None:
            return None
        status, headers, content = answer
        if status != 200:
            where = headers.get("location", "")
            self.step.errors[f"GET {page} {status} {where[:40]}".strip()] += 1
            return None
        if self.step.measuring:
            self.step.by_page.setdefault(page, []).append(milliseconds)
        return content

    async def reply(self, browser: Browser, thread: int, content: bytes) -> None:
        marker = b'name="csrfmiddlewaretoken" value="'
        start = content.find(marker)
        if start < 0:
            self.step.errors["no CSRF token on the thread page"] += 1
            return
        start += len(marker)
        token = content[start : content.find(b'"', start)].decode()
        self.replies_sent += 1
        path = f"/threads/{thread}/reply/"
        body = f"Reply {self.replies_sent} from the load test: agreed, let us *try* it."
        milliseconds, answer = await self.timed(
            browser, "POST", path, {"csrfmiddlewaretoken": token, "body": body, "parent": ""}
        )
        if answer is None:
            return
        status, headers, _content = answer
        location = headers.get("location", "")
        if status != 302 or not location.startswith(f"/threads/{thread}/"):
            self.step.errors[f"POST reply {status} {location[:40]}".strip()] += 1
            return
        if self.step.measuring:
            self.step.replies.append(milliseconds)
        await self.get(browser, "thread", location.split("#")[0])

    async def chat(self, client: wsc.Client, room: Room) -> None:
        rng = random.Random(-client.seat.user_id)
        number = 0
        while True:
            await asyncio.sleep(rng.expovariate(1 / self.args.chat_think))
            tracker = room.tracker
            if tracker is not None and self.step.measuring and room.next_id < tracker.messages:
                text = wsc.body(room.next_id)
                room.next_id += 1
            else:  # untracked (between windows)
                number += 1
                text = f"untracked {client.seat.user_id}-{number}-{time.monotonic_ns()}"
            client.send_text(
                json.dumps({"type": "chat.send", "room": room.id, "body": text, "client_id": text})
            )

    async def heartbeats(self) -> None:
        """Every room socket sends presence.heartbeat every 20 s, spread out."""
        tick = 0
        while True:
            await asyncio.sleep(1)
            tick += 1
            for room in self.rooms.values():
                for client in room.clients:
                    if (client.global_index + tick) % int(HEARTBEAT_SECONDS) == 0:
                        client.send_text(
                            json.dumps({"type": "presence.heartbeat", "room": room.id})
                        )

    async def lag_monitor(self) -> None:
        """The event loop's lag: how late a 50 ms sleep wakes up."""
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.05)
            if self.step.measuring:
                self.step.lag.append((time.perf_counter() - before - 0.05) * 1000)

    # windows

    def open_trackers(self) -> None:
        bound = math.ceil(self.args.seconds / self.args.chat_think * 3) + 20
        for room in self.rooms.values():
            room.next_id = 0
            room.tracker = wsc.Tracker(
                len(room.clients), bound * len(room.clients), accept=is_chat_event, ack=is_ack
            )

    async def settle(self) -> dict:
        """After the window: the tracked messages' deliveries."""
        deadline = time.monotonic() + self.args.settle
        for room in self.rooms.values():
            if room.tracker is None:
                continue
            wanted = room.next_id * room.tracker.sockets
            await room.tracker.wait_for(wanted, max(0.1, deadline - time.monotonic()))
        last, acks, incomplete, duplicates, sent = [], [], 0, 0, 0
        for room in self.rooms.values():
            tracker = room.tracker
            if tracker is None:
                continue
            ids = range(room.next_id)
            sent += room.next_id
            room_last, _first, room_incomplete = tracker.latencies_ms(ids)
            last += room_last
            acks += tracker.ack_latencies_ms(ids)
            incomplete += room_incomplete
            duplicates += tracker.duplicates
        if incomplete:
            self.step.errors["chat message not delivered to all"] += incomplete
            for room in self.rooms.values():
                tracker = room.tracker
                for message in range(room.next_id if tracker else 0):
                    if tracker.count[message] < tracker.sockets:
                        log(
                            f"  room {room.id}: message {message} reached "
                            f"{tracker.count[message]} of {tracker.sockets} sockets, "
                            f"acknowledged: {bool(tracker.ack_ns[message])}"
                        )
        if duplicates:
            self.step.errors["chat message delivered twice"] += duplicates
        return {
            "chat_messages": sent,
            "chat_rooms": sum(1 for room in self.rooms.values() if room.clients),
            "chat_room_sockets_max": max((len(r.clients) for r in self.rooms.values()), default=0),
            "chat_p50_ms": _round(wsc.percentile(last, 50)),
            "chat_p99_ms": _round(wsc.percentile(last, 99)),
            "chat_max_ms": _round(max(last, default=None)),
            "chat_ack_p99_ms": _round(wsc.percentile(acks, 99)),
            "chat_incomplete": incomplete,
            "chat_deliveries_caught_up": self.step.caught_up,
        }


def _round(value, digits=1):
    return None if value is None else round(value, digits)


# --- The processes -----------------------------------------------------------------


# The daphne processes of the topology: the pages' (web1, web2 in compose)
# and the sockets' (socket1, socket2).
PAGE_PROCESSES = ("daphne_a", "daphne_b")
SOCKET_PROCESSES = ("socket_a", "socket_b")
DAPHNES = (*PAGE_PROCESSES, *SOCKET_PROCESSES)
NEIGHBOUR = "neighbour"  # --neighbour's processes: not the site's


class Processes:
    """The pids of what runs the site, for CPU and memory per step
    (``fixed``: name -> pids; the daphne processes under the names of
    ``DAPHNES``)."""

    def __init__(self, fixed: dict[str, list[int]], nginx_master: int, database_url: str):
        self.fixed = fixed
        self.nginx_master = nginx_master
        self.database_url = database_url
        self.daphnes = [name for name in DAPHNES if name in fixed]

    def backends(self) -> list[int]:
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as connection:
            rows = connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            ).fetchall()
        return [pid for (pid,) in rows]

    def signal(self, number: int) -> None:
        """To every daphne process (profiled: sampling on and off)."""
        if os.environ.get("BENCH_PROFILE_DIR"):
            for name in self.daphnes:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.fixed[name][0], number)

    def threads(self) -> dict[str, tuple[float, float]]:
        """Every daphne's CPU split (``thread_split``) so far."""
        return {name: thread_split(self.fixed[name][0]) for name in self.daphnes}

    @staticmethod
    def thread_usage(before: dict, after: dict, seconds: float) -> dict:
        return {
            name: {
                "main_thread_pct": round((after[name][0] - before[name][0]) / seconds * 100, 1),
                "other_threads_pct": round((after[name][1] - before[name][1]) / seconds * 100, 1),
            }
            for name in after
        }

    def snapshot(self) -> dict[str, dict[int, float]]:
        groups = dict(self.fixed)
        groups["nginx"] = [self.nginx_master, *bench.children(self.nginx_master)]
        groups["postgres"] = self.backends()
        return {
            name: {pid: bench.cpu_seconds(pid) for pid in pids} for name, pids in groups.items()
        }

    def nginx_sockets(self) -> int:
        """Sockets held by nginx's workers (each counts against their
        worker_connections): browsers' connections and those to daphne."""
        count = 0
        for pid in bench.children(self.nginx_master):
            with contextlib.suppress(FileNotFoundError, PermissionError):
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    with contextlib.suppress(OSError):
                        count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        return count

    @staticmethod
    def usage(before: dict, after: dict, seconds: float) -> dict:
        figures = {}
        for name, pids in after.items():
            cpu = sum(value - before.get(name, {}).get(pid, 0.0) for pid, value in pids.items())
            figures[name] = {
                "cpu_s": round(cpu, 2),
                "cpu_pct": round(cpu / seconds * 100, 1),
                "rss_mb": round(sum(bench.rss_bytes(pid) for pid in pids) / bench.MB, 1),
                "processes": len(pids),
            }
        return figures


def start_neighbours(share: float) -> list[subprocess.Popen]:
    """``--neighbour``: one ``bench/_neighbour.py`` per core, each busy for
    ``share`` of its time, from before the priming to the end."""
    script = Path(__file__).with_name("_neighbour.py")
    return [
        subprocess.Popen([sys.executable, str(script), str(share)], start_new_session=True)
        for _ in range(os.cpu_count() or 1)
    ]


def start_worker(env: dict, log_path: Path) -> subprocess.Popen:
    """``manage.py db_worker``, as the compose ``worker`` service runs it."""
    with open(log_path, "wb") as log_file:
        return subprocess.Popen(
            [sys.executable, "manage.py", "db_worker"],
            cwd=bench.ROOT,
            env={**os.environ, **env},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@contextlib.contextmanager
def topology_daphne(env: dict, log_path: Path, name: str):
    """A daphne of the topology, started as the image's CMD starts it; with
    BENCH_PROFILE_DIR under ``bench/_sampler.py`` (every thread sampled),
    its stacks written to ``<dir>/<name>.txt`` when it stops (``daphne_a``, ``socket_a``, ...)."""
    profile_dir = os.environ.get("BENCH_PROFILE_DIR")
    if not profile_dir and os.environ.get("BENCH_SWITCH_INTERVAL"):
        profile_dir = str(log_path.parent)  # the wrapper, not sampling
    if not profile_dir:
        with bench.servers.daphne(env=env, args=["--proxy-headers"], log_path=log_path) as served:
            yield served
        return
    port = bench.servers.free_port()
    output = Path(profile_dir).resolve() / f"{name}.txt"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "bench/_sampler.py",
                str(output),
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "--proxy-headers",
                "workspace.asgi:application",
            ],
            cwd=bench.ROOT,
            env={**os.environ, "SITE_URL": f"http://127.0.0.1:{port}", **env},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            base_url = f"http://127.0.0.1:{port}"
            bench.servers.wait_for_http(base_url + "/health/", process=process, timeout=60)
            yield base_url, process
        finally:
            bench.servers.stop(process, timeout=30)


def thread_split(pid: int) -> tuple[float, float]:
    """CPU seconds of a process's main thread (daphne's event loop) and of its
    other threads (where Django runs sync code: views, database calls)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0, 0.0
    main = (int(fields[11]) + int(fields[12])) / bench.CLOCK_TICKS
    # The other threads, those that ended too (Django runs each request's
    # sync code in a thread of its own): the process's total minus the main.
    return main, max(0.0, bench.cpu_seconds(pid) - main)


# --- The run -----------------------------------------------------------------------


async def ramp(seats: list[Seat], port: int, processes: Processes, args) -> tuple[list, int]:
    from django.conf import settings

    load = Load(seats, port, args, settings.SESSION_COOKIE_NAME)
    helpers = [asyncio.create_task(load.heartbeats()), asyncio.create_task(load.lag_monitor())]
    results, capacity = [], 0
    log(f"priming: {json.dumps(await load.prime())}")
    try:
        for active in args.steps:
            step = load.step = Step(active=active)
            log(f"step {active}: connecting {active - len(load.clients)} members …")
            try:
                connect_seconds = await load.add(active - len(load.clients))
            except (TimeoutError, ConnectionError, OSError, RuntimeError) as error:
                step.errors[f"connect: {type(error).__name__}: {error}"[:120]] += 1
                connect_seconds = None
            await asyncio.sleep(args.warmup)
            gc.collect()
            load.open_trackers()
            load_before = os.getloadavg()[0]
            before = processes.snapshot()
            threads_before = processes.threads()
            generator_before = time.process_time()
            started = time.monotonic()
            step.measuring = True
            processes.signal(signal.SIGUSR1)  # sampling on, if profiled
            await asyncio.sleep(args.seconds)
            processes.signal(signal.SIGUSR2)
            step.measuring = False
            seconds = time.monotonic() - started
            after = processes.snapshot()
            threads_after = processes.threads()
            nginx_sockets = processes.nginx_sockets()
            generator_cpu = time.process_time() - generator_before
            chat = await load.settle()
            usage = processes.usage(before, after, seconds)
            for name, split in processes.thread_usage(
                threads_before, threads_after, seconds
            ).items():
                usage[name].update(split)
            result = report_step(step, seconds, chat, usage)
            result["connect_seconds"] = _round(connect_seconds, 2)
            result["processes"]["nginx"]["sockets"] = nginx_sockets
            result["sockets_open"] = sum(1 for c in load.clients if not c.closed.done())
            result["generator"] = {
                "cpu_s": round(generator_cpu, 2),
                "cpu_pct": round(generator_cpu / seconds * 100, 1),
                "rss_mb": round(bench.rss_bytes(os.getpid()) / bench.MB, 1),
                "loop_lag_p99_ms": _round(wsc.percentile(step.lag, 99)),
                "loop_lag_max_ms": _round(max(step.lag, default=None)),
            }
            result["loadavg_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
            results.append(result)
            log("  " + json.dumps(result))
            if all(r["passed"] for r in results):
                capacity = active  # the largest step with every step up to it passed
            elif not args.keep_going:
                log(f"step {active} failed: the ramp stops")
                break
            if len(load.clients) >= len(seats):
                break
    finally:
        load.closing = True
        for task in load.tasks + helpers:
            task.cancel()
        await asyncio.gather(*load.tasks, *helpers, return_exceptions=True)
        await wsc.close_all(load.clients)
    return results, capacity


def report_step(step: Step, seconds: float, chat: dict, usage: dict) -> dict:
    errors = sum(step.errors.values())
    page_p99 = wsc.percentile(step.pages, 99)
    chat_p99 = chat["chat_p99_ms"]
    passed = (
        page_p99 is not None
        and page_p99 <= TARGETS["page_p99_ms"]
        and (chat_p99 is None or chat_p99 <= TARGETS["chat_p99_ms"])
        and errors == 0
    )
    cpu_total = sum(figures["cpu_s"] for name, figures in usage.items() if name != NEIGHBOUR)
    page_cpu = sum(usage[name]["cpu_s"] for name in PAGE_PROCESSES)
    socket_cpu = sum(usage[name]["cpu_s"] for name in SOCKET_PROCESSES)
    return {
        "active": step.active,
        "seconds": round(seconds, 1),
        "requests": len(step.pages),
        "requests_per_s": round(len(step.pages) / seconds, 1),
        "page_p50_ms": _round(wsc.percentile(step.pages, 50)),
        "page_p99_ms": _round(page_p99),
        "page_max_ms": _round(max(step.pages, default=None)),
        "page_p99_ms_by_page": {
            page: _round(wsc.percentile(values, 99))
            for page, values in sorted(step.by_page.items())
        },
        "replies": len(step.replies),
        "reply_p99_ms": _round(wsc.percentile(step.replies, 99)),
        **chat,
        "errors": errors,
        "error_kinds": dict(step.errors),
        "processes": usage,
        "site_cpu_pct": round(cpu_total / seconds * 100, 1),
        # The page processes' CPU per page request (no socket work: that is
        # on the socket processes, together in % of one core).
        "daphne_cpu_ms_per_request": (
            round(page_cpu * 1000 / len(step.pages), 1) if step.pages else None
        ),
        "socket_cpu_pct": round(socket_cpu / seconds * 100, 1),
        "passed": passed,
    }


def main() -> int:
    args = parse_args()
    bench.stop_on_sigterm()
    files = wsc.raise_file_limit(20000)
    need = 3 * max(args.steps) + 500
    if files < need:
        raise SystemExit(f"RLIMIT_NOFILE is {files}: {need} needed for the sockets")
    load_start = os.getloadavg()
    started = time.monotonic()
    log(
        f"load: steps {args.steps}, {args.seconds:g} s each; think {args.think:g} s, "
        f"chat {args.chat_think:g} s; load average {load_start[0]:.2f}"
        + (f"; a neighbour busy {args.neighbour:.0%} of each core" if args.neighbour else "")
    )
    with contextlib.ExitStack() as stack:
        directory = stack.enter_context(bench.workdir("load"))
        database = stack.enter_context(wsc.throwaway_postgres(args.postgres_url))
        prefix = f"bench-load-{secrets.token_hex(4)}"
        stack.callback(wsc.delete_redis_keys, args.redis_url, prefix)
        port = bench.servers.free_port()
        site = f"http://127.0.0.1:{port}"
        env = bench.server_env(
            directory,
            DATABASE_URL=database,
            REDIS_URL=args.redis_url,
            REDIS_PREFIX=prefix,
            SITE_URL=site,
            TRUSTED_PROXY_COUNT="1",
            DOCUMENTS_X_ACCEL="1",
            EMAIL_URL="consolemail://",
            **dict(item.split("=", 1) for item in args.server_env),
        )
        log(f"Workspace in {directory}, database {database.rsplit('/', 1)[1]}; migrating")
        bench.prepare(env, collectstatic=True)
        bench.manage(env, "periodic_start")
        log("seeding …")
        seats, made = seed(max(args.steps), args)
        log(f"  {json.dumps(made)}")
        costs = page_costs(next(seat for seat in seats if seat.room is not None))
        log(f"pages in this process: {json.dumps(costs)}")
        bench.close_db()
        worker = start_worker(env, directory / "worker.log")
        stack.callback(bench.servers.stop, worker)
        left = wait_for_tasks(180)
        log(f"worker ran the seeding's tasks ({left} due left)")
        bench.close_db()
        daphnes = {  # name -> (base URL, process); logs <name>.log
            name: stack.enter_context(topology_daphne(env, directory / f"{name}.log", name))
            for name in DAPHNES
        }
        config = bench.nginx_template(
            port=port,
            upstreams=[urlsplit(daphnes[name][0]).netloc for name in PAGE_PROCESSES],
            socket_upstreams=[urlsplit(daphnes[name][0]).netloc for name in SOCKET_PROCESSES],
            static_root=directory / "static",
            media_root=directory / "media",
        )
        nginx = stack.enter_context(
            bench.nginx(
                config,
                port,
                directory / "nginx",
                worker_processes=args.nginx_workers,
                worker_connections=args.nginx_connections,
                worker_rlimit_nofile=args.nginx_rlimit_nofile,
            )
        )
        redis_pid = wsc.redis_pid(args.redis_url)
        neighbours = start_neighbours(args.neighbour) if args.neighbour else []
        for neighbour in neighbours:
            stack.callback(bench.servers.stop, neighbour)
        processes = Processes(
            {
                **{name: [process.pid] for name, (_url, process) in daphnes.items()},
                "worker": [worker.pid],
                "redis": [redis_pid] if redis_pid else [],
                **({NEIGHBOUR: [n.pid for n in neighbours]} if neighbours else {}),
            },
            nginx.pid,
            database,
        )
        results, capacity = asyncio.run(ramp(seats, port, processes, args))
        server_errors = {
            name: public_errors(directory / f"{name}.log") for name in (*DAPHNES, "worker")
        }
        if keep := os.environ.get("BENCH_KEEP_LOGS"):
            Path(keep).mkdir(parents=True, exist_ok=True)
            for name in (*DAPHNES, "worker"):
                if (directory / f"{name}.log").exists():
                    shutil.copy(directory / f"{name}.log", Path(keep) / f"{name}.log")
    profile_dir = os.environ.get("BENCH_PROFILE_DIR")
    if profile_dir:
        import _sampler

        figures_profile = {
            name: _sampler.summarise(Path(profile_dir) / f"{name}.txt")
            for name in DAPHNES
            if (Path(profile_dir) / f"{name}.txt").exists()
        }
    figures = {
        "capacity": capacity,
        "target_capacity": 1000,
        "capacity_met": capacity >= 1000,
        "targets": TARGETS,
        "steps": results,
        "seeded": made,
        "page_costs_in_process": costs,
        "scenario": {
            "think_s": args.think,
            "chat_think_s": args.chat_think,
            "reply_share": args.reply_share,
            "meeting_share": args.meeting_share,
            "pages": dict(zip(PAGES, PAGE_WEIGHTS, strict=True)),
            "warmup_s": args.warmup,
            "seconds": args.seconds,
            "nginx_workers": args.nginx_workers,
            "nginx_connections": args.nginx_connections,
            "nginx_rlimit_nofile": args.nginx_rlimit_nofile,
            "server_env": args.server_env,
            "neighbour_share": args.neighbour,
        },
        "server_log_errors": server_errors,
        "cpus": os.cpu_count(),
        "loadavg": [round(value, 2) for value in os.getloadavg()],
        "loadavg_start": [round(value, 2) for value in load_start],
        "generator_max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "bench_seconds": round(time.monotonic() - started, 1),
    }
    if profile_dir:
        figures["profile"] = figures_profile
    log("")
    for result in results:
        log(
            f"{result['active']:>5} active: pages p50 {result['page_p50_ms']} ms, "
            f"p99 {result['page_p99_ms']} ms ({result['requests_per_s']}/s); chat p99 "
            f"{result['chat_p99_ms']} ms ({result['chat_messages']} messages); errors "
            f"{result['errors']}; site CPU {result['site_cpu_pct']} % of a core, generator "
            f"{result['generator']['cpu_pct']} % → {'pass' if result['passed'] else 'FAIL'}"
        )
    log(f"capacity: {capacity} active members (target >= 1000)")
    bench.print_json(figures)
    return 0


def public_errors(log_path: Path) -> dict:
    """Tracebacks' last lines and warnings in a server's log, counted."""
    import re

    pattern = re.compile(
        r"^([A-Za-z_][\w.]*(Error|Exception)\b|.*(WARNING|ERROR|CRITICAL)).*", re.M
    )
    if not log_path.exists():
        return {}
    text = log_path.read_text(errors="replace")
    return dict(Counter(match.group(0)[:160] for match in pattern.finditer(text)))


if __name__ == "__main__":
    raise SystemExit(main())
