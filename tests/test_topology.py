"""The production topology of docker-compose.yml, run with real processes.

Built by tests/topology.py (four daphne processes behind nginx on the test
PostgreSQL database, sharing one Redis: two for the pages, two for the
sockets), as docker-compose.yml runs it.
"""

import asyncio
import contextlib
import json
import os
import pwd
import re
import resource
import shlex
import shutil
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.db import connection
from django.test import override_settings
from django.urls import reverse
from websockets.exceptions import InvalidStatus

from core.realtime import publish, user_stream
from tests import servers
from tests.topology import (
    REDIS_URL,
    ROOT,
    TEMPLATE,
    TIMEOUT,
    fetch,
    log_in,
    missing_services,
    next_frame,
    nginx_config,
    open_socket,
    running,
)

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
NGINX_MAIN = servers.NGINX_MAIN_CONFIG  # deploy/nginx.conf


@pytest.fixture(scope="module")
def topology(django_db_setup, tmp_path_factory):
    reason = missing_services()
    if reason:
        pytest.skip(reason)
    database = servers.database_url(connection.settings_dict)  # the test database
    with running(tmp_path_factory.mktemp("topology"), database_url=database) as built:
        yield built


# --- (a) health through nginx, pages spread over both page processes ----------------


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_pages_through_nginx_reach_both_page_processes_and_no_socket_process(topology):
    for base_url in (*topology.pages, *topology.sockets):  # the same application on all four
        direct = fetch(base_url + "/health/")
        assert (direct.status, json.loads(direct.body)) == (200, {"status": "ok"})

    marker = uuid.uuid4().hex
    for number in range(6):
        answer = fetch(f"{topology.nginx}/health/?probe={marker}-{number}")
        assert (answer.status, json.loads(answer.body)) == (200, {"status": "ok"})
    login_page = fetch(f"{topology.nginx}/accounts/login/?probe={marker}-page")
    assert login_page.status == 200

    used = topology.upstreams_of(marker, 7)
    assert len(used) == 7
    assert set(used) == {topology.address(url) for url in topology.pages}


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

    # ... and the session made through nginx opens it on every process.
    for base_url in (topology.nginx, *topology.pages, *topology.sockets):
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


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
async def test_sockets_through_nginx_reach_both_socket_processes_and_no_page_process(
    topology, member, password
):
    session = await asyncio.to_thread(log_in, topology.nginx, member.email, password)
    marker = uuid.uuid4().hex
    count = 4
    async with contextlib.AsyncExitStack() as stack:
        # Open together, so that least_conn shares them between the processes.
        sockets = [
            await stack.enter_async_context(
                open_socket(
                    topology.nginx, session, origin=topology.nginx, query=f"probe={marker}-{n}"
                )
            )
            for n in range(count)
        ]
        for socket in sockets:
            assert await next_frame(socket) == {"type": "hello", "user": member.pk}
        for url in topology.pages:  # nothing reached a page process
            assert topology.open_sockets(url) == 0, url
    # nginx logs a socket once it has closed.
    used = await asyncio.to_thread(topology.upstreams_of, marker, count)
    assert len(used) == count
    assert set(used) == {topology.address(url) for url in topology.sockets}
    for url in topology.pages:
        assert '"WSCONNECT ' not in topology.logs[url].read_text(errors="replace"), url


