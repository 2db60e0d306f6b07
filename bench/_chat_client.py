"""The load generator of the chat benchmarks: many WebSocket clients in one
asyncio process, cheap enough per frame that the server, not the client, is
what is measured.

``Client`` is a minimal RFC 6455 client on a plain ``asyncio.Protocol`` (one
object per socket, no task per socket): it performs the opening handshake
(with cookie and Origin), answers pings, sends text frames masked with an
all-zero key (RFC 6455 wants an unpredictable one, which no server can check;
this saves the XOR on the loopback) and hands every received text
frame, as bytes, with the arrival time of the read that carried it, to a
callback. No compression is offered, to any server.

``Tracker`` records deliveries of benchmark messages: a message body carries
``BNCH<id>T<send time, ns>E``; for each message the tracker counts the
sockets that received it (each at most once; duplicates are counted apart)
and keeps the first and the last arrival, so that

    fan-out latency = arrival at the last subscriber - send time (in the body).

Also: server CPU time from /proc, RLIMIT_NOFILE, CPU pinning, percentiles;
the benchmark's group and members (Django, in this process); the server
arguments and setup the chat scripts share (``add_server_arguments``,
``ours_env``); and the servers under test (``Target``: ours, the stock
tutorial chat, the bare websockets broadcast, the channels echo), each
started in its own process.
"""

import asyncio
import base64
import contextlib
import json
import math
import os
import resource
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import _common as bench

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MARK = b"BNCH"


# --- One socket ---------------------------------------------------------------------


class Client(asyncio.Protocol):
    """One WebSocket connection (see the module docstring)."""

    def __init__(self, index: int, request: bytes, on_text: Callable, ready: Callable | None):
        self.index = index
        self.request = request
        self.on_text = on_text
        self.ready_check = ready  # frame -> bool: the socket counts as ready once True
        loop = asyncio.get_running_loop()
        self.opened = loop.create_future()
        self.ready = loop.create_future()
        self.closed = loop.create_future()
        self.transport = None
        self.buffer = bytearray()
        self.handshake_done = False
        self.fragments: list[bytes] | None = None
        self.expected: list[tuple[Callable, asyncio.Future]] = []

    # asyncio.Protocol

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc):
        for future in (self.opened, self.ready):
            if not future.done():
                future.set_exception(ConnectionError(f"socket {self.index} closed: {exc}"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data):
        now = time.monotonic_ns()
        buffer = self.buffer
        buffer += data
        if not self.handshake_done:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buffer[: buffer.find(b"\r\n")])
            del buffer[: end + 4]
            if not status.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(ConnectionError(f"handshake refused: {status!r}"))
                self.transport.close()
                return
            self.handshake_done = True
            self.opened.set_result(None)
            if self.ready_check is None:
                self.ready.set_result(None)
        position, size = 0, len(buffer)
        while size - position >= 2:
            first, second = buffer[position], buffer[position + 1]
            length = second & 0x7F
            head = 2
            if length == 126:
                if size - position < 4:
                    break
                length = int.from_bytes(buffer[position + 2 : position + 4], "big")
                head = 4
            elif length == 127:
                if size - position < 10:
                    break
                length = int.from_bytes(buffer[position + 2 : position + 10], "big")
                head = 10
            if second & 0x80:
                raise ConnectionError("a server sent a masked frame")
            if size - position < head + length:
                break
            payload = bytes(buffer[position + head : position + head + length])
            position += head + length
            opcode = first & 0x0F
            final = first & 0x80
            if opcode in (1, 2):
                if final:
                    self._text(payload, now)
                else:
                    self.fragments = [payload]
            elif opcode == 0 and self.fragments is not None:
                self.fragments.append(payload)
                if final:
                    payload, self.fragments = b"".join(self.fragments), None
                    self._text(payload, now)
            elif opcode == 9:  # ping
                self._send(0xA, payload)
            elif opcode == 8:  # close: answer and let the server close
                self._send(0x8, payload[:2])
        del buffer[:position]

    def _text(self, payload: bytes, now: int) -> None:
        if not self.ready.done():
            try:
                if self.ready_check(payload):
                    self.ready.set_result(None)
            except Exception as error:  # e.g. an error frame instead of "subscribed"
                self.ready.set_exception(error)
            return
        if self.expected:
            for entry in list(self.expected):
                check, future = entry
                if check(payload):
                    self.expected.remove(entry)
                    if not future.done():
                        future.set_result(payload)
        self.on_text(self, payload, now)

    def expect(self, check: Callable[[bytes], bool]) -> asyncio.Future:
        """A future resolved with the next frame that satisfies ``check``."""
        future = asyncio.get_running_loop().create_future()
        self.expected.append((check, future))
        return future

    # sending

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        size = len(payload)
        if size < 126:
            header = bytes((0x80 | opcode, 0x80 | size))
        elif size < 65536:
            header = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2, "big")
        else:
            header = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8, "big")
        # A zero masking key: the masked payload is the payload.
        self.transport.write(header + b"\0\0\0\0" + payload)

    def send_text(self, text: str | bytes) -> None:
        self._send(0x1, text.encode() if isinstance(text, str) else text)

    def close(self) -> None:
        self._send(0x8, (1000).to_bytes(2, "big"))
        if self.transport is not None:
            loop = asyncio.get_running_loop()
            loop.call_later(2.0, self.transport.close)


