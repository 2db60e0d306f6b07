"""The baseline of bench/upload.py: a bare ASGI application, run by daphne
(``daphne bench._sink:application``), that reads a request's body, discards
it, and answers with the number of bytes it received and how much of the
body daphne had queued for it before it ran (``receive`` is daphne's
``asyncio.Queue.get``).

Daphne runs it as it runs the workspace: with Twisted's parsing of form bodies
turned off (core.daphne_http); otherwise Twisted parses the multipart body in
memory before the sink sees it (about 13 times its size, and seconds of CPU).
"""

import json

from core.daphne_http import leave_forms_to_the_application

leave_forms_to_the_application()


async def application(scope, receive, send):
    if scope["type"] != "http":
        return
    queue = getattr(receive, "__self__", None)
    waiting = list(getattr(queue, "_queue", ()))  # what daphne queued before we ran
    queued = sum(len(message.get("body", b"")) for message in waiting)
    received = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        received += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = json.dumps(
        {"received": received, "queued_before_start": queued, "messages": len(waiting)}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
