"""The production topology of docker-compose.yml, run with real processes.

No Docker engine runs in CI, so this test builds the same picture from the same
parts: two daphne processes (started as the image's CMD starts them, with
``--proxy-headers``) serving the test PostgreSQL database, sharing one Redis
(channel layer and cache, under a prefix unique to this run), and nginx in
front, configured from ``deploy/nginx.conf.template`` rendered with the
placeholders docker-compose.yml gives the nginx container.
"""

import asyncio
import contextlib
import http.client
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.urls import reverse
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from core.realtime import publish, user_stream
from tests import servers

ROOT = servers.ROOT
TEMPLATE = ROOT / "deploy" / "nginx.conf.template"
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
REDIS_URL = os.environ.get("REDIS_URL", "")
TIMEOUT = 10


def missing_services() -> str | None:
    if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return (
            "the topology test needs PostgreSQL shared by several processes: "
            "set DATABASE_URL=postgres://postgres@127.0.0.1:5432/workspace"
        )
    if not REDIS_URL:
        return (
            "the topology test needs Redis (channel layer and cache across processes): "
            "set REDIS_URL=redis://127.0.0.1:6379/0"
        )
    if servers.nginx_binary() is None:
        return "the topology test needs nginx in front: install nginx (Debian: nginx-light)"
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


def socket_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://", 1) + "/ws/"


def open_socket(base_url: str, session: str | None = None, *, origin: str):
    """A socket to ``base_url`` (nginx or one daphne directly) as a page of
    ``origin`` opens it: the site's pages send the site's origin (nginx's
    address, the processes' SITE_URL), whichever process serves them."""
    headers = {"Cookie": f"sessionid={session}"} if session else {}
    return connect(
        socket_url(base_url),
        origin=origin,
        additional_headers=headers,
        open_timeout=TIMEOUT,
    )


async def next_frame(socket) -> dict:
    return json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT))


# --- The topology ------------------------------------------------------------------


def nginx_config(*, port: int, upstreams: list[str], static_root: Path, media_root: Path) -> str:
    """The template rendered with the values docker-compose.yml gives the nginx
    container, but with local addresses and directories."""
    return servers.render_template(
        TEMPLATE.read_text(),
        {
            "WORKSPACE_LISTEN": f"127.0.0.1:{port}",
            "WORKSPACE_UPSTREAMS": " ".join(f"server {address};" for address in upstreams),
            "WORKSPACE_STATIC_ROOT": str(static_root),
            "WORKSPACE_MEDIA_ROOT": str(media_root),
        },
    )


@dataclass
class Topology:
    nginx: str  # base URLs (http://127.0.0.1:port)
    web_a: str
    web_b: str
    env: dict[str, str]
    static_root: Path
    media_root: Path
    workdir: Path

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


@pytest.fixture(scope="module")
def topology(django_db_setup, tmp_path_factory):
    reason = missing_services()
    if reason:
        pytest.skip(reason)
    workdir = tmp_path_factory.mktemp("topology")
    static_root = workdir / "static"
    media_root = workdir / "media"
    media_root.mkdir()
    database = servers.database_url(connection.settings_dict)  # the test database
    port = servers.free_port()  # nginx's: the address people reach the site at
    env = {
        "DEBUG": "0",
        "SECRET_KEY": "topology-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "DATABASE_URL": database,
        "REDIS_URL": REDIS_URL,
        "REDIS_PREFIX": f"topology-{uuid.uuid4().hex[:12]}",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CSRF_TRUSTED_ORIGINS": "",
        "SITE_URL": f"http://127.0.0.1:{port}",
        "TRUSTED_PROXY_COUNT": "1",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
        "STATIC_ROOT": str(static_root),
        "MEDIA_ROOT": str(media_root),
        "DOCUMENTS_X_ACCEL": "1",
        "LOG_LEVEL": "WARNING",
    }
    # DEBUG=0 serves static files through the manifest storage: collect first,
    # as the image build does.
    collected = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert collected.returncode == 0, collected.stderr
    with contextlib.ExitStack() as stack:
        web_a, _ = stack.enter_context(
            servers.daphne(env=env, args=["--proxy-headers"], log_path=workdir / "daphne-a.log")
        )
        web_b, _ = stack.enter_context(
            servers.daphne(env=env, args=["--proxy-headers"], log_path=workdir / "daphne-b.log")
        )
        config = nginx_config(
            port=port,
            upstreams=[urlsplit(url).netloc for url in (web_a, web_b)],
            static_root=static_root,
            media_root=media_root,
        )
        stack.enter_context(servers.nginx(http_config=config, port=port, workdir=workdir / "nginx"))
        stack.callback(forget_redis_keys, env["REDIS_PREFIX"])
        yield Topology(
            nginx=f"http://127.0.0.1:{port}",
            web_a=web_a,
            web_b=web_b,
            env=env,
            static_root=static_root,
            media_root=media_root,
            workdir=workdir,
        )


