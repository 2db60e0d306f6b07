"""Hostile frames over the wire, to a real daphne (what channels'
WebsocketCommunicator in tests/test_fuzz_frames.py cannot send): an empty
text frame, a text frame that is not UTF-8, a frame far above the size limit,
deep nesting, binary. Each gets its error frame and the socket stays usable,
except the frame that is not UTF-8: the server (autobahn) drops that
connection, and serves the next one. The server logs no traceback.
"""

import contextlib
import json

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.sockets import session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


@contextlib.contextmanager
def open_socket(server, user):
    _, cookie = session_cookie(user)
    with connect(
        server.replace("http://", "ws://") + "/ws/",
        origin=server,
        additional_headers={"Cookie": cookie.decode()},
        open_timeout=10,
        max_size=None,
    ) as socket:
        assert json.loads(socket.recv(timeout=10))["type"] == "hello"
        yield socket


@pytest.fixture
def no_traceback(_daphne):
    """The server's log gets no traceback during the test."""
    start = _daphne.log_path.stat().st_size
    yield
    with open(_daphne.log_path, "rb") as log:
        log.seek(start)
        written = log.read().decode(errors="replace")
    assert "Traceback" not in written, written[-3000:]


def answer(socket) -> dict:
    while True:
        frame = json.loads(socket.recv(timeout=10))
        if frame.get("type") != "event":
            return frame


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("", "bad_json"),
        (" ", "bad_json"),
        ("[" * 15_000, "bad_json"),
        ("\ufeff{}", "bad_json"),
        (b"\xff\x00", "binary"),
        (b"", "binary"),
        (json.dumps({"type": "ping", "pad": "x" * 1_000_000}), "too_large"),
        ('{"type": "unsubscribe", "stream": [[]]}', "bad_stream"),
        ('{"type": "subscribe", "stream": "room:1", "since": 1e999}', "bad_frame"),
    ],
)
def test_hostile_frame_gets_its_error_and_the_socket_stays(
    server, no_traceback, member, frame, code
):
    with open_socket(server, member) as socket:
        socket.send(frame)
        got = answer(socket)
        assert (got["type"], got["code"]) == ("error", code), got
        socket.send(json.dumps({"type": "ping", "id": 1}))
        assert answer(socket) == {"type": "pong", "id": 1}


def test_text_frame_not_utf8_closes_that_socket_only(server, no_traceback, member):
    with open_socket(server, member) as socket:
        socket.send(b"\xff\xfe{}", text=True)
        with pytest.raises(ConnectionClosed):
            answer(socket)
    with open_socket(server, member) as socket:
        socket.send(json.dumps({"type": "ping", "id": 2}))
        assert answer(socket) == {"type": "pong", "id": 2}
