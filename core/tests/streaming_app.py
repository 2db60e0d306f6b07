"""An ASGI application for test_daphne_http.py, run by daphne as the
workspace's HTTP side is (``core.daphne_http``): GET /?mb=N answers N MB in
1 MB body messages, sent as fast as ``send`` returns; POST answers the number
of body bytes it received."""

from urllib.parse import parse_qs

from core.daphne_http import backpressure, leave_forms_to_the_application

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


async def stream(scope, receive, send):
    if scope["type"] != "http":
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
    megabytes = int(parse_qs(scope["query_string"].decode()).get("mb", ["1"])[0])
    await answer(send, b"", megabytes * len(CHUNK))
    for _ in range(megabytes):
        await send({"type": "http.response.body", "body": CHUNK, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


leave_forms_to_the_application()
application = backpressure(stream)
