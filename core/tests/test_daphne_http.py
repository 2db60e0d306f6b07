"""core.daphne_http: under daphne a response is produced no faster than the
client reads it, so a slow client costs a chunk of memory, not the body; a
form body is not parsed by Twisted on the way in."""

import asyncio
import contextlib
import http.client
import os
import subprocess
import sys
import threading
import time

import pytest

from core.daphne_http import backpressure, coalesce_request_body, twisted_request
from tests import servers

MB = 1024 * 1024


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


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


def test_a_client_that_leaves_while_held_back_ends_the_response(streaming_daphne):
    port, _pid, log_path = streaming_daphne
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/?mb=64")
    response = connection.getresponse()
    response.read(1024)
    time.sleep(0.3)
    connection.close()
    time.sleep(0.3)
    again = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    with contextlib.closing(again):
        again.request("GET", "/?mb=2")
        assert read_all(again.getresponse()) == 2 * MB
    assert "Producer was not unregistered" not in log_path.read_text()


def test_an_uploaded_form_is_not_parsed_before_the_application_reads_it(streaming_daphne):
    """Twisted parsed multipart bodies in memory with the email package (about
    13 times the body) before daphne passed the request on."""
    port, pid, log_path = streaming_daphne
    boundary = "----test"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        'filename="a.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = 32 * MB
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
            for _ in range(32):
                connection.send(b"y" * MB)
            connection.send(tail)
            response = connection.getresponse()
            assert int(response.read()) == len(head) + size + len(tail)
    # daphne still queues the whole body for the application (about its size).
    assert seen["peak"] - before < 2 * size
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


async def test_a_queued_body_reaches_the_application_in_large_messages():
    queue = asyncio.Queue()
    for _ in range(300):  # 2.4 MB as daphne queues it: 8 KB at a time
        queue.put_nowait({"type": "http.request", "body": b"z" * 8192, "more_body": True})
    queue.put_nowait({"type": "http.request", "body": b"end", "more_body": False})
    queue.put_nowait({"type": "http.disconnect"})
    received = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            received.append(message)
            if not message.get("more_body", False):
                break
        received.append(await receive())

    await coalesce_request_body(app)({"type": "http"}, queue.get, None)
    assert [len(message.get("body", b"")) for message in received] == [
        128 * 8192,
        128 * 8192,
        44 * 8192 + 3,
        0,
    ]
    assert [message.get("more_body", False) for message in received] == [True, True, False, False]
    assert received[-1] == {"type": "http.disconnect"}


async def test_a_disconnect_amid_the_body_is_passed_on():
    queue = asyncio.Queue()
    queue.put_nowait({"type": "http.request", "body": b"a", "more_body": True})
    queue.put_nowait({"type": "http.request", "body": b"b", "more_body": True})
    queue.put_nowait({"type": "http.disconnect"})
    received = []

    async def app(scope, receive, send):
        received.append(await receive())
        received.append(await receive())

    await coalesce_request_body(app)({"type": "http"}, queue.get, None)
    assert received == [
        {"type": "http.request", "body": b"ab", "more_body": True},
        {"type": "http.disconnect"},
    ]


def test_workspace_serves_http_with_the_daphne_adjustments():
    from workspace.asgi import application

    http_app = application.application_mapping["http"]
    assert http_app.__qualname__ == "coalesce_request_body.<locals>.application"
    assert http_app.app.__qualname__ == "backpressure.<locals>.application"
    assert http_app.app.app.chunk_size == MB
