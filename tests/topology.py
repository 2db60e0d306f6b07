"""The production topology of docker-compose.yml, run with real processes, for
the tests that need it (tests/test_topology.py, tests/test_faults.py).

No Docker engine runs in CI, so this builds the same picture from the same
parts: four daphne processes (started as the image's CMD starts them, with
``--proxy-headers``, the same settings), two for the pages (web1, web2 in
compose: ``web_a``, ``web_b`` here) and two for the sockets (socket1,
socket2: ``socket_a``, ``socket_b``), serving one PostgreSQL database,
sharing one Redis (channel layer and cache, under a prefix unique to the
run), and nginx in front, configured from ``deploy/nginx.conf.template``
rendered with the placeholders docker-compose.yml gives the nginx container:
``/ws/`` to the socket processes, everything else to the page processes,
with the ``worker_connections`` and ``worker_rlimit_nofile`` of production's
main configuration, ``deploy/nginx.conf``.
The four start at once (each takes seconds).
"""

import asyncio
import contextlib
import http.client
import json
import os
import re
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import redis
from django.conf import settings
from websockets.asyncio.client import connect

from tests import servers

ROOT = servers.ROOT
TEMPLATE = ROOT / "deploy" / "nginx.conf.template"
REDIS_URL = os.environ.get("REDIS_URL", "")
TIMEOUT = 10


def missing_services() -> str | None:
    """Why the topology cannot run here, or None."""
    if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return (
            "the topology needs PostgreSQL shared by several processes: "
            "set DATABASE_URL=postgres://postgres@127.0.0.1:5432/workspace"
        )
    if not REDIS_URL:
        return (
            "the topology needs Redis (channel layer and cache across processes): "
            "set REDIS_URL=redis://127.0.0.1:6379/0"
        )
    if servers.nginx_binary() is None:
        return "the topology needs nginx in front: install nginx (Debian: nginx-light)"
    return None


# --- HTTP and WebSocket clients ---------------------------------------------------


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()

    def cookies(self) -> dict[str, str]:
        jar = SimpleCookie()
        for header in self.headers.get_all("Set-Cookie") or ():
            jar.load(header)
        return {name: morsel.value for name, morsel in jar.items()}


def fetch(url: str, method: str = "GET", *, headers=None, body=None) -> Response:
    """One request, no redirects followed, no cookies kept."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, target, body=body, headers=headers or {})
        response = conn.getresponse()
        return Response(response.status, response.headers, response.read())
    finally:
        conn.close()


def log_in(base_url: str, email: str, password: str) -> str:
    """Signs in with the allauth form as a browser would; returns the session id."""
    page = fetch(base_url + "/accounts/login/")
    assert page.status == 200, page.status
    csrf_cookie = page.cookies()["csrftoken"]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    answer = fetch(
        base_url + "/accounts/login/",
        "POST",
        headers={
            "Cookie": f"csrftoken={csrf_cookie}",
            "Origin": base_url,
            "Referer": base_url + "/accounts/login/",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        body=urlencode({"csrfmiddlewaretoken": token, "login": email, "password": password}),
    )
    assert answer.status == 302, (answer.status, answer.text[:2000])
    assert not answer.headers["Location"].startswith("/accounts/")
    return answer.cookies()["sessionid"]


def socket_url(base_url: str, query: str = "") -> str:
    return base_url.replace("http://", "ws://", 1) + "/ws/" + (f"?{query}" if query else "")


def open_socket(base_url: str, session: str | None = None, *, origin: str, query: str = ""):
    """A socket to ``base_url`` (nginx or one daphne directly) as a page of
    ``origin`` opens it: the site's pages send the site's origin (nginx's
    address, the processes' SITE_URL), whichever process serves them.
    ``query``: a query string, to find the socket in nginx's access log."""
    headers = {"Cookie": f"sessionid={session}"} if session else {}
    return connect(
        socket_url(base_url, query),
        origin=origin,
        additional_headers=headers,
        open_timeout=TIMEOUT,
    )


async def next_frame(socket) -> dict:
    return json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT))


# --- The topology ------------------------------------------------------------------


def nginx_config(
    *,
    port: int,
    upstreams: list[str],
    socket_upstreams: list[str],
    static_root: Path,
    media_root: Path,
) -> str:
    """The template rendered with the values docker-compose.yml gives the nginx
    container, but with local addresses and directories: ``upstreams`` serve
    the pages, ``socket_upstreams`` the sockets (``/ws/``)."""
    return servers.render_template(
        TEMPLATE.read_text(),
        {
            "WORKSPACE_LISTEN": f"127.0.0.1:{port}",
            "WORKSPACE_UPSTREAMS": " ".join(f"server {address};" for address in upstreams),
            "WORKSPACE_SOCKET_UPSTREAMS": " ".join(
                f"server {address};" for address in socket_upstreams
            ),
            "WORKSPACE_STATIC_ROOT": str(static_root),
            "WORKSPACE_MEDIA_ROOT": str(media_root),
        },
    )