# --- (d) an event reaches sockets on both processes through Redis -----------------


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
async def test_event_published_once_reaches_sockets_on_both_socket_processes(
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
        open_socket(topology.socket_a, session, origin=topology.nginx) as on_a,
        open_socket(topology.socket_b, session, origin=topology.nginx) as on_b,
        open_socket(topology.socket_b, other_session, origin=topology.nginx) as on_b_other,
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
            socket_upstreams=[f"127.0.0.1:{view.server_address[1]}"],
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
        "WORKSPACE_SOCKET_UPSTREAMS",
        "WORKSPACE_STATIC_ROOT",
        "WORKSPACE_MEDIA_ROOT",
    }
    compose = COMPOSE.read_text()
    for name in placeholders:
        assert re.search(rf"^\s+{name}: \S", compose, re.M), name
    # Four daphne processes from the same service definition: two for the
    # pages, two for the sockets, each named in nginx's upstreams.
    for service in ("web1", "web2", "socket1", "socket2"):
        assert re.search(rf"^  {service}: \*web$", compose, re.M), service
    assert 'WORKSPACE_UPSTREAMS: "server web1:8000; server web2:8000;"' in compose
    assert 'WORKSPACE_SOCKET_UPSTREAMS: "server socket1:8000; server socket2:8000;"' in compose
    assert 'NGINX_ENVSUBST_FILTER: "^WORKSPACE_"' in compose
    # The template must not use a nginx variable named like a placeholder.
    assert not re.search(r"\$WORKSPACE_", TEMPLATE.read_text())
    # The image runs daphne as the topology test runs it.
    cmd = next(line for line in DOCKERFILE.read_text().splitlines() if line.startswith("CMD "))
    assert shlex.join(json.loads(cmd[4:])) == (
        "daphne -b 0.0.0.0 -p 8000 --proxy-headers workspace.asgi:application"
    )


# --- production's main nginx configuration (deploy/nginx.conf) ----------------------


def nginx_service(compose: str) -> str:
    """The nginx service's block of the compose file."""
    block = re.search(r"^  nginx:\n(.*?)(?=^  \S|^\S)", compose, re.M | re.S)
    assert block, "no nginx service in docker-compose.yml"
    return block.group(1)


def test_compose_mounts_the_main_nginx_configuration():
    nginx = nginx_service(COMPOSE.read_text())
    volumes = re.findall(r"^      - (\S+)$", nginx, re.M)
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in volumes
    assert "./deploy/nginx.conf.template:/etc/nginx/templates/default.conf.template:ro" in volumes
    assert re.search(r"^    image: nginx:stable$", nginx, re.M)


def test_production_nginx_holds_a_thousand_members_on_two_cores():
    """Issue 16: 1,000 active members on a two-core machine. Each holds three
    connections through nginx (the browser's socket, its continuation to
    daphne, the pages' idle keep-alive connection); half as many again for
    headroom. Each connection may need a second file descriptor (a file sent,
    a buffered upload)."""
    limits = servers.production_nginx_limits()
    text = re.sub(r"#[^\n]*", "", NGINX_MAIN.read_text())
    assert re.search(r"^worker_processes auto;$", text, re.M)  # 2 workers on two cores
    workers, members, per_member = 2, 1000, 3
    assert workers * limits.worker_connections >= per_member * members * 1.5
    assert limits.worker_rlimit_nofile >= 2 * limits.worker_connections
    # The image's own nginx.conf (1,024 connections per worker) held about 680.
    assert workers * 1024 // per_member < members


def test_production_nginx_limits_reads_one_number_per_directive(tmp_path):
    config = tmp_path / "nginx.conf"
    config.write_text(
        "# worker_connections 1;\nworker_rlimit_nofile 300;\n"
        "events {\n    worker_connections 100; # not 2\n}\n"
    )
    assert servers.production_nginx_limits(config) == (100, 300)
    config.write_text("worker_rlimit_nofile 300;\nevents { worker_connections 100; }\n" * 2)
    with pytest.raises(ValueError, match="worker_connections"):
        servers.production_nginx_limits(config)
    config.write_text("events { worker_connections 100; }\n")
    with pytest.raises(ValueError, match="worker_rlimit_nofile"):
        servers.production_nginx_limits(config)


