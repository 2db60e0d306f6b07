"""What the benchmarks in bench/ share.

- a throwaway workspace: a temporary directory holding the SQLite database
  (migrated by ``manage.py migrate`` in a subprocess), MEDIA_ROOT and
  STATIC_ROOT, and the environment the server processes run with; the
  benchmark process itself runs Django on the same database to create people
  and documents and to sign in;
- a member of a group with a session cookie;
- server processes (daphne through ``tests.servers``, nginx, daphne with another
  ASGI application);
- measurements of a process: resident memory sampled from
  ``/proc/<pid>/status`` in a thread (peak minus the value at the start), CPU
  time and bytes written from ``/proc``;
- plain HTTP clients in threads that read and discard in chunks.

``BENCH_TMPDIR`` chooses where the temporary directory goes (default: the
system's temp dir); ``BENCH_DATABASE_URL`` a database other than the SQLite file
(it must be empty and throwaway: the benchmark migrates it and leaves rows
behind); ``BENCH_SETTINGS_MODULE`` a settings module other than
``workspace.settings`` (e.g. one that changes a setting under study).
"""

import contextlib
import hashlib
import http.client
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests import servers  # noqa: E402

MB = 1024 * 1024
READ_CHUNK = 1024 * 1024


def log(message: str) -> None:
    print(message, flush=True)


def stop_on_sigterm() -> None:
    """SIGTERM ends the benchmark as Ctrl-C does: through the ``finally``
    blocks that stop its servers and remove its temporary directory."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def print_json(figures: dict) -> None:
    """The last line of a benchmark: one JSON object."""
    print(json.dumps(figures, sort_keys=True), flush=True)


# --- The throwaway workspace ----------------------------------------------------------


@contextlib.contextmanager
def workdir(prefix: str):
    """A temporary directory, removed afterwards whatever happens."""
    base = os.environ.get("BENCH_TMPDIR") or None
    path = Path(tempfile.mkdtemp(prefix=f"workspace-bench-{prefix}-", dir=base))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def server_env(directory: Path, **overrides: str) -> dict[str, str]:
    """The environment of the server processes (and of this one): production
    settings (DEBUG off) on the throwaway database and directories, plain HTTP
    on the loopback, the embedded channel layer."""
    media_root = directory / "media"
    static_root = directory / "static"
    media_root.mkdir(exist_ok=True)
    static_root.mkdir(exist_ok=True)  # whitenoise warns about a missing one
    database = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{directory / 'db.sqlite3'}"
    env = {
        "DJANGO_SETTINGS_MODULE": os.environ.get("BENCH_SETTINGS_MODULE", "workspace.settings"),
        "DEBUG": "0",
        "SECRET_KEY": "bench-" + secrets.token_urlsafe(40),
        "DATABASE_URL": database,
        "REDIS_URL": "",
        "MEDIA_ROOT": str(media_root),
        "STATIC_ROOT": str(static_root),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CSRF_TRUSTED_ORIGINS": "",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
        "SECURE_HSTS_SECONDS": "0",
        "TRUSTED_PROXY_COUNT": "0",
        "DOCUMENTS_X_ACCEL": "0",
        "S3_BUCKET_NAME": "",
        "LOG_LEVEL": "WARNING",
    }
    env.update(overrides)
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 300) -> None:
    """``manage.py <args>`` in a subprocess with ``env``."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-4000:]}")


def prepare(env: dict[str, str], *, collectstatic: bool = False) -> None:
    """Migrates the throwaway database (and collects static files, which pages
    need under DEBUG=0), then sets Django up in this process on the same
    database."""
    manage(env, "migrate", "--noinput", "--verbosity", "0")
    if collectstatic:
        manage(env, "collectstatic", "--noinput", "--verbosity", "0")
    os.environ.update(env)
    import django

    django.setup()


@dataclass
class Member:
    user: object
    group: object
    session: str  # the session cookie's value

    @property
    def cookie(self) -> str:
        from django.conf import settings

        return f"{settings.SESSION_COOKIE_NAME}={self.session}"


