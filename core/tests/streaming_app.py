"""An ASGI application for test_daphne_http.py, run by daphne as the
workspace's HTTP side is (``core.daphne_http``): GET /?mb=N answers N MB in
1 MB body messages, sent as fast as ``send`` returns; GET /file?mb=N[&offset=K]
answers the file ``pattern_file(N)`` (from byte K) with one zero-copy send
(HEAD as well); POST answers the number of body bytes it received."""

import os
import tempfile
from urllib.parse import parse_qs

from core.daphne_http import (
    backpressure,
    body_from_file,
    hold_bodies_back,
    leave_forms_to_the_application,
)

CHUNK = b"x" * (1024 * 1024)


async def answer(send, body: bytes, length: int | None = None):
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/octet-stream"),
                (b"content-length", str(len(body) if length is None else length).encode()),
            ],
        }
    )
    if body:
        await send({"type": "http.response.body", "body": body})


def pattern_file(megabytes: int) -> str:
    """A file of ``megabytes`` MB whose n-th MB is filled with the byte n % 251."""
    path = os.path.join(tempfile.gettempdir(), f"workspace-streaming-app-{megabytes}.bin")
    if not os.path.exists(path) or os.path.getsize(path) != megabytes * len(CHUNK):
        with open(f"{path}.{os.getpid()}", "wb") as handle:
            for number in range(megabytes):
                handle.write(bytes([number % 251]) * len(CHUNK))
        os.replace(f"{path}.{os.getpid()}", path)
    return path


async def send_file(scope, send, query):
    assert "http.response.zerocopysend" in scope["extensions"]
    path = pattern_file(int(query.get("mb", ["1"])[0]))
    offset = int(query.get("offset", ["0"])[0])
    with open(path, "rb") as file:
        length = os.fstat(file.fileno()).st_size - offset
        await answer(send, b"", length)
        await send({"type": "http.response.zerocopysend", "file": file, "offset": offset})


async def stream(scope, receive, send):
    if scope["type"] != "http":
        return
    query = parse_qs(scope["query_string"].decode())
    if scope["path"] == "/file":
        await send_file(scope, send, query)
        return
    if scope["method"] == "POST":
        received = 0
        while True:
            message = await receive()
            received += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
        await answer(send, str(received).encode())
        return
    megabytes = int(query.get("mb", ["1"])[0])
    await answer(send, b"", megabytes * len(CHUNK))
    for _ in range(megabytes):
        await send({"type": "http.response.body", "body": CHUNK, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


leave_forms_to_the_application()
hold_bodies_back()
application = body_from_file(backpressure(stream))