def production_main_config_here(directory, http_config: str):
    """deploy/nginx.conf's directives as they are, but for the paths it shares
    with the image (user, pid, logs, mime.types, conf.d), moved to
    ``directory`` (and the temp dirs with them); conf.d
    holds ``http_config``. Returns the configuration file's path."""
    conf_d = directory / "conf.d"
    conf_d.mkdir(parents=True)
    (conf_d / "default.conf").write_text(http_config)
    shutil.copy("/etc/nginx/mime.types", directory / "mime.types")
    temp_paths = " ".join(
        f"{name}_temp_path {directory / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    text = re.sub(r"#[^\n]*", "", NGINX_MAIN.read_text())  # its directives only
    for image_path, here in {
        "user nginx;": f"user {pwd.getpwuid(os.geteuid()).pw_name};",
        " /run/nginx.pid;": f" {directory / 'nginx.pid'};",
        " /var/log/nginx/error.log ": f" {directory / 'error.log'} ",
        " /etc/nginx/mime.types;": f" {directory / 'mime.types'};",
        " /var/log/nginx/access.log ": f" {directory / 'access.log'} ",
        "include /etc/nginx/conf.d/*.conf;": f"{temp_paths} include {conf_d}/*.conf;",
    }.items():
        assert text.count(image_path) == 1, image_path
        text = text.replace(image_path, here)
    (directory / "nginx.conf").write_text(text)
    return directory / "nginx.conf"


def test_production_main_nginx_configuration_runs(tmp_path):
    """nginx's own parser accepts deploy/nginx.conf around the rendered
    template, and its workers get the connections and open files it sets."""
    binary = servers.nginx_binary()
    if binary is None or not os.path.exists("/etc/nginx/mime.types"):
        pytest.skip("needs nginx (Debian: nginx-light) and /etc/nginx/mime.types")
    port = servers.free_port()
    http_config = nginx_config(
        port=port,
        upstreams=["127.0.0.1:9"],
        socket_upstreams=["127.0.0.1:9"],
        static_root=tmp_path / "static",
        media_root=tmp_path / "media",
    )
    config = production_main_config_here(tmp_path / "nginx", http_config)
    options = ["-p", str(tmp_path / "nginx"), "-c", str(config), "-e", str(tmp_path / "stderr")]
    check = subprocess.run([binary, "-t", *options], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    assert "test is successful" in check.stderr

    limits = servers.production_nginx_limits()
    with open(tmp_path / "nginx.out", "wb") as log:
        process = subprocess.Popen(
            [binary, "-g", "daemon off;", *options],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        servers.wait_for_port(port, process=process)
        workers = worker_pids(process.pid)
        for pid in workers:
            limit = re.search(r"^Max open files\s+(\d+)\s+(\d+)", read_limits(pid), re.M)
            soft, hard = int(limit.group(1)), int(limit.group(2))
            # Not past the hard limit nginx was started with (inside a container,
            # even root cannot raise it): nginx then keeps its soft limit.
            if hard_limit_at_least(limits.worker_rlimit_nofile):
                assert (soft, hard) == (limits.worker_rlimit_nofile,) * 2
        answer = fetch(f"http://127.0.0.1:{port}/health/")
        assert answer.status == 502  # nginx answered; nothing listens behind it
    finally:
        servers.stop(process)
    errors = (tmp_path / "nginx" / "error.log").read_text()
    assert "[emerg]" not in errors
    if hard_limit_at_least(limits.worker_rlimit_nofile):
        assert "setrlimit" not in errors  # the open files were granted


def worker_pids(master: int) -> list[int]:
    """The workers of nginx's master: with worker_processes auto, one per core
    (online, or the ones it may run on)."""
    cores = {os.cpu_count(), len(os.sched_getaffinity(0))}
    listing = Path(f"/proc/{master}/task/{master}/children")
    deadline = time.monotonic() + TIMEOUT
    while True:
        children = listing.read_text().split() if listing.exists() else []
        if len(children) >= min(cores) or time.monotonic() > deadline:
            time.sleep(0.2)  # the rest of them, if there are more cores online
            children = listing.read_text().split()
            assert len(children) in cores, (children, cores)
            return [int(pid) for pid in children]
        time.sleep(0.05)


def hard_limit_at_least(files: int) -> bool:
    """Whether nginx, started by this process, may open ``files`` files."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return hard == resource.RLIM_INFINITY or hard >= files


def read_limits(pid: int) -> str:
    return Path(f"/proc/{pid}/limits").read_text()
