"""core.daphne_http: under daphne a response is produced no faster than the
client reads it, so a slow client costs a chunk of memory, not the body; a
form body is not parsed by Twisted on the way in."""

import asyncio
import contextlib
import functools
import hashlib
import http.client
import io
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest
from twisted.web.http import Request
from twisted.web.test.requesthelper import DummyChannel

from core.daphne_http import (
    ZERO_COPY_SEND,
    ASGIHandler,
    backpressure,
    body_from_file,
    plain_socket,
    twisted_request,
)
from core.responses import FileStreamResponse
from tests import servers

from .streaming_app import pattern_file

MB = 1024 * 1024


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def peak_rss(pid: int):
    """Samples ``pid``'s resident memory meanwhile; yields a dict whose "peak"
    holds the largest value seen."""
    seen = {"peak": rss(pid)}
    done = threading.Event()

    def sample():
        while not done.wait(0.005):
            seen["peak"] = max(seen["peak"], rss(pid))

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        yield seen
    finally:
        done.set()
        sampler.join()


@pytest.fixture
def streaming_daphne(tmp_path):
    """daphne serving core/tests/streaming_app.py; yields (port, pid, log path)."""
    if not os.path.exists("/proc/self/status"):
        pytest.skip("reads memory from /proc (Linux)")
    port = servers.free_port()
    log_path = tmp_path / "daphne.log"
    with open(log_path, "wb") as log:
        command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
        process = subprocess.Popen(
            [*command, "core.tests.streaming_app:application"],
            cwd=servers.ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            servers.wait_for_port(port, process=process)
            yield port, process.pid, log_path
        finally:
            servers.stop(process)


def read_all(response) -> int:
    received = 0
    while chunk := response.read(MB):
        received += len(chunk)
    return received


def test_a_client_that_stops_reading_holds_the_response_back(streaming_daphne):
    port, pid, log_path = streaming_daphne
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    with contextlib.closing(connection):
        connection.request("GET", "/?mb=1")  # warm up
        assert read_all(connection.getresponse()) == MB
        before = rss(pid)
        with peak_rss(pid) as seen:
            connection.request("GET", "/?mb=256")
            response = connection.getresponse()
            received = len(response.read(1024))
            time.sleep(1.0)  # unbounded, daphne would hold all 256 MB by now
        assert seen["peak"] - before < 32 * MB
        received += read_all(response)
        assert received == 256 * MB
        # The producer was released: the connection serves the next request.
        connection.request("GET", "/?mb=3")
        assert read_all(connection.getresponse()) == 3 * MB
    assert "Producer was not unregistered" not in log_path.read_text()
    assert "Traceback" not in log_path.read_text()


def pattern_sha256(megabytes: int, offset: int = 0) -> str:
    """sha256 of streaming_app.pattern_file(megabytes) from byte ``offset``."""
    digest = hashlib.sha256()
    for number in range(megabytes):
        digest.update((bytes([number % 251]) * MB)[max(0, offset - number * MB) :])
    return digest.hexdigest()


def read_hashed(response) -> tuple[int, str]:
    digest, received = hashlib.sha256(), 0
    while chunk := response.read(MB):
        digest.update(chunk)
        received += len(chunk)
    return received, digest.hexdigest()


def test_a_file_goes_out_by_sendfile_whole_and_in_order(streaming_daphne):
    port, pid, log_path = streaming_daphne
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    with contextlib.closing(connection):
        connection.request("GET", "/file?mb=1")  # warm up
        assert read_hashed(connection.getresponse()) == (MB, pattern_sha256(1))
        pattern_file(96)  # written here, not by daphne in the measured request
        cpu_before = cpu_seconds(pid)
        connection.request("GET", "/file?mb=96")
        response = connection.getresponse()
        assert response.getheader("Content-Length") == str(96 * MB)
        assert read_hashed(response) == (96 * MB, pattern_sha256(96))
        # Through Python (read, Twisted's buffer, send) 96 MB cost daphne
        # about 0.15 s; sendfile leaves it a few milliseconds.
        assert cpu_seconds(pid) - cpu_before < 0.08
        connection.request("GET", f"/file?mb=4&offset={MB + 5}")
        assert read_hashed(connection.getresponse()) == (3 * MB - 5, pattern_sha256(4, MB + 5))
        # The same connection goes on with a streamed answer after them.
        connection.request("GET", "/?mb=2")
        assert read_all(connection.getresponse()) == 2 * MB
    assert "Traceback" not in log_path.read_text()


def test_a_head_request_for_a_file_gets_the_headers_only(streaming_daphne):
    port, _pid, log_path = streaming_daphne
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    with contextlib.closing(connection):
        connection.request("HEAD", "/file?mb=2")
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Length") == str(2 * MB)
        assert response.read() == b""
        connection.request("GET", "/file?mb=2")  # nothing of the file was left on the line
        assert read_hashed(connection.getresponse()) == (2 * MB, pattern_sha256(2))
    assert "Traceback" not in log_path.read_text()


def test_a_slow_client_gets_the_whole_file_without_daphne_holding_it(streaming_daphne):
    port, pid, log_path = streaming_daphne
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    with contextlib.closing(connection):
        connection.request("GET", "/file?mb=1")  # warm up
        read_all(connection.getresponse())
        before = rss(pid)
        with peak_rss(pid) as seen:
            connection.request("GET", "/file?mb=128")
            response = connection.getresponse()
            first = response.read(1024)
            time.sleep(1.0)
        assert seen["peak"] - before < 16 * MB
        rest, _ = read_hashed(response)
        assert len(first) + rest == 128 * MB
        connection.request("GET", "/file?mb=1")
        assert read_hashed(connection.getresponse()) == (MB, pattern_sha256(1))
    assert "Producer was not unregistered" not in log_path.read_text()
    assert "Traceback" not in log_path.read_text()


@pytest.mark.parametrize("path", ["/?mb=64", "/file?mb=128"], ids=["streamed", "sendfile"])
def test_a_client_that_leaves_amid_a_response_ends_it(streaming_daphne, path):
    port, _pid, log_path = streaming_daphne
    for _ in range(3):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", path)
        response = connection.getresponse()
        response.read(1024)
        time.sleep(0.2)
        connection.close()
    time.sleep(0.3)
    again = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    with contextlib.closing(again):
        again.request("GET", "/file?mb=2")
        assert read_hashed(again.getresponse()) == (2 * MB, pattern_sha256(2))
        again.request("GET", "/?mb=2")
        assert read_all(again.getresponse()) == 2 * MB
    log = log_path.read_text()
    assert "Producer was not unregistered" not in log
    assert "Traceback" not in log


def test_an_uploaded_form_reaches_the_application_in_bounded_memory(streaming_daphne):
    """Twisted parsed multipart bodies in memory with the email package (about
    13 times the body) before daphne passed the request on, and daphne queued
    the whole body in memory for the application."""
    port, pid, log_path = streaming_daphne
    boundary = "----test"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        'filename="a.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = 64 * MB
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    with contextlib.closing(connection):
        connection.request("GET", "/?mb=1")  # warm up
        read_all(connection.getresponse())
        before = rss(pid)
        with peak_rss(pid) as seen:
            connection.putrequest("POST", "/")
            connection.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
            connection.putheader("Content-Length", str(len(head) + size + len(tail)))
            connection.endheaders()
            connection.send(head)
            for _ in range(64):
                connection.send(b"y" * MB)
            connection.send(tail)
            response = connection.getresponse()
            assert int(response.read()) == len(head) + size + len(tail)
    assert seen["peak"] - before < 12 * MB
    assert "Traceback" not in log_path.read_text()


async def test_other_servers_get_the_messages_unchanged():
    sent = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        await send({"type": "http.response.body", "body": b"b"})

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b""}

    assert twisted_request(send) is None
    await backpressure(app)({"type": "http"}, receive, send)
    assert [message.get("body") for message in sent] == [None, b"a", b"b"]


