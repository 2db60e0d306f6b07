"""A WebSocket ASGI application for test_daphne_ws.py, run by daphne: on
"run <n>" it sends n numbered frames, every other one written straight to the
connection by ``core.daphne_ws`` (where the patch applies, as for the
workspace's consumer) and the rest through ASGI ``send``, some of them large
enough to fill the socket; then "done <frames written directly>"."""

import json

import django

from core.checks import patch_applies
from core.daphne_ws import daphne_protocol, text_frame, write_frame

django.setup(set_prefix=False)


def numbered(number: int) -> str:
    padding = "x" * (300_000 if number % 7 == 3 else number)
    return json.dumps({"n": number, "padding": padding})


async def application(scope, receive, send):
    if scope["type"] != "websocket":
        return
    protocol = daphne_protocol(send) if patch_applies("fan-out frame written once") else None
    while True:
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif message["type"] == "websocket.disconnect":
            return
        elif message["type"] == "websocket.receive":
            count = int(message["text"].split()[1])
            direct = 0
            for number in range(count):
                text = numbered(number)
                directly = number % 2 == 0 and protocol is not None
                if directly and write_frame(protocol, text_frame(text)):
                    direct += 1
                else:
                    await send({"type": "websocket.send", "text": text})
            await send({"type": "websocket.send", "text": f"done {direct}"})