def handshake(port: int, path: str, headers: dict[str, str]) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        f"Origin: http://127.0.0.1:{port}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def connect_many(
    *,
    port: int,
    path: str,
    count: int,
    on_text: Callable,
    start: int = 0,
    headers: Callable[[int], dict[str, str]] = lambda index: {},
    on_open: Callable[[Client], None] | None = None,
    ready: Callable[[bytes], bool] | None = None,
    batch: int = 50,
    timeout: float = 60.0,
    clients: list[Client] | None = None,
) -> list[Client]:
    """Opens ``count`` sockets, ``batch`` at a time; each is returned once its
    handshake is done, ``on_open`` (e.g. a subscribe frame) has run and a frame
    satisfying ``ready`` has come (at once without ``ready``). The sockets are
    appended to ``clients`` batch by batch, if given; they are numbered from
    ``start``."""
    loop = asyncio.get_running_loop()
    clients = [] if clients is None else clients

    async def one(index: int) -> Client:
        request = handshake(port, path, headers(index))
        _transport, client = await loop.create_connection(
            lambda: Client(index, request, on_text, ready), "127.0.0.1", port
        )
        await client.opened
        if on_open is not None:
            on_open(client)
        await client.ready
        return client

    end = start + count
    async with asyncio.timeout(timeout):
        for first in range(start, end, batch):
            clients += await asyncio.gather(
                *(one(index) for index in range(first, min(end, first + batch)))
            )
    return clients


async def close_all(clients: Iterable[Client], timeout: float = 5.0) -> None:
    clients = list(clients)
    for client in clients:
        client.close()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await asyncio.gather(*(client.closed for client in clients))
    for client in clients:
        if client.transport is not None:
            client.transport.abort()


# --- Deliveries ---------------------------------------------------------------------


def body(message_id: int) -> str:
    """A message text carrying its id and its send time (monotonic ns)."""
    return f"BNCH{message_id}T{time.monotonic_ns()}E"


def parse_mark(payload: bytes) -> tuple[int, int] | None:
    start = payload.find(MARK)
    if start < 0:
        return None
    middle = payload.find(b"T", start)
    end = payload.find(b"E", middle)
    return int(payload[start + 4 : middle]), int(payload[middle + 1 : end])