def create_member(email: str = "bench@example.org", slug: str = "bench") -> Member:
    """A member of a new group, with a verified address and a signed-in session
    (stored as a login through the model backend stores it)."""
    from allauth.account.models import EmailAddress
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from accounts.models import User
    from groups.models import Membership, Role, WorkingGroup

    user = User.objects.create_user(
        email=email, password=secrets.token_urlsafe(16), display_name="Bench Mark"
    )
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    group = WorkingGroup.objects.create(name="Benchmarks", slug=slug)
    Membership.objects.create(user=user, group=group, role=Role.MEMBER)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return Member(user=user, group=group, session=session.session_key)


def close_db() -> None:
    """Closes this process's database connections (SQLite: no lock held while
    the servers work)."""
    from django.db import connections

    connections.close_all()


# --- Threads -------------------------------------------------------------------------

POST_BODIES = [
    "I agree with @{mention}: the **pilot** should start with *two* cities.",
    "Three points:\n\n1. data on arrivals\n2. housing\n3. language courses",
    "See the [minutes](https://example.org/minutes) of the last session.",
    "> Skills partnerships take years.\n\nThey do, but the first cohort can start now.",
    "```\nquota = 1200  # per year\n```\nIs that per region or in total?",
    "Short one: yes.",
    "A longer thought. " * 12,
    "| city | places |\n|---|---|\n| Köln | 120 |\n| Lyon | 80 |",
]


def build_thread(group, people, size: int, *, title: str):
    """A thread of ``size`` posts: the first through the service, the others in
    bulk, with the positions, paths and depths the services give replies."""
    import random

    from django.utils import timezone

    from discussions import services
    from discussions.models import (
        MAX_DEPTH,
        POSITION_WIDTH,
        Post,
        PostRevision,
        Reaction,
        ReactionKind,
        Thread,
    )
    from groups.mentions import render_post

    rng = random.Random(size)
    thread = services.thread_create(
        actor=people[0], group=group, title=title, body="Where do we start?"
    )
    first = thread.posts.get()
    bodies = [body.format(mention=people[1].display_name) for body in POST_BODIES]
    rendered = [render_post(body, group)[0] for body in bodies]
    start = timezone.now() - timezone.timedelta(days=30)
    tree = {1: (first.path, first.depth)}  # position: (path, depth)
    parents = {}  # position: the parent's position
    posts = []
    for position in range(2, size + 1):
        if rng.random() < 0.7:  # a reply to one of the 30 latest posts
            parent = position - 1 - rng.randrange(min(position - 1, 30))
            parent_path, parent_depth = tree[parent]
            parents[position] = parent
            if parent_depth + 1 < MAX_DEPTH:
                path, depth = parent_path, parent_depth + 1
            else:  # too deep: beside its parent, as _add_post does
                path, depth = parent_path[:-POSITION_WIDTH], parent_depth
        else:
            path, depth = "", 0
        path += f"{position:0{POSITION_WIDTH}d}"
        tree[position] = (path, depth)
        choice = rng.randrange(len(bodies))
        created = start + timezone.timedelta(minutes=position)
        deleted = rng.random() < 0.02
        posts.append(
            Post(
                thread=thread,
                author=people[rng.randrange(len(people))],
                position=position,
                path=path,
                depth=depth,
                body="" if deleted else bodies[choice],
                body_html="" if deleted else rendered[choice],
                created_at=created,
                edited_at=created + timezone.timedelta(minutes=5) if rng.random() < 0.1 else None,
                hidden=not deleted and rng.random() < 0.02,
                hidden_reason="Off topic",
                deleted_at=created if deleted else None,
                search_text="" if deleted else f"{title}\n{bodies[choice]}",
            )
        )
    Post.objects.bulk_create(posts, batch_size=500)
    ids = dict(Post.objects.filter(thread=thread).values_list("position", "pk"))
    Post.objects.bulk_update(
        [Post(pk=ids[child], parent_id=ids[parent]) for child, parent in parents.items()],
        ["parent"],
        batch_size=500,
    )
    PostRevision.objects.bulk_create(
        [
            PostRevision(post_id=pk, number=1, body="", editor=people[0])
            for position, pk in ids.items()
            if position > 1
        ],
        batch_size=500,
    )
    kinds = ReactionKind.values
    Reaction.objects.bulk_create(
        [
            Reaction(post_id=pk, user=person, kind=kinds[(pk + index) % len(kinds)])
            for pk in list(ids.values())[::3]
            for index, person in enumerate(people[: 1 + pk % 4])
        ],
        batch_size=500,
        ignore_conflicts=True,
    )
    deleted = sum(1 for post in posts if post.deleted_at is not None)
    Thread.objects.filter(pk=thread.pk).update(
        last_position=size, post_count=size - deleted, last_activity_at=timezone.now()
    )
    thread.refresh_from_db()
    return thread


