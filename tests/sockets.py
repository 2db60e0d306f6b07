"""Opening the workspace's socket in consumer tests (channels'
WebsocketCommunicator against the ASGI application, in process)."""

from urllib.parse import urlsplit

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from workspace.asgi import application


def site_origin() -> str:
    """The origin of the site's own pages (``SITE_URL``'s scheme, host and
    port): the one a browser sends when a page of the site opens the socket."""
    address = urlsplit(settings.SITE_URL)
    return f"{address.scheme}://{address.netloc}"


ORIGIN = (b"origin", site_origin().encode())


def session_cookie(user) -> tuple[bytes, bytes]:
    """A Cookie header carrying a fresh session of ``user``."""
    client = Client()
    client.force_login(user)
    value = client.cookies[settings.SESSION_COOKIE_NAME].value
    return (b"cookie", f"{settings.SESSION_COOKIE_NAME}={value}".encode())


async def open_socket(user):
    """A connected socket of ``user``, past its ``hello``."""
    cookie = await database_sync_to_async(session_cookie)(user)
    socket = WebsocketCommunicator(application, "/ws/", headers=[ORIGIN, cookie])
    connected, _ = await socket.connect()
    assert connected
    assert (await socket.receive_json_from())["type"] == "hello"
    return socket