class Tracker:
    """Deliveries of ``messages`` benchmark messages to ``sockets`` sockets."""

    def __init__(
        self,
        sockets: int,
        messages: int,
        accept: Callable[[bytes], bool],
        ack: Callable[[bytes], bool] | None = None,
    ):
        self.sockets = sockets
        self.messages = messages
        self.accept = accept  # frame -> bool: is this a delivered chat message?
        self.ack = ack  # frame -> bool: is this the sender's acknowledgement?
        self.ack_ns = [0] * messages
        self.sent_ns = [0] * messages
        self.count = [0] * messages
        self.first_ns = [0] * messages
        self.last_ns = [0] * messages
        self.seen = [bytearray(sockets) for _ in range(messages)]
        self.duplicates = 0
        self.stray = 0
        self.delivered = 0
        self.last_arrival_ns = 0
        self.last_frame_ns = 0  # any frame, benchmark message or not
        self.waiters: list[tuple[int, asyncio.Future]] = []  # (deliveries wanted, future)

    def on_text(self, client: Client, payload: bytes, now: int) -> None:
        self.last_frame_ns = now
        if not self.accept(payload):
            if self.ack is not None and self.ack(payload):
                mark = parse_mark(payload)
                if mark is not None and 0 <= mark[0] < self.messages:
                    self.ack_ns[mark[0]] = now - mark[1]
            return
        mark = parse_mark(payload)
        if mark is None or not 0 <= mark[0] < self.messages:
            self.stray += 1
            return
        message_id, sent_ns = mark
        seen = self.seen[message_id]
        if seen[client.index]:
            self.duplicates += 1
            return
        seen[client.index] = 1
        self.sent_ns[message_id] = sent_ns
        if not self.count[message_id]:
            self.first_ns[message_id] = now
        self.count[message_id] += 1
        self.last_ns[message_id] = now
        self.delivered += 1
        self.last_arrival_ns = now
        if self.waiters:
            for wanted, future in self.waiters:
                if self.delivered >= wanted and not future.done():
                    future.set_result(None)

    async def wait_for(self, deliveries: int, timeout: float) -> bool:
        """True once ``deliveries`` deliveries have arrived in all, False on timeout."""
        if self.delivered >= deliveries:
            return True
        future = asyncio.get_running_loop().create_future()
        self.waiters.append((deliveries, future))
        try:
            async with asyncio.timeout(timeout):
                await future
            return True
        except TimeoutError:
            return False
        finally:
            self.waiters.remove((deliveries, future))

    async def quiet(self, seconds: float, timeout: float) -> bool:
        """Waits until no frame has come for ``seconds``; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            idle = (time.monotonic_ns() - self.last_frame_ns) / 1e9
            if idle >= seconds:
                return True
            await asyncio.sleep(seconds - idle + 0.01)
        return False

    def ack_latencies_ms(self, ids: Iterable[int]) -> list[float]:
        """Send → the sender's acknowledgement (stored), in ms."""
        return [self.ack_ns[i] / 1e6 for i in ids if self.ack_ns[i]]

    def latencies_ms(self, ids: Iterable[int]) -> tuple[list[float], list[float], int]:
        """(send → last subscriber, send → first subscriber) in ms, for the
        messages among ``ids`` that reached every socket; and how many did not."""
        last, first, incomplete = [], [], 0
        for message_id in ids:
            if self.count[message_id] < self.sockets:
                incomplete += 1
                continue
            last.append((self.last_ns[message_id] - self.sent_ns[message_id]) / 1e6)
            first.append((self.first_ns[message_id] - self.sent_ns[message_id]) / 1e6)
        return last, first, incomplete


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p99 of fewer than 100 values is their maximum)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


async def pace(count: int, rate: float, send: Callable[[int], object]) -> float:
    """Calls ``send(i)`` for i in range(count) on a fixed schedule of ``rate``
    per second (open loop: a late send does not delay the next ones); returns
    the wall time it took."""
    started = time.monotonic()
    for index in range(count):
        delay = started + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        result = send(index)
        if asyncio.iscoroutine(result):
            await result
    return time.monotonic() - started


# --- Processes ------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (all its threads) so far."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, PermissionError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def raise_file_limit(wanted: int = 20000) -> int:
    """Raises RLIMIT_NOFILE (inherited by the servers started afterwards)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def pin(pid: int, cpu_set: set[int]) -> None:
    """Pins every thread of a process (threads started later inherit it)."""
    with contextlib.suppress(FileNotFoundError, ProcessLookupError, PermissionError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(ProcessLookupError, OSError):
                os.sched_setaffinity(int(task), cpu_set)


def redis_pid(url: str) -> int | None:
    """The redis-server's pid (for its CPU time, as information), if readable."""
    try:
        import redis

        pid = int(redis.Redis.from_url(url).info("server")["process_id"])
    except Exception:
        return None
    return pid if os.access(f"/proc/{pid}/stat", os.R_OK) else None


@dataclass
class CpuWindow:
    """CPU seconds of some processes between ``start()`` and ``stop()``."""

    pids: list[int]

    def start(self) -> None:
        self.begin = sum(cpu_seconds(pid) for pid in self.pids)

    def stop(self) -> float:
        self.seconds = sum(cpu_seconds(pid) for pid in self.pids) - self.begin
        return self.seconds


# --- Our workspace --------------------------------------------------------------------