# --- Test files ------------------------------------------------------------------------

PDF_HEAD = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"


def write_pdf_like(path: Path, size: int) -> str:
    """Writes ``size`` bytes that libmagic reads as a PDF (its header, then
    random bytes: incompressible, 16 MB of os.urandom repeated with a counter
    so no two blocks are equal); returns the sha256."""
    pool = os.urandom(16 * MB)
    block = 4 * MB
    digest = hashlib.sha256()
    with open(path, "wb") as handle:
        written = 0
        number = 0
        while written < size:
            start = (number * 977 * 4096) % (len(pool) - block)
            chunk = (PDF_HEAD if number == 0 else number.to_bytes(8, "big")) + pool[
                start : start + block
            ]
            chunk = chunk[: size - written]
            handle.write(chunk)
            digest.update(chunk)
            written += len(chunk)
            number += 1
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(4 * MB):
            digest.update(chunk)
    return digest.hexdigest()


# --- Processes and what they use ---------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    """The resident set (VmRSS) of a process, in bytes; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def written_bytes(pid: int) -> dict[str, int]:
    """From /proc/<pid>/io: ``wchar`` (bytes passed to write calls, sockets
    included) and ``write_bytes`` (bytes the process caused to be sent to
    storage; 0 for files deleted before the page cache was flushed)."""
    figures = {}
    try:
        with open(f"/proc/{pid}/io") as io:
            for line in io:
                name, value = line.split(":")
                figures[name] = int(value)
    except (FileNotFoundError, PermissionError):
        return {"wchar": 0, "write_bytes": 0}
    return {"wchar": figures.get("wchar", 0), "write_bytes": figures.get("write_bytes", 0)}


def children(pid: int) -> list[int]:
    """The direct children of a process (nginx's workers under its master)."""
    found = []
    with contextlib.suppress(FileNotFoundError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as listing:
                found.extend(int(child) for child in listing.read().split())
    return found


class Usage:
    """Samples a process's resident memory in a thread while a run goes on, and
    its CPU time at both ends::

        with Usage(pid) as usage:
            ...
        usage.growth, usage.peak, usage.baseline, usage.cpu
    """

    def __init__(self, pid: int, interval: float = 0.002):
        self.pid = pid
        self.interval = interval
        self.baseline = self.peak = self.end = 0
        self.cpu = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(self.pid))
            self._stop.wait(self.interval)

    def __enter__(self):
        self.baseline = self.peak = rss_bytes(self.pid)
        self._cpu_start = cpu_seconds(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()
        self.end = rss_bytes(self.pid)
        self.peak = max(self.peak, self.end)
        self.cpu = cpu_seconds(self.pid) - self._cpu_start
        return False

    @property
    def growth(self) -> int:
        return self.peak - self.baseline

    def figures(self, prefix: str = "") -> dict:
        return {
            f"{prefix}rss_baseline_mb": round(self.baseline / MB, 1),
            f"{prefix}rss_peak_mb": round(self.peak / MB, 1),
            f"{prefix}rss_growth_mb": round(self.growth / MB, 1),
            f"{prefix}cpu_s": round(self.cpu, 2),
        }


# --- Servers -------------------------------------------------------------------------------


@contextlib.contextmanager
def daphne(env: dict[str, str], log_path: Path, args=()):
    """Our application under daphne; yields (base_url, process)."""
    with servers.daphne(env=env, log_path=log_path, args=args) as (base_url, process):
        yield base_url, process


@contextlib.contextmanager
def daphne_app(application: str, env: dict[str, str], log_path: Path):
    """Daphne serving another ASGI application (``module:attribute``, importable
    from the project root); yields (base_url, process)."""
    port = servers.free_port()
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), application],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            servers.wait_for_port(port, process=process)
            yield f"http://127.0.0.1:{port}", process
        finally:
            servers.stop(process)