# --- (a) health through nginx, load spread over both processes ----------------------


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_health_through_nginx_reaches_both_daphne_processes(topology):
    for base_url in (topology.web_a, topology.web_b):
        direct = fetch(base_url + "/health/")
        assert (direct.status, json.loads(direct.body)) == (200, {"status": "ok"})

    marker = uuid.uuid4().hex
    for number in range(6):
        answer = fetch(f"{topology.nginx}/health/?probe={marker}-{number}")
        assert (answer.status, json.loads(answer.body)) == (200, {"status": "ok"})

    used = topology.upstreams_of(marker, 6)
    assert len(used) == 6
    assert set(used) == {urlsplit(topology.web_a).netloc, urlsplit(topology.web_b).netloc}


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_nginx_passes_on_https_from_a_tls_terminator_in_front(topology):
    """Behind a load balancer that terminates TLS, Django must see https (or
    SECURE_SSL_REDIRECT would loop); anything else is nginx's own scheme."""

    def hsts(**headers) -> bool:  # Django sends HSTS on secure requests only
        answer = fetch(topology.nginx + "/health/", headers=headers)
        assert answer.status == 200
        return "Strict-Transport-Security" in answer.headers

    assert not hsts()
    assert hsts(**{"X-Forwarded-Proto": "https"})
    assert not hsts(**{"X-Forwarded-Proto": "wss"})


# --- (b) login through nginx, the session valid on both processes -------------------


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_login_through_nginx_gives_a_session_both_processes_accept(topology, make_user, password):
    user = make_user("topology@example.org")
    session = log_in(topology.nginx, user.email, password)

    # A member page (the notifications) is for signed-in people only ...
    members_only = reverse("notifications:list")
    anonymous = fetch(topology.nginx + members_only)
    assert anonymous.status == 302
    assert anonymous.headers["Location"].startswith("/accounts/login/")

    # ... and the session made through nginx opens it on either process.
    for base_url in (topology.nginx, topology.web_a, topology.web_b):
        page = fetch(base_url + members_only, headers={"Cookie": f"sessionid={session}"})
        assert page.status == 200, (base_url, page.status, page.headers.get("Location"))
        assert 'action="/accounts/logout/"' in page.text  # the signed-in header


# --- (c) the socket through nginx ------------------------------------------------


@pytest.fixture
def member(make_user):
    # Created here, outside the event loop of the async tests.
    return make_user("socket@example.org")


@pytest.fixture
def bystander(make_user):
    return make_user("bystander@example.org")


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
async def test_websocket_through_nginx_needs_a_session_and_our_origin(topology, member, password):
    user = member
    session = await asyncio.to_thread(log_in, topology.nginx, user.email, password)

    async with open_socket(topology.nginx, session, origin=topology.nginx) as socket:
        assert await next_frame(socket) == {"type": "hello", "user": user.pk}
        await socket.send(json.dumps({"type": "ping", "id": 7}))
        assert await next_frame(socket) == {"type": "pong", "id": 7}

    with pytest.raises(InvalidStatus) as refused:
        async with open_socket(topology.nginx, origin=topology.nginx):
            pass
    assert refused.value.response.status_code == 403

    # Not the site: another host, and the same host on another port (a
    # daphne's own address) or scheme.
    https = topology.nginx.replace("http://", "https://", 1)
    for origin in ("http://evil.example", topology.web_a, https):
        with pytest.raises(InvalidStatus) as foreign:
            async with open_socket(topology.nginx, session, origin=origin):
                pass
        assert foreign.value.response.status_code == 403, origin