def held_back(body) -> tuple[asyncio.Queue, functools.partial]:
    """What daphne hands an application for a request whose body was held back
    in ``body`` (a file): its queue, holding the empty closing message daphne
    queued instead of the body, and a ``send`` bound to the Twisted request."""
    request = Request(DummyChannel())
    request.held_back_body = body
    queue = asyncio.Queue()
    queue.put_nowait({"type": "http.request", "body": b"", "more_body": False})
    return queue, functools.partial(lambda request, message: None, request)


async def test_a_held_back_body_reaches_the_application_a_megabyte_at_a_time():
    body = tempfile.TemporaryFile()  # noqa: SIM115 (closed by the test's end)
    body.write(b"z" * (2 * MB + 3))
    queue, send = held_back(body)
    received = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            received.append(message)
            if not message.get("more_body", False):
                break
        queue.put_nowait({"type": "http.disconnect"})  # the client leaves later
        received.append(await receive())

    await body_from_file(app)({"type": "http"}, queue.get, send)
    assert [len(message.get("body", b"")) for message in received] == [MB, MB, 3, 0]
    assert [message.get("more_body", False) for message in received] == [True, True, False, False]
    assert received[0]["body"] == b"z" * MB
    assert received[-1] == {"type": "http.disconnect"}  # daphne's empty message skipped


