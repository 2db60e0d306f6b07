"""An ASGI application for test_daphne_http.py, run by daphne with the
patches of ``core.daphne_http`` whose switches the environment leaves on, as
the workspace's HTTP side is: GET /?mb=N answers N MB in 1 MB body messages,
sent as fast as ``send`` returns; GET /patches answers which patches are in
place (JSON); POST answers the number of body bytes it received."""

import json
from urllib.parse import parse_qs

import django

from core.daphne_http import PacedSend, patched

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


def patches_in_place(send) -> dict:
    from daphne import http_protocol

    return {
        "backpressure": isinstance(send, PacedSend),
        "skip_form_parsing": getattr(
            http_protocol.WebRequest, "leaves_forms_to_the_application", False
        ),
        "upload_from_file": getattr(http_protocol.WebRequest, "holds_bodies_back", False),
    }


async def stream(scope, receive, send):
    if scope["type"] != "http":
        return
    query = parse_qs(scope["query_string"].decode())
    if scope["path"] == "/patches":
        await answer(send, json.dumps(patches_in_place(send)).encode())
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


django.setup(set_prefix=False)
application = patched(stream)