# --- (d) an event reaches sockets on both processes through Redis -----------------


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
async def test_event_published_once_reaches_sockets_on_both_processes(
    topology, member, bystander, password
):
    user, other = member, bystander
    session = await asyncio.to_thread(log_in, topology.nginx, user.email, password)
    other_session = await asyncio.to_thread(log_in, topology.nginx, other.email, password)

    # This process publishes on the channel layer the daphnes use.
    layers = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": topology.env["REDIS_PREFIX"]},
        }
    }
    async with (
        open_socket(topology.web_a, session, origin=topology.nginx) as on_a,
        open_socket(topology.web_b, session, origin=topology.nginx) as on_b,
        open_socket(topology.web_b, other_session, origin=topology.nginx) as on_b_other,
    ):
        for socket, owner in ((on_a, user), (on_b, user), (on_b_other, other)):
            assert await next_frame(socket) == {"type": "hello", "user": owner.pk}
            # A round trip after the subscription, before anything is published.
            await socket.send(json.dumps({"type": "ping", "id": 1}))
            assert (await next_frame(socket))["type"] == "pong"

        stream = user_stream(user.pk)
        with override_settings(CHANNEL_LAYERS=layers):
            await asyncio.to_thread(publish, stream, "test.ping", {"n": 1})

        expected = {
            "type": "event",
            "stream": stream,
            "seq": None,
            "event": "test.ping",
            "data": {"n": 1},
        }
        assert await next_frame(on_a) == expected
        assert await next_frame(on_b) == expected
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(on_b_other.recv(), 0.5)


# --- (e) static files from disk, with a far-future cache header ---------------------


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_nginx_serves_static_files_from_disk_with_long_cache(topology):
    manifest = json.loads((topology.static_root / "staticfiles.json").read_text())
    hashed = manifest["paths"]["css/workspace.css"]
    assert hashed != "css/workspace.css"

    answer = fetch(f"{topology.nginx}/static/{hashed}")
    assert answer.status == 200
    assert answer.body == (topology.static_root / hashed).read_bytes()
    assert answer.headers["Content-Type"].startswith("text/css")
    assert answer.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"

    # whitenoise's .gz beside it is sent as is.
    compressed = fetch(f"{topology.nginx}/static/{hashed}", headers={"Accept-Encoding": "gzip"})
    assert compressed.headers["Content-Encoding"] == "gzip"
    assert compressed.body == (topology.static_root / f"{hashed}.gz").read_bytes()

    # An unhashed name may change with the next release: cached briefly only.
    plain = fetch(f"{topology.nginx}/static/css/workspace.css")
    assert plain.status == 200
    assert "immutable" not in plain.headers["Cache-Control"]

    # Served by nginx from the directory, not proxied: a file written after
    # the daphnes started (so unknown to whitenoise) is there through nginx only.
    probe = f"probe-{uuid.uuid4().hex}.txt"
    (topology.static_root / probe).write_text("from disk")
    assert fetch(f"{topology.nginx}/static/{probe}").body == b"from disk"
    assert fetch(f"{topology.web_a}/static/{probe}").status == 404


# --- protected media ---------------------------------------------------------------


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_media_is_not_reachable_around_django(topology):
    (topology.media_root / "secret.txt").write_text("members only")
    internal = fetch(f"{topology.nginx}/protected-media/secret.txt")
    assert internal.status == 404
    assert b"members only" not in internal.body
    direct = fetch(f"{topology.nginx}/media/secret.txt")
    assert direct.status in {302, 404}
    assert b"members only" not in direct.body


