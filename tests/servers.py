"""Real server processes for tests: daphne (and friends) started as subprocesses.

pytest-django's live_server speaks no WebSocket, so browser and topology tests
serve the test database with daphne in a child process.
"""

import contextlib
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def local_env(settings_dict: dict, media_root, **extra: str) -> dict[str, str]:
    """The environment of a workspace process a test starts on this machine:
    the test database (``settings_dict``: Django's connection settings),
    plain HTTP on the loopback, uploads under ``media_root``; ``extra`` added."""
    return {
        "DEBUG": "1",
        "DATABASE_URL": database_url(settings_dict),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
        "MEDIA_ROOT": str(media_root),
        **extra,
    }


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL for the database Django is connected to now (the test
    database inside a test), so that a child process serves the same data."""
    engine = settings_dict["ENGINE"]
    if engine.endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    if engine.endswith("postgresql"):
        user = settings_dict.get("USER") or "postgres"
        password = settings_dict.get("PASSWORD") or ""
        auth = f"{user}:{password}@" if password else f"{user}@"
        host = settings_dict.get("HOST") or "127.0.0.1"
        port = settings_dict.get("PORT") or 5432
        return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"
    raise ValueError(f"Unsupported engine for a child process: {engine}")


def wait_for_http(url: str, timeout: float = 30.0, process: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"Server exited with {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                if response.status < 500:
                    return
        except urllib.error.HTTPError as error:
            if error.code < 500:
                return
            last_error = error
        except OSError as error:
            last_error = error
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s: {last_error}")


@contextlib.contextmanager
def daphne(
    *,
    env: dict[str, str],
    port: int | None = None,
    log_path: Path | None = None,
    args: Sequence[str] = (),
    file_size_limit: int | None = None,
):
    """Runs ``daphne workspace.asgi:application`` with ``env`` added to this
    process's environment and ``args`` (e.g. ``--proxy-headers``) added to its
    command line; yields (base_url, process); stops it afterwards. Its
    ``SITE_URL`` (links in emails, the origin its socket accepts) is its own
    base URL unless ``env`` names another (e.g. a proxy's in front).

    ``file_size_limit`` (bytes) is a disk that fills up: no file the process
    writes can grow past it (RLIMIT_FSIZE; SIGXFSZ ignored, so that the write
    fails with EFBIG as on a full disk with ENOSPC, instead of killing it)."""
    port = port or free_port()
    base_url = f"http://127.0.0.1:{port}"
    child_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "workspace.settings",
        "SITE_URL": base_url,
        **env,
    }
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            *args,
            "workspace.asgi:application",
        ],
        cwd=ROOT,
        env=child_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=None if file_size_limit is None else _limit_file_size(file_size_limit),
    )
    try:
        wait_for_http(base_url + "/health/", process=process)
        yield base_url, process
    finally:
        stop(process)
        if log_path:
            log.close()


def _limit_file_size(limit: int):
    def limit_in_child() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limit_in_child


def stop(process: subprocess.Popen, timeout: float = 10.0) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def nginx_binary() -> str | None:
    """The nginx executable, or None when nginx is not installed."""
    found = shutil.which("nginx")
    if found:
        return found
    for candidate in ("/usr/sbin/nginx", "/usr/local/sbin/nginx"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def render_template(text: str, variables: dict[str, str]) -> str:
    """Replaces ``${NAME}`` placeholders like envsubst does, leaving nginx's own
    ``$variables`` alone; a placeholder without a value is an error."""

    def replace(match: re.Match) -> str:
        return variables[match.group(1)]

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", replace, text)


def wait_for_port(port: int, timeout: float = 15.0, process: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"Server exited with {process.returncode} before port {port} opened")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"Port {port} did not open within {timeout}s")


# The main configuration docker-compose.yml gives the nginx container.
NGINX_MAIN_CONFIG = ROOT / "deploy" / "nginx.conf"


class NginxLimits(NamedTuple):
    worker_connections: int
    worker_rlimit_nofile: int


def production_nginx_limits(path: Path = NGINX_MAIN_CONFIG) -> NginxLimits:
    """``worker_connections`` and ``worker_rlimit_nofile`` as production's main
    configuration (deploy/nginx.conf) sets them: each directive once, outside
    comments, with a plain number."""

    def directive(name: str) -> int:
        text = re.sub(r"#[^\n]*", "", path.read_text())
        found = re.findall(rf"(?:^|[;{{}}\s]){name}\s+([^;]*);", text)
        if len(found) != 1 or not found[0].strip().isdigit():
            raise ValueError(f"{path}: expected one '{name} <number>;', found {found}")
        return int(found[0])

    return NginxLimits(directive("worker_connections"), directive("worker_rlimit_nofile"))


@contextlib.contextmanager
def nginx(
    *,
    http_config: str,
    port: int,
    workdir: Path,
    worker_processes: int = 1,
    worker_connections: int | None = None,
    worker_rlimit_nofile: int | None = None,
):
    """Runs nginx in the foreground with ``http_config`` (what a conf.d file holds:
    upstreams, maps, server blocks) inside a minimal main configuration written
    to ``workdir``, which also gets the pid file, the temp dirs and the logs
    (``access.log`` names each request's upstream). ``http_config`` must listen
    on ``port``. ``worker_connections`` counts both sides of a proxied request
    (a socket through nginx holds two); by default it and
    ``worker_rlimit_nofile`` are production's (``production_nginx_limits``).
    Given ``worker_connections`` alone, the workers may open twice as many
    files, plus 64; never more than this process's hard limit. Yields the
    process; stops it afterwards."""
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("nginx is not installed")
    if worker_connections is None:
        production = production_nginx_limits()
        worker_connections = production.worker_connections
        worker_rlimit_nofile = worker_rlimit_nofile or production.worker_rlimit_nofile
    worker_rlimit_nofile = worker_rlimit_nofile or 2 * worker_connections + 64
    # Without CAP_SYS_RESOURCE (in a container, even as root) nginx cannot go
    # past the hard limit it inherits: it would keep the soft one instead.
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY:
        worker_rlimit_nofile = min(worker_rlimit_nofile, hard)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "site.conf").write_text(http_config)
    mime_types = next(
        (
            path
            for path in (Path("/etc/nginx/mime.types"), Path("/usr/local/nginx/conf/mime.types"))
            if path.exists()
        ),
        None,
    )
    temp_paths = "\n".join(
        f"    {name}_temp_path {workdir / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # Started as root, nginx would run its workers as "nobody", who cannot read
    # the test's private temp dirs.
    main_config = f"""
daemon off;
master_process on;
worker_processes {worker_processes};
worker_rlimit_nofile {worker_rlimit_nofile};
pid {workdir / "nginx.pid"};
error_log {workdir / "error.log"} warn;
{"user root;" if os.geteuid() == 0 else ""}
events {{ worker_connections {worker_connections}; }}
http {{
    {f"include {mime_types};" if mime_types else ""}
    default_type application/octet-stream;
    sendfile on;
    log_format upstreams '$request_method $request_uri $status upstream=$upstream_addr';
    access_log {workdir / "access.log"} upstreams;
{temp_paths}
    include {workdir / "site.conf"};
}}
"""
    (workdir / "nginx.conf").write_text(main_config)
    options = [
        "-p",
        str(workdir),
        "-c",
        str(workdir / "nginx.conf"),
        "-e",
        str(workdir / "error.log"),
    ]
    check = subprocess.run([binary, "-t", "-q", *options], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"nginx rejected its configuration:\n{check.stderr}")
    with open(workdir / "stderr.log", "wb") as log:
        process = subprocess.Popen(
            [binary, *options],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for_port(port, process=process)
            yield process
        finally:
            stop(process)


@contextlib.contextmanager
def two_daphnes(tmp_path: Path, *, database_url: str, redis_url: str, redis_prefix: str):
    """Two daphne processes sharing ``database_url`` and Redis under
    ``redis_prefix`` (plain HTTP, debug settings); yields their base URLs."""
    env = {
        "DEBUG": "1",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": redis_prefix,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
        "LOG_LEVEL": "WARNING",
    }
    with (
        daphne(env=env, log_path=tmp_path / "a.log") as (web_a, _a),
        daphne(env=env, log_path=tmp_path / "b.log") as (web_b, _b),
    ):
        yield web_a, web_b


def postgres_binaries() -> Path | None:
    """The bin directory of the newest PostgreSQL server installed (initdb,
    pg_ctl), or None."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


class PostgresCluster:
    """A throwaway PostgreSQL cluster of a test's own (never the machine's
    shared one): initdb in a temporary directory, a free port on 127.0.0.1,
    trust authentication, no fsync. It can be stopped and started again on
    the same port. As root it runs as the ``postgres`` user (initdb refuses
    root)."""

    def __init__(self, binaries: Path):
        self.binaries = binaries
        self.port = free_port()
        # Not under pytest's tmp_path: root's is closed to the postgres user.
        self.directory = Path(tempfile.mkdtemp(prefix="workspace-pg-"))
        self.data = self.directory / "data"
        self.log = self.directory / "server.log"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            self.as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.directory, "postgres", "postgres")

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str, timeout: float = 60) -> None:
        done = subprocess.run(
            [*self.as_user, *command], capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{command[0]} failed:\n{done.stdout}\n{done.stderr}\n{log}")

    def init(self) -> None:
        self._run(
            str(self.binaries / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(self.binaries / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.binaries / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def remove(self) -> None:
        if self.running():
            with contextlib.suppress(Exception):
                self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


@contextlib.contextmanager
def postgres_cluster():
    """A started PostgreSQL cluster of the caller's own; removed afterwards.
    Raises LookupError when no PostgreSQL server is installed."""
    binaries = postgres_binaries()
    if binaries is None:
        raise LookupError("no PostgreSQL server installed (initdb, pg_ctl)")
    cluster = PostgresCluster(binaries)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.remove()
