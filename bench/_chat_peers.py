"""The servers our chat is measured against, each run in its own process.

- ``stock_application``: the Django Channels tutorial chat, as the docs write
  it (https://channels.readthedocs.io/en/stable/tutorial/part_3.html): every
  socket joins the room's channel-layer group on connect, a message received
  from a socket is ``group_send``-ed to the room, and each socket's
  ``chat_message`` handler serialises it and sends it. Channel layer: the
  tutorial's ``channels_redis.core.RedisChannelLayer``. No authentication (the
  tutorial wraps it in AuthMiddlewareStack, which does nothing for a socket
  without a session cookie; left out as the brief says). Run by daphne::

      BENCH_REDIS_URL=redis://127.0.0.1:6379/0 BENCH_REDIS_PREFIX=x \\
          daphne bench._chat_peers:stock_application     # (cwd: the project root)

  Clients connect to ``/ws/chat/<room>/`` and send ``{"message": ...}``; every
  socket in the room receives ``{"message": ...}``.

- ``echo_application``: a minimal channels consumer that sends every text
  frame straight back (no channel layer): the floor of a round trip through
  daphne and channels. ``/ws/echo/``.

- the bare floor, ``python bench/_chat_peers.py bare --port N``: a plain
  ``websockets`` server; every text frame a client sends is broadcast with
  ``websockets.broadcast`` to every connected client.

The Django settings of the two daphne applications are configured here
(minimal, no database), on first access to the application, so that importing
this module elsewhere configures nothing.
"""

import json
import os


def _configure() -> None:
    from django.conf import settings

    if settings.configured:
        return
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-peer-not-secret",
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        INSTALLED_APPS=["daphne", "channels"],
        ROOT_URLCONF=__name__,
        DATABASES={},
        USE_TZ=True,
        CHANNEL_LAYERS={
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {
                    "hosts": [os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")],
                    "prefix": os.environ.get("BENCH_REDIS_PREFIX", "asgi"),
                },
            }
        },
        LOGGING_CONFIG=None,
    )
    import django

    django.setup()


urlpatterns: list = []  # ROOT_URLCONF of the peers: no HTTP pages


def _stock_application():
    from channels.generic.websocket import AsyncWebsocketConsumer
    from channels.routing import ProtocolTypeRouter, URLRouter
    from channels.security.websocket import AllowedHostsOriginValidator
    from django.urls import re_path

    # --- chat/consumers.py of the tutorial, verbatim ---------------------------
    class ChatConsumer(AsyncWebsocketConsumer):
        async def connect(self):
            self.room_name = self.scope["url_route"]["kwargs"]["room_name"]
            self.room_group_name = f"chat_{self.room_name}"

            # Join room group
            await self.channel_layer.group_add(self.room_group_name, self.channel_name)

            await self.accept()

        async def disconnect(self, close_code):
            # Leave room group
            await self.channel_layer.group_discard(self.room_group_name, self.channel_name)

        # Receive message from WebSocket
        async def receive(self, text_data):
            text_data_json = json.loads(text_data)
            message = text_data_json["message"]

            # Send message to room group
            await self.channel_layer.group_send(
                self.room_group_name, {"type": "chat.message", "message": message}
            )

        # Receive message from room group
        async def chat_message(self, event):
            message = event["message"]

            # Send message to WebSocket
            await self.send(text_data=json.dumps({"message": message}))

    # --- chat/routing.py and mysite/asgi.py -----------------------------------
    websocket_urlpatterns = [re_path(r"ws/chat/(?P<room_name>\w+)/$", ChatConsumer.as_asgi())]
    return ProtocolTypeRouter(
        {"websocket": AllowedHostsOriginValidator(URLRouter(websocket_urlpatterns))}
    )


def _echo_application():
    from channels.generic.websocket import AsyncWebsocketConsumer
    from channels.routing import ProtocolTypeRouter, URLRouter
    from channels.security.websocket import AllowedHostsOriginValidator
    from django.urls import path

    class EchoConsumer(AsyncWebsocketConsumer):
        channel_layer_alias = None  # no channel layer: the bare round trip

        async def receive(self, text_data=None, bytes_data=None):
            await self.send(text_data=text_data)

    return ProtocolTypeRouter(
        {
            "websocket": AllowedHostsOriginValidator(
                URLRouter([path("ws/echo/", EchoConsumer.as_asgi())])
            )
        }
    )


def __getattr__(name: str):
    # daphne imports ``bench._chat_peers:stock_application``: the settings are
    # configured only then.
    if name == "stock_application":
        _configure()
        return _stock_application()
    if name == "echo_application":
        _configure()
        return _echo_application()
    raise AttributeError(name)


# --- The bare floor -------------------------------------------------------------


async def _bare(port: int) -> None:
    import asyncio
    import signal

    from websockets.asyncio.server import broadcast, serve

    connections = set()

    async def handler(websocket):
        connections.add(websocket)
        try:
            async for message in websocket:
                broadcast(connections, message)
        finally:
            connections.discard(websocket)

    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with serve(handler, "127.0.0.1", port, compression=None, backlog=1024):
        print(f"bare broadcast server on 127.0.0.1:{port}", flush=True)
        await stop


if __name__ == "__main__":
    import argparse
    import asyncio

    parser = argparse.ArgumentParser(description="The bare websockets broadcast server")
    parser.add_argument("kind", choices=["bare"])
    parser.add_argument("--port", type=int, required=True)
    arguments = parser.parse_args()
    asyncio.run(_bare(arguments.port))