class _AcceleratingView(BaseHTTPRequestHandler):
    """Stands in for the download view: authorises nothing, hands the file to nginx."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("X-Accel-Redirect", "/protected-media/documents/report%20v2.pdf")
        self.send_header("Content-Type", "application/pdf")
        self.send_header("Content-Disposition", 'attachment; filename="report v2.pdf"')
        self.send_header("Cache-Control", "private, no-store")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.services
def test_x_accel_redirect_sends_the_file_with_download_headers(tmp_path):
    if servers.nginx_binary() is None:
        pytest.skip("needs nginx: install nginx (Debian: nginx-light)")
    media_root = tmp_path / "media"
    (media_root / "documents").mkdir(parents=True)
    (media_root / "documents" / "report v2.pdf").write_bytes(b"%PDF-1.4 minutes")
    view = ThreadingHTTPServer(("127.0.0.1", 0), _AcceleratingView)
    thread = threading.Thread(target=view.serve_forever, daemon=True)
    thread.start()
    try:
        port = servers.free_port()
        config = nginx_config(
            port=port,
            upstreams=[f"127.0.0.1:{view.server_address[1]}"],
            static_root=tmp_path / "static",
            media_root=media_root,
        )
        with servers.nginx(http_config=config, port=port, workdir=tmp_path / "nginx"):
            answer = fetch(f"http://127.0.0.1:{port}/documents/1/download/")
    finally:
        view.shutdown()
        view.server_close()
        thread.join(TIMEOUT)
    assert answer.status == 200
    assert answer.body == b"%PDF-1.4 minutes"
    assert answer.headers["Content-Type"] == "application/pdf"
    assert answer.headers["Content-Disposition"] == 'attachment; filename="report v2.pdf"'
    assert answer.headers["Cache-Control"] == "private, no-store"
    # Dropped from the view's response by nginx, so the location sets them.
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in answer.headers["Content-Security-Policy"]
    assert "X-Accel-Redirect" not in answer.headers


# --- the image's health check and the compose file ---------------------------------


def dockerfile_healthcheck() -> list[str]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    line = next(line for line in text.splitlines() if line.startswith("HEALTHCHECK"))
    return json.loads(line.split(" CMD ", 1)[1])


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_image_healthcheck_passes_under_production_settings(topology, tmp_path):
    """The HEALTHCHECK talks to daphne directly, past nginx: it must satisfy
    ALLOWED_HOSTS and SECURE_SSL_REDIRECT as they are in production."""
    command = dockerfile_healthcheck()
    assert command[0] == "python"
    production = {
        **topology.env,
        "ALLOWED_HOSTS": "workspace.example.org,.example.net",
        "SECURE_SSL_REDIRECT": "1",
        "SECURE_COOKIES": "1",
    }
    with servers.daphne(
        env=production, args=["--proxy-headers"], log_path=tmp_path / "daphne.log"
    ) as (base_url, _):
        plain = fetch(base_url + "/health/", headers={"Host": "workspace.example.org"})
        assert plain.status == 301  # what a naive check would get
        script = command[2].replace("http://127.0.0.1:8000/", base_url + "/")
        check = subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, **production},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert check.returncode == 0, check.stderr
    down = subprocess.run(
        [sys.executable, "-c", script], env={**os.environ, **production}, capture_output=True
    )
    assert down.returncode != 0


def test_compose_gives_nginx_every_template_placeholder():
    placeholders = set(re.findall(r"\$\{(\w+)\}", TEMPLATE.read_text()))
    assert placeholders == {
        "WORKSPACE_LISTEN",
        "WORKSPACE_UPSTREAMS",
        "WORKSPACE_STATIC_ROOT",
        "WORKSPACE_MEDIA_ROOT",
    }
    compose = COMPOSE.read_text()
    for name in placeholders:
        assert re.search(rf"^\s+{name}: \S", compose, re.M), name
    assert 'NGINX_ENVSUBST_FILTER: "^WORKSPACE_"' in compose
    # The template must not use a nginx variable named like a placeholder.
    assert not re.search(r"\$WORKSPACE_", TEMPLATE.read_text())
    # The image runs daphne as the topology test runs it.
    cmd = next(line for line in DOCKERFILE.read_text().splitlines() if line.startswith("CMD "))
    assert shlex.join(json.loads(cmd[4:])) == (
        "daphne -b 0.0.0.0 -p 8000 --proxy-headers workspace.asgi:application"
    )
