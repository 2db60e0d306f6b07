"""Real server processes for tests: daphne (and friends) started as subprocesses.

pytest-django's live_server speaks no WebSocket, so browser and topology tests
serve the test database with daphne in a child process.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
def daphne(*, env: dict[str, str], port: int | None = None, log_path: Path | None = None):
    """Runs ``daphne workspace.asgi:application`` with ``env`` added to this
    process's environment; yields (base_url, process); stops it afterwards."""
    port = port or free_port()
    child_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "workspace.settings", **env}
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
            "workspace.asgi:application",
        ],
        cwd=ROOT,
        env=child_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(base_url + "/health/", process=process)
        yield base_url, process
    finally:
        stop(process)
        if log_path:
            log.close()


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