async def test_a_small_body_kept_in_memory_arrives_in_one_message():
    queue, send = held_back(io.BytesIO(b"title=Notes"))
    received = []

    async def app(scope, receive, send):
        received.append(await receive())

    await body_from_file(app)({"type": "http"}, queue.get, send)
    assert received == [{"type": "http.request", "body": b"title=Notes", "more_body": False}]


async def test_a_client_that_leaves_amid_the_body_ends_it_with_a_disconnect():
    body = tempfile.TemporaryFile()  # noqa: SIM115 (the test closes it)
    body.write(b"z" * (3 * MB))
    queue, send = held_back(body)
    received = []

    async def app(scope, receive, send):
        received.append(await receive())
        body.close()  # what Twisted does when the connection is lost
        received.append(await receive())

    await body_from_file(app)({"type": "http"}, queue.get, send)
    assert [message["type"] for message in received] == ["http.request", "http.disconnect"]
    assert received[0]["more_body"] is True


async def test_a_request_whose_body_was_not_held_back_is_passed_through():
    queue = asyncio.Queue()
    queue.put_nowait({"type": "http.request", "body": b"", "more_body": False})
    received = []

    async def app(scope, receive, send):
        received.append(await receive())

    _queue, send = held_back(None)
    await body_from_file(app)({"type": "http"}, queue.get, send)
    assert received == [{"type": "http.request", "body": b"", "more_body": False}]


def test_workspace_serves_http_with_the_daphne_adjustments():
    from workspace.asgi import application

    http_app = application.application_mapping["http"]
    assert http_app.__qualname__ == "body_from_file.<locals>.application"
    assert http_app.app.__qualname__ == "backpressure.<locals>.application"
    assert http_app.app.app.chunk_size == MB


async def test_the_handler_hands_a_file_response_over_as_one_zero_copy_send(tmp_path):
    path = tmp_path / "report.pdf"
    path.write_bytes(b"%PDF" + b"x" * 3000)
    response = FileStreamResponse(functools.partial(open, path, "rb"), 3004)
    response["Content-Disposition"] = "attachment"
    sent = []

    async def send(message):
        if message["type"] == ZERO_COPY_SEND:
            message = {**message, "file": message["file"].read()}  # while it is open
        sent.append(message)

    send.sends_files = True
    await ASGIHandler().send_response(response, send)
    assert [message["type"] for message in sent] == ["http.response.start", ZERO_COPY_SEND]
    assert (b"Content-Length", b"3004") in sent[0]["headers"]
    assert (b"Content-Disposition", b"attachment") in sent[0]["headers"]
    assert sent[1] == {
        "type": ZERO_COPY_SEND,
        "file": path.read_bytes(),
        "offset": 0,
        "count": 3004,
    }


async def test_under_another_server_a_file_response_is_streamed_in_chunks(tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(b"y" * (2 * MB + 10))
    response = FileStreamResponse(functools.partial(open, path, "rb"), 2 * MB + 10)
    sent = []

    async def send(message):
        sent.append(message)

    await ASGIHandler().send_response(response, send)
    assert [len(message.get("body", b"")) for message in sent[1:]] == [MB, MB, 10, 0]
    assert sent[-1] == {"type": "http.response.body"}


def test_sendfile_is_used_on_plain_tcp_only():
    """Under TLS the transport is a wrapper that answers ``fileno()`` with the
    socket beneath the encryption (or the TCP connection itself, after
    startTLS): sendfile there would send the file in clear."""
    from twisted.internet import tcp
    from twisted.internet.interfaces import ISSLTransport
    from twisted.internet.protocol import Protocol
    from twisted.protocols.tls import TLSMemoryBIOProtocol
    from zope.interface import directlyProvides

    with socket.socket() as raw:
        request = Request(DummyChannel())
        plain = tcp.Connection(raw, None)
        request.channel.transport = plain
        assert plain_socket(request) == raw.fileno()

        wrapper = TLSMemoryBIOProtocol(None, Protocol())
        wrapper.transport = plain  # as the TLS endpoint wraps a connection
        request.channel.transport = wrapper
        assert wrapper.fileno() == raw.fileno()  # what a careless check would use
        assert plain_socket(request) is None

        started = tcp.Connection(raw, None)
        directlyProvides(started, ISSLTransport)  # what startTLS() does
        request.channel.transport = started
        assert plain_socket(request) is None

        request.channel = None  # the client has gone
        assert plain_socket(request) is None