@dataclass
class Topology:
    nginx: str  # base URLs (http://127.0.0.1:port)
    web_a: str  # the pages' processes
    web_b: str
    socket_a: str  # the sockets' processes
    socket_b: str
    env: dict[str, str]
    static_root: Path
    media_root: Path
    workdir: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)  # base URL -> daphne
    logs: dict[str, Path] = field(default_factory=dict)  # base URL -> the daphne's log

    @property
    def pages(self) -> list[str]:
        return [self.web_a, self.web_b]

    @property
    def sockets(self) -> list[str]:
        return [self.socket_a, self.socket_b]

    @staticmethod
    def address(base_url: str) -> str:
        """host:port, as nginx's access log names an upstream."""
        return urlsplit(base_url).netloc

    def open_sockets(self, base_url: str) -> int:
        """Sockets open on a process now, by its access log (connected minus
        disconnected)."""
        log = self.logs[base_url].read_text(errors="replace")
        return log.count('"WSCONNECT ') - log.count('"WSDISCONNECT ')

    def upstreams_of(self, marker: str, count: int) -> list[str]:
        """The upstream addresses nginx logged for the ``count`` requests whose
        URI contains ``marker`` (nginx logs a request after answering it)."""
        pattern = re.compile(rf"^\S+ \S*{re.escape(marker)}\S* \d+ upstream=(\S+)$", re.M)
        deadline = time.monotonic() + TIMEOUT
        while True:
            found = pattern.findall((self.workdir / "nginx" / "access.log").read_text())
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


def forget_redis_keys(prefix: str) -> None:
    """Removes what this run left in Redis (cache entries; they expire anyway)."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def collect_static(env: dict[str, str]) -> None:
    """DEBUG=0 serves static files through the manifest storage: collected first,
    as the image build does."""
    collected = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert collected.returncode == 0, collected.stderr


def production_env(*, port: int, database_url: str, workdir: Path) -> dict[str, str]:
    """The environment of the daphne processes behind nginx on ``port``."""
    return {
        "DEBUG": "0",
        "SECRET_KEY": "topology-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "REDIS_PREFIX": f"topology-{uuid.uuid4().hex[:12]}",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CSRF_TRUSTED_ORIGINS": "",
        "SITE_URL": f"http://127.0.0.1:{port}",
        "TRUSTED_PROXY_COUNT": "1",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
        "STATIC_ROOT": str(workdir / "static"),
        "MEDIA_ROOT": str(workdir / "media"),
        "DOCUMENTS_X_ACCEL": "1",
        "LOG_LEVEL": "WARNING",
        # As the image sets it: each line of the log (daphne's access log
        # too, which the tests read) is written when it happens.
        "PYTHONUNBUFFERED": "1",
    }


def enter_at_once(stack: contextlib.ExitStack, contexts: list) -> list:
    """Enters the context managers each in a thread of its own, all at once
    (a daphne takes seconds to start); their exits go on ``stack``, also
    when one of them fails to start. Returns what they yield, in order."""
    with ThreadPoolExecutor(len(contexts)) as pool:
        futures = [pool.submit(context.__enter__) for context in contexts]
    entered, failure = [], None
    for context, future in zip(contexts, futures, strict=True):
        try:
            entered.append(future.result())
        except BaseException as error:  # raised once the others are on the stack
            failure = failure or error
        else:
            stack.push(context)
    if failure is not None:
        raise failure
    return entered


# The daphne processes of the topology: name (the log's) -> Topology field.
PROCESSES = {
    "daphne-a": "web_a",
    "daphne-b": "web_b",
    "socket-a": "socket_a",
    "socket-b": "socket_b",
}


@contextlib.contextmanager
def running(workdir: Path, *, database_url: str, env: dict[str, str] | None = None):
    """Four daphne processes on ``database_url`` behind nginx, two for the
    pages and two for the sockets (``env`` added to theirs); yields the
    Topology, stops everything afterwards."""
    static_root = workdir / "static"
    media_root = workdir / "media"
    media_root.mkdir(parents=True, exist_ok=True)
    port = servers.free_port()  # nginx's: the address people reach the site at
    env = {**production_env(port=port, database_url=database_url, workdir=workdir), **(env or {})}
    collect_static(env)
    logs = {name: workdir / f"{name}.log" for name in PROCESSES}
    with contextlib.ExitStack() as stack:
        started = enter_at_once(
            stack,
            [
                servers.daphne(env=env, args=["--proxy-headers"], log_path=log_path)
                for log_path in logs.values()
            ],
        )
        urls = {
            name: url for name, (url, _process) in zip(PROCESSES.values(), started, strict=True)
        }
        config = nginx_config(
            port=port,
            upstreams=[urlsplit(urls[name]).netloc for name in ("web_a", "web_b")],
            socket_upstreams=[urlsplit(urls[name]).netloc for name in ("socket_a", "socket_b")],
            static_root=static_root,
            media_root=media_root,
        )
        # Production's limits (deploy/nginx.conf), in one worker: balancing
        # is per worker, and the tests read where each request went.
        limits = servers.production_nginx_limits()
        stack.enter_context(
            servers.nginx(
                http_config=config,
                port=port,
                workdir=workdir / "nginx",
                worker_connections=limits.worker_connections,
                worker_rlimit_nofile=limits.worker_rlimit_nofile,
            )
        )
        stack.callback(forget_redis_keys, env["REDIS_PREFIX"])
        yield Topology(
            nginx=f"http://127.0.0.1:{port}",
            **urls,
            env=env,
            static_root=static_root,
            media_root=media_root,
            workdir=workdir,
            processes=dict(started),
            logs={
                url: logs[name] for name, (url, _process) in zip(PROCESSES, started, strict=True)
            },
        )