@dataclass
class Room:
    group: object
    room: object
    users: list
    sessions: list[str]  # session keys, by user

    @property
    def stream(self) -> str:
        return self.room.stream


def create_room(count: int, slug: str = "fanout") -> Room:
    """A group with ``count`` members (no usable password, each signed in with
    a stored session, as a login stores it) and its standing chat room. Runs
    Django in this process on the benchmark's database."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import transaction

    from accounts.models import User
    from groups.models import Membership, Role, WorkingGroup
    from meetings.services import standing_room

    with transaction.atomic():
        group = WorkingGroup.objects.create(name=f"Bench {slug}", slug=slug)
        room = standing_room(group)
        users = User.objects.bulk_create(
            User(
                email=f"{slug}-{index}@bench.example.org",
                display_name=f"Bench {index}",
                password=make_password(None),
            )
            for index in range(count)
        )
        if any(user.pk is None for user in users):  # a database without RETURNING
            users = list(User.objects.filter(email__startswith=f"{slug}-").order_by("pk"))
        Membership.objects.bulk_create(
            Membership(user=user, group=group, role=Role.MEMBER) for user in users
        )
        sessions = []
        for user in users:
            session = SessionStore()
            session[SESSION_KEY] = str(user.pk)
            session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
            session[HASH_SESSION_KEY] = user.get_session_auth_hash()
            session.create()
            sessions.append(session.session_key)
    return Room(group=group, room=room, users=users, sessions=sessions)


def chat_send_available() -> bool:
    """Whether the socket takes ``chat.send`` frames (meetings.chat registers it)."""
    from core import streams

    return streams.frame_handler("chat.send") is not None


@contextlib.contextmanager
def throwaway_postgres(server_url: str):
    """A new, empty PostgreSQL database on the server of ``server_url`` (a URL
    of a database to connect to for CREATE DATABASE, e.g. .../postgres);
    yields its URL and drops it afterwards."""
    import psycopg

    name = f"workspace_bench_{os.getpid()}_{os.urandom(3).hex()}"
    base, _slash, _db = server_url.rpartition("/")
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(server_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- The chat benchmarks' server arguments and setup (ours) ------------------------------


def add_server_arguments(parser) -> None:
    """The arguments chat_fanout.py and chat_send.py share: Redis, the
    database, the server's extra settings, pinning."""
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL")
        or os.environ.get("REDIS_URL")
        or "redis://127.0.0.1:6379/0",
    )
    parser.add_argument(
        "--db",
        choices=["postgres", "sqlite"],
        default="postgres",
        help="ours: a throwaway PostgreSQL database (as in production) or a SQLite file",
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
        help="ours: another setting in the server's environment (repeatable)",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin client and servers")


def ours_env(stack: contextlib.ExitStack, directory: Path, args, name: str) -> dict:
    """Our server's environment, prepared (migrated, ...): the database of
    ``args.db`` (postgres: a throwaway database dropped when ``stack`` closes,
    unless BENCH_DATABASE_URL names one), Redis under a prefix of its own
    (``bench-<name>-<hex>``, its keys deleted when ``stack`` closes) and
    ``--server-env``'s settings."""
    if args.db == "postgres" and not os.environ.get("BENCH_DATABASE_URL"):
        os.environ["BENCH_DATABASE_URL"] = stack.enter_context(
            throwaway_postgres(args.postgres_url)
        )
    elif args.db == "sqlite":
        os.environ.pop("BENCH_DATABASE_URL", None)
    prefix = f"bench-{name}-{secrets.token_hex(4)}"
    stack.callback(delete_redis_keys, args.redis_url, prefix)
    env = bench.server_env(
        directory,
        REDIS_URL=args.redis_url,
        REDIS_PREFIX=prefix,
        **dict(item.split("=", 1) for item in args.server_env),
    )
    bench.prepare(env)
    return env


# --- The servers under test -------------------------------------------------------------

SENDERS = 4  # sockets that take turns to send (our per-user rate limit stays untouched)
KEEPALIVE = 15.0  # seconds between the keep-alive frames of a socket (ours: presence)


@dataclass
class Target:
    """A running server and how the client speaks to it."""

    name: str
    port: int
    path: str
    pids: list[int]
    accept: Callable[[bytes], bool]  # is this frame a delivered chat message?
    frame: Callable[[str], str] | None  # the frame a sender sends for a body
    ack: Callable[[bytes], bool] | None = None  # the sender's acknowledgement?
    headers: Callable[[int], dict] = lambda index: {}
    on_open: Callable | None = None
    ready: Callable[[bytes], bool] | None = None
    # Stores a message without the socket (ours: message_send in this process)
    service_send: Callable[[int, str], None] | None = None
    via_service: bool = False  # send() uses service_send instead of frames
    # Run once every socket is open, before the measured window (ours: every
    # socket's presence heartbeat); returns figures to report.
    before_measure: Callable | None = None
    # Sent by each socket every KEEPALIVE seconds until the measured window
    # (ours: the presence heartbeat the page sends every 20 s).
    keepalive: bytes | None = None
    log_path: Path | None = None
    notes: dict = field(default_factory=dict)

    def send(self, clients: list[Client], message_id: int) -> None:
        """Sends benchmark message ``message_id`` (its body stamped now)."""
        text = body(message_id)
        if self.via_service:
            self.service_send(message_id, text)
        else:
            clients[message_id % SENDERS].send_text(self.frame(text))


def _port(base_url: str) -> int:
    return int(base_url.rsplit(":", 1)[1])


def _show_log(target: Target) -> None:
    if target.log_path and target.log_path.exists():
        print(f"--- {target.log_path.name} (end) ---", flush=True)
        print(target.log_path.read_text(errors="replace")[-3000:], flush=True)


@contextlib.contextmanager
def bare_server(directory: Path):
    """The floor: ``python bench/_chat_peers.py bare`` (websockets.broadcast)."""
    port = bench.servers.free_port()
    log_path = directory / "bare.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "bench/_chat_peers.py", "bare", "--port", str(port)],
            cwd=bench.ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        target = Target(
            name="bare",
            port=port,
            path="/",
            pids=[process.pid],
            accept=lambda payload: True,
            frame=lambda text: text,
            log_path=log_path,
        )
        try:
            bench.servers.wait_for_port(port, process=process)
            yield target
        except BaseException:
            _show_log(target)
            raise
        finally:
            bench.servers.stop(process)


def _peer_env(redis_url: str, name: str) -> dict:
    return {
        "BENCH_REDIS_URL": redis_url,
        "BENCH_REDIS_PREFIX": f"bench-{name}-{secrets.token_hex(4)}:",
        "DJANGO_SETTINGS_MODULE": "",
    }


def delete_redis_keys(url: str, prefix: str) -> None:
    """Removes what a server left in Redis under the benchmark's own prefix."""
    try:
        import redis

        client = redis.Redis.from_url(url)
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
        client.close()
    except Exception as error:
        print(f"could not clean Redis keys {prefix}*: {error}", flush=True)


class _Cleanup:
    def __init__(self, url: str, prefix: str):
        self.url, self.prefix = url, prefix

    def close(self) -> None:
        delete_redis_keys(self.url, self.prefix)


@contextlib.contextmanager
def _peer_server(
    directory: Path,
    redis_url: str,
    name: str,
    application: str,
    path: str,
    accept: Callable[[bytes], bool],
    frame: Callable[[str], str] | None,
):
    """A peer from bench/_chat_peers.py (``application``) on daphne, with
    Redis under a prefix of its own (its keys deleted afterwards)."""
    log_path = directory / f"{name}.log"
    env = _peer_env(redis_url, name)
    with (
        contextlib.closing(_Cleanup(redis_url, env["BENCH_REDIS_PREFIX"])),
        bench.daphne_app(application, env, log_path) as (base_url, process),
    ):
        target = Target(
            name=name,
            port=_port(base_url),
            path=path,
            pids=[process.pid],
            accept=accept,
            frame=frame,
            log_path=log_path,
        )
        try:
            yield target
        except BaseException:
            _show_log(target)
            raise


def stock_server(directory: Path, redis_url: str):
    """The peer: the Channels tutorial chat on daphne with RedisChannelLayer."""
    return _peer_server(
        directory,
        redis_url,
        "stock",
        "bench._chat_peers:stock_application",
        "/ws/chat/bench/",
        accept=lambda payload: payload.startswith(b'{"message"'),
        frame=lambda text: json.dumps({"message": text}),
    )


def echo_server(directory: Path, redis_url: str):
    """A minimal channels consumer on daphne that sends every frame back."""
    return _peer_server(
        directory,
        redis_url,
        "echo",
        "bench._chat_peers:echo_application",
        "/ws/echo/",
        accept=lambda payload: True,
        frame=None,
    )


def _subscribed(payload: bytes) -> bool:
    if b'"type": "error"' in payload or b'"type":"error"' in payload:
        raise RuntimeError(f"subscription refused: {payload[:200]!r}")
    return b'"subscribed"' in payload


@contextlib.contextmanager
def our_server(directory: Path, env: dict, room: Room, *, service: bool = False):
    """``daphne workspace.asgi:application`` on the benchmark's database and
    Redis; the sockets subscribe to ``room``, the senders send ``chat.send``
    frames (with ``service``: this process stores the messages with
    message_send, and the server only fans them out)."""
    from concurrent.futures import ThreadPoolExecutor

    from django.conf import settings

    log_path = directory / "ours.log"
    cookie = settings.SESSION_COOKIE_NAME
    room_id = room.room.pk
    subscribe = json.dumps({"type": "subscribe", "stream": room.stream}).encode()
    heartbeat = json.dumps({"type": "presence.heartbeat", "room": room_id}).encode()
    ping = json.dumps({"type": "ping", "id": "bench"}).encode()
    executor = ThreadPoolExecutor(1, thread_name_prefix="message-send")

    def service_send(index: int, text: str) -> None:
        from django.db import close_old_connections

        from meetings.services import message_send

        def write():
            message_send(actor=room.users[index % SENDERS], room=room.room, body=text)
            close_old_connections()

        executor.submit(write)

    async def heartbeats(clients, pids) -> dict:
        # The page sends a presence heartbeat every 20 s, and an entry not
        # renewed for PRESENCE_TIMEOUT_SECONDS (60) times out, which the room
        # is told. Every socket renews its entry now, so that none times out in
        # the measured window (< 58 s); the ping after it confirms it was
        # handled. Its cost is reported apart, per heartbeat.
        window = CpuWindow(pids)
        window.start()
        pongs = []
        for client in clients:
            pongs.append(client.expect(lambda payload: b'"pong"' in payload))
            client.send_text(heartbeat)
            client.send_text(ping)
        async with asyncio.timeout(120):
            await asyncio.gather(*pongs)
        return {"heartbeat_cpu_us": round(window.stop() * 1e6 / len(clients), 1)}

    try:
        with bench.daphne(env, log_path) as (base_url, process):
            target = Target(
                name="ours",
                port=_port(base_url),
                path="/ws/",
                pids=[process.pid],
                accept=lambda payload: payload.startswith(b'{"type":"event"'),
                ack=lambda payload: payload.startswith(b'{"type": "ack"'),
                frame=lambda text: json.dumps(
                    {"type": "chat.send", "room": room_id, "body": text, "client_id": text}
                ),
                headers=lambda index: {"Cookie": f"{cookie}={room.sessions[index]}"},
                on_open=lambda client: client.send_text(subscribe),
                ready=_subscribed,
                service_send=service_send,
                via_service=service,
                before_measure=heartbeats,
                keepalive=heartbeat,
                log_path=log_path,
                notes={"send_path": "message_send" if service else "chat.send"},
            )
            try:
                yield target
            except BaseException:
                _show_log(target)
                raise
    finally:
        executor.shutdown(wait=True)
        bench.close_db()


async def keep_alive(target: Target, clients: list) -> None:
    while True:
        await asyncio.sleep(KEEPALIVE)
        for client in list(clients):
            client.send_text(target.keepalive)


def start_profiler(pid: int, output: Path):
    """py-spy recording a server (collapsed stacks; ``BENCH_PYSPY_ARGS`` adds
    options, e.g. ``--gil``). py-spy is not a dependency: pip install py-spy."""
    output.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--rate",
            "200",
            "--output",
            str(output),
            *os.environ.get("BENCH_PYSPY_ARGS", "").split(),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    return process


def stop_profiler(process) -> None:
    if process is None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def pinning(no_pin: bool) -> set[int]:
    """Puts this process (the client) on the first CPU and returns the others
    for the servers (nothing with ``no_pin`` or a single CPU)."""
    available = cpus()
    if no_pin or len(available) < 2:
        return set()
    os.sched_setaffinity(0, {available[0]})
    return set(available[1:])