def nginx_available() -> bool:
    return servers.nginx_binary() is not None


@contextlib.contextmanager
def nginx(http_config: str, port: int, workdir: Path, **options):
    """nginx with ``http_config`` (what a conf.d file holds); yields the master
    process. ``options``: ``worker_processes``, ``worker_connections``,
    ``worker_rlimit_nofile`` (by default, the connections and open files of
    production's deploy/nginx.conf: ``servers.production_nginx_limits``)."""
    with servers.nginx(http_config=http_config, port=port, workdir=workdir, **options) as process:
        yield process


def nginx_template(
    *,
    port: int,
    upstreams: list[str],
    socket_upstreams: list[str],
    static_root: Path,
    media_root: Path,
    body_limit: str = "",
) -> str:
    """deploy/nginx.conf.template rendered as docker-compose.yml renders it, with
    local addresses and directories: ``upstreams`` serve the pages,
    ``socket_upstreams`` the sockets (``/ws/``; the same list for one pool
    serving both). ``body_limit``: another client_max_body_size, e.g. for an
    upload larger than production allows."""
    from tests.topology import nginx_config  # the topology tests' rendering

    text = nginx_config(
        port=port,
        upstreams=upstreams,
        socket_upstreams=socket_upstreams,
        static_root=static_root,
        media_root=media_root,
    )
    if body_limit:
        text = text.replace("client_max_body_size 110m;", f"client_max_body_size {body_limit};")
    return text


# --- Clients --------------------------------------------------------------------------------


@dataclass
class Download:
    status: int
    size: int
    seconds: float
    sha256: str | None = None
    headers: dict = field(default_factory=dict)
    first_byte: float = 0.0  # seconds until the response's headers arrived


def download(base_url: str, path: str, headers: dict, *, hash_it: bool = False) -> Download:
    """GETs ``path``, reading the body in 1 MB chunks into one buffer and
    discarding it (or hashing it)."""
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=120)
    started = time.perf_counter()
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        first_byte = time.perf_counter() - started
        buffer = bytearray(READ_CHUNK)
        view = memoryview(buffer)
        digest = hashlib.sha256() if hash_it else None
        size = 0
        while count := response.readinto(view):
            size += count
            if digest is not None:
                digest.update(view[:count])
        return Download(
            status=response.status,
            size=size,
            seconds=time.perf_counter() - started,
            sha256=digest.hexdigest() if digest else None,
            headers=dict(response.getheaders()),
            first_byte=first_byte,
        )
    finally:
        connection.close()


def concurrent_downloads(base_url: str, path: str, headers: dict, count: int):
    """``count`` downloads at once, each in its own thread, started together;
    returns (wall seconds from the start to the last byte, [Download])."""
    results: list[Download | BaseException | None] = [None] * count
    barrier = threading.Barrier(count + 1)

    def worker(index: int) -> None:
        barrier.wait()
        try:
            results[index] = download(base_url, path, headers)
        except BaseException as error:
            results[index] = error

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return elapsed, results
