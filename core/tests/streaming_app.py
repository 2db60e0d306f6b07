"""An ASGI application for tests/test_backpressure.py, run by daphne: GET
/?mb=N answers N MB in 1 MB body messages, sent as fast as ``send`` returns,
through ``core.backpressure``."""

from urllib.parse import parse_qs

from core.backpressure import backpressure

CHUNK = b"x" * (1024 * 1024)


async def stream(scope, receive, send):
    if scope["type"] != "http":
        return
    megabytes = int(parse_qs(scope["query_string"].decode()).get("mb", ["1"])[0])
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/octet-stream"),
                (b"content-length", str(megabytes * len(CHUNK)).encode()),
            ],
        }
    )
    for _ in range(megabytes):
        await send({"type": "http.response.body", "body": CHUNK, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


application = backpressure(stream)
