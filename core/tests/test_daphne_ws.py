"""core.daphne_ws: event frames written straight to daphne's connection arrive
whole and in order among the frames sent through ASGI, also when the socket
is full; anything but daphne keeps the ASGI way, and so does daphne with
WS_FRAME_ONCE off."""

import functools
import os
import subprocess
import sys
import time

import pytest
from websockets.sync.client import connect

from core.daphne_ws import daphne_protocol, text_frame
from core.tests.frames_app import numbered
from tests import servers


@pytest.fixture
def frames_daphne(tmp_path, request):
    """daphne serving core/tests/frames_app.py, with the environment given as
    the fixture's parameter added (indirect parametrisation); yields its port."""
    env = {**os.environ, **getattr(request, "param", {})}
    port = servers.free_port()
    with open(tmp_path / "daphne.log", "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "core.tests.frames_app:application",
            ],
            cwd=servers.ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            servers.wait_for_port(port, process=process)
            yield port
        finally:
            servers.stop(process)


def test_direct_and_asgi_frames_arrive_whole_and_in_order(frames_daphne):
    count = 200
    # The client offers compression (websockets does by default); daphne
    # declines it, so the frames may be written directly.
    with connect(f"ws://127.0.0.1:{frames_daphne}/", max_size=None, open_timeout=10) as socket:
        socket.send(f"run {count}")
        time.sleep(1)  # the server fills the socket meanwhile: later frames queue
        received = [socket.recv(timeout=30) for _ in range(count + 1)]
    assert received[:count] == [numbered(number) for number in range(count)]
    assert received[count] == f"done {count // 2}"


@pytest.mark.parametrize("frames_daphne", [{"WS_FRAME_ONCE": "0"}], indirect=True)
def test_with_the_switch_off_every_frame_takes_the_asgi_way_and_arrives(frames_daphne):
    count = 50
    with connect(f"ws://127.0.0.1:{frames_daphne}/", max_size=None, open_timeout=10) as socket:
        socket.send(f"run {count}")
        received = [socket.recv(timeout=30) for _ in range(count + 1)]
    assert received[:count] == [numbered(number) for number in range(count)]
    assert received[count] == "done 0"


def test_text_frame_lengths():
    assert text_frame("ab") == b"\x81\x02ab"
    assert text_frame("a" * 200)[:4] == b"\x81\x7e\x00\xc8"
    assert text_frame("a" * 70000)[:10] == b"\x81\x7f" + (70000).to_bytes(8, "big")
    assert text_frame("ä") == b"\x81\x02\xc3\xa4"


def test_other_servers_keep_the_asgi_way():
    async def send(message):
        return message

    assert daphne_protocol(send) is None
    assert daphne_protocol(functools.partial(send)) is None
    assert daphne_protocol(functools.partial(print, object())) is None
