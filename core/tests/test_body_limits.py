"""Request bodies over their limit are refused with 413 before they are read,
by the workspace's own daphne (no nginx in front): a real daphne process,
raw sockets, the test database behind it (core.daphne_http, section 4)."""

import contextlib
import socket
import time

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from tests.servers import daphne, local_env

pytestmark = pytest.mark.django_db(transaction=True)

MB = 1024 * 1024
LIMITS = {"REQUEST_BODY_MAX_BYTES": str(8 * MB), "REQUEST_BODY_ANONYMOUS_MAX_BYTES": str(MB)}


@pytest.fixture
def server(request, tmp_path):
    env = local_env(
        connection.settings_dict,
        tmp_path / "media",
        **LIMITS,
        **getattr(request, "param", {}),
    )
    log = tmp_path / "daphne.log"
    with daphne(env=env, log_path=log) as (base_url, _process):
        yield int(base_url.rsplit(":", 1)[1]), log


@pytest.fixture
def session_cookie(make_user):
    client = Client()
    client.force_login(make_user("uploader@example.org"))
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def post(port, *, length, send, cookie="", path="/join/", timeout=5.0):
    """POSTs declaring ``length`` bytes and sending ``send`` of them (as fast
    as the server takes them); returns (the answer's first line or None, bytes
    the server took before answering or closing, seconds to the answer)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {length}\r\n" + (f"Cookie: {cookie}\r\n" if cookie else "") + "\r\n"
    ).encode()
    started = time.monotonic()
    sock.sendall(head)
    sock.setblocking(False)
    sent, answer = 0, b""
    block = b"x" * (64 * 1024)
    try:
        while time.monotonic() - started < timeout:
            try:
                chunk = sock.recv(65536)
                if chunk:
                    answer += chunk
                    if b"\r\n" in answer:
                        break
                else:
                    break
            except BlockingIOError:
                pass
            except ConnectionResetError:
                break
            if sent < send:
                try:
                    sent += sock.send(block[: min(len(block), send - sent)])
                except (BlockingIOError, InterruptedError):
                    time.sleep(0.001)
                except (BrokenPipeError, ConnectionResetError):
                    break
            else:
                time.sleep(0.01)
    finally:
        sock.close()
    first = answer.split(b"\r\n", 1)[0].decode() if answer else None
    return first, sent, time.monotonic() - started


def test_declared_too_large_and_barely_sent_is_answered_at_once(server):
    port, log = server
    first, _sent, seconds = post(port, length=200 * MB, send=1024)
    assert first == "HTTP/1.1 413 Content Too Large"
    assert seconds < 3
    assert "413 POST /join/" in log.read_text()


def test_an_anonymous_large_body_is_not_read(server):
    port, _log = server
    first, sent, _seconds = post(port, length=120 * MB, send=120 * MB, timeout=10)
    assert first == "HTTP/1.1 413 Content Too Large"
    assert sent < 8 * MB  # what the kernel's buffers took before the answer, not the body


def test_a_small_anonymous_body_reaches_django(server):
    port, _log = server
    first, _sent, _seconds = post(port, length=1000, send=1000)
    assert first is not None and " 413 " not in first  # Django answers (403: no CSRF token)


def test_a_signed_in_person_may_send_up_to_the_upload_limit(server, session_cookie):
    port, _log = server
    first, sent, _seconds = post(port, length=4 * MB, send=4 * MB, cookie=session_cookie)
    assert first is not None and " 413 " not in first and sent == 4 * MB
    first, _sent, seconds = post(port, length=9 * MB, send=1024, cookie=session_cookie)
    assert first == "HTTP/1.1 413 Content Too Large" and seconds < 3


def test_a_made_up_session_counts_as_anonymous(server):
    port, _log = server
    cookie = f"{settings.SESSION_COOKIE_NAME}=madeupsessionkey1234567890abcdef"
    first, _sent, _seconds = post(port, length=4 * MB, send=4 * MB, cookie=cookie, timeout=10)
    assert first == "HTTP/1.1 413 Content Too Large"


@pytest.mark.parametrize("server", [{"DAPHNE_BODY_LIMITS": "0"}], indirect=True)
def test_without_the_switch_daphne_waits_for_the_body(server):
    port, _log = server
    first, _sent, _seconds = post(port, length=200 * MB, send=1024, timeout=2)
    assert first is None  # what daphne does by itself: no answer until the body is in


def test_an_anonymous_chunked_body_is_cut_at_the_limit(server):
    """Without a declared length the body is counted as it comes."""
    port, _log = server
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"POST /join/ HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n" % (64 * 1024) + b"x" * (64 * 1024) + b"\r\n"
    sent = 0
    try:
        for _ in range(200):  # 12.5 MB if it were all read
            sock.sendall(chunk)
            sent += 64 * 1024
    except (BrokenPipeError, ConnectionResetError):
        pass
    answer = b""
    with contextlib.suppress(ConnectionResetError):
        answer = sock.recv(65536)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 413 Content Too Large") or sent < 8 * MB
