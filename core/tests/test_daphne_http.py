"""core.daphne_http: under daphne a response is produced no faster than the
client reads it, so a slow client costs a chunk of memory, not the body; a
form body is not parsed by Twisted on the way in and reaches the application
from Twisted's file. Each patch has its switch: off, daphne works as it comes."""

import asyncio
import contextlib
import functools
import http.client
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import pytest
from twisted.web.http import Request
from twisted.web.test.requesthelper import DummyChannel

from core import checks
from core.daphne_http import (
    ASGIHandler,
    Backpressure,
    PacedSend,
    body_from_file,
    patched,
    twisted_request,
)
from core.responses import FileStreamResponse
from tests import servers

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


SWITCHES_OFF = {
    "DAPHNE_BACKPRESSURE": "0",
    "DAPHNE_SKIP_FORM_PARSING": "0",
    "DAPHNE_UPLOAD_FROM_FILE": "0",
}


@pytest.fixture
def streaming_daphne(tmp_path, request):
    """daphne serving core/tests/streaming_app.py, with the environment given
    as the fixture's parameter added (indirect parametrisation); yields
    (port, pid, log path)."""
    if not os.path.exists("/proc/self/status"):
        pytest.skip("reads memory from /proc (Linux)")
    # Its requests carry no session: the anonymous body limit (section 4,
    # tested in test_body_limits.py) is raised above the uploads sent here.
    env = {
        **os.environ,
        "REQUEST_BODY_ANONYMOUS_MAX_BYTES": str(128 * MB),
        **getattr(request, "param", {}),
    }
    port = servers.free_port()
    log_path = tmp_path / "daphne.log"
    with open(log_path, "wb") as log:
        command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
        process = subprocess.Popen(
            [*command, "core.tests.streaming_app:application"],
            cwd=servers.ROOT,
            env=env,
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


def test_a_client_that_leaves_amid_a_response_ends_it(streaming_daphne):
    port, _pid, log_path = streaming_daphne
    for _ in range(3):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/?mb=64")
        response = connection.getresponse()
        response.read(1024)
        time.sleep(0.2)
        connection.close()
    time.sleep(0.3)
    again = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    with contextlib.closing(again):
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
    await Backpressure(app)({"type": "http"}, receive, send)
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


def test_workspace_serves_http_with_the_daphne_patches():
    from workspace.asgi import application

    http_app = application.application_mapping["http"]
    assert http_app.__qualname__ == "body_from_file.<locals>.application"
    assert isinstance(http_app.app, Backpressure)
    assert isinstance(http_app.app.app, ASGIHandler)
    assert http_app.app.app.chunk_size == MB


def test_patched_leaves_the_application_alone_if_the_switch_is_off(settings):
    async def app(scope, receive, send):
        pass

    settings.DAPHNE_SKIP_FORM_PARSING = False  # these two change daphne's
    settings.DAPHNE_UPLOAD_FROM_FILE = False  # classes, process-wide
    settings.DAPHNE_BACKPRESSURE = True
    assert isinstance(patched(app), Backpressure)
    settings.DAPHNE_BACKPRESSURE = False
    assert patched(app) is app


def test_patched_leaves_the_application_alone_if_daphne_is_not_the_tested_version(
    settings, monkeypatch
):
    async def app(scope, receive, send):
        pass

    settings.DAPHNE_SKIP_FORM_PARSING = False
    settings.DAPHNE_UPLOAD_FROM_FILE = False
    monkeypatch.setitem(checks.TESTED_VERSIONS, "daphne", "0.0.1")
    assert patched(app) is app
    monkeypatch.setitem(checks.TESTED_VERSIONS, "twisted", "0.0.1")
    monkeypatch.setitem(checks.TESTED_VERSIONS, "daphne", checks.installed_version("daphne"))
    assert patched(app) is app


def get_json(port: int, path: str) -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    with contextlib.closing(connection):
        connection.request("GET", path)
        return json.loads(connection.getresponse().read())


def test_daphne_runs_with_every_patch_if_the_switches_are_on(streaming_daphne):
    port, _pid, _log_path = streaming_daphne
    assert get_json(port, "/patches") == {
        "backpressure": True,
        "skip_form_parsing": True,
        "upload_from_file": True,
    }


@pytest.mark.parametrize("streaming_daphne", [SWITCHES_OFF], indirect=True)
def test_daphne_works_as_it_comes_if_the_switches_are_off(streaming_daphne):
    port, _pid, log_path = streaming_daphne
    assert get_json(port, "/patches") == {
        "backpressure": False,
        "skip_form_parsing": False,
        "upload_from_file": False,
    }
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    with contextlib.closing(connection):
        connection.request("GET", "/?mb=8")
        assert read_all(connection.getresponse()) == 8 * MB
        # An upload still arrives whole, from daphne's own queue.
        boundary = "----test"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="a.bin"\r\n\r\n{"y" * (3 * MB)}\r\n--{boundary}--\r\n'
        ).encode()
        connection.request(
            "POST",
            "/",
            body=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert int(connection.getresponse().read()) == len(body)
    assert "Traceback" not in log_path.read_text()


async def test_a_paced_send_passes_every_message_on_in_order():
    sent = []
    request = Request(DummyChannel())

    async def send(message):
        sent.append(message)

    paced = PacedSend(functools.partial(send), request)
    await paced({"type": "http.response.start", "status": 200, "headers": []})
    await paced({"type": "http.response.body", "body": b"a", "more_body": True})
    assert request.producer is paced  # Twisted paces the rest of the response
    await paced({"type": "http.response.body", "body": b"b"})
    assert request.producer is None  # released before the last message
    assert [message.get("body") for message in sent] == [None, b"a", b"b"]


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
