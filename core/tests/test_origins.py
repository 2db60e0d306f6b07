"""The socket opens only from the site's own origins: scheme, host and port."""

import pytest
from channels.testing import WebsocketCommunicator

from core.origins import origin_allowed
from tests.sockets import session_cookie
from workspace.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

SITE = "http://127.0.0.1:8000"
TRUSTED = "https://workspace.example.org"

REFUSED = [
    "http://127.0.0.1:9999",  # the site's host, another port
    "https://127.0.0.1",  # the site's host, another scheme (and port)
    "https://127.0.0.1:8000",  # the site's host and port, another scheme
    "http://127.0.0.1",  # the site's host, the default port
    "http://localhost:1234",  # an allowed host name, another port
    "http://localhost:8000",  # an allowed host name that is not the site's address
    "http://workspace.example.org",  # a trusted origin's host over http
    "https://workspace.example.org:8443",  # a trusted origin's host, another port
    "https://evil.example",
    "https://127.0.0.1.evil.example:8000",
    "http://user@127.0.0.1:8000",  # browsers send no user in an origin
    "http://127.0.0.1:8000/path",
    "null",  # sandboxed frames, file: pages
    "",
    "garbage",
    "http://[::1",  # unparsable
    "http://127.0.0.1:99999",  # no such port
    "ws://127.0.0.1:8000",
]
ACCEPTED = [
    SITE,
    "HTTP://127.0.0.1:8000",  # scheme and host compare case-insensitively
    TRUSTED,
    "https://workspace.example.org:443",  # the default port, spelt out
    "https://team.example.net",  # *.example.net
    "https://example.net",
]


@pytest.fixture(autouse=True)
def site(settings):
    settings.SITE_URL = SITE
    settings.CSRF_TRUSTED_ORIGINS = [TRUSTED, "https://*.example.net"]


async def connect(user, *headers):
    from channels.db import database_sync_to_async

    cookie = await database_sync_to_async(session_cookie)(user)
    socket = WebsocketCommunicator(application, "/ws/", headers=[*headers, cookie])
    connected, _ = await socket.connect()
    return socket, connected


@pytest.mark.parametrize("origin", REFUSED)
def test_origin_allowed_not_if_not_the_sites_own(origin):
    assert not origin_allowed(origin)


@pytest.mark.parametrize("origin", ACCEPTED)
def test_origin_allowed_if_the_sites_own(origin):
    assert origin_allowed(origin)


def test_origin_allowed_not_if_missing():
    assert not origin_allowed(None)


def test_origin_allowed_follows_settings_changed_at_run_time(settings):
    assert not origin_allowed("https://workspace.example.com")
    settings.SITE_URL = "https://workspace.example.com/"
    assert origin_allowed("https://workspace.example.com")
    assert not origin_allowed(SITE)


def test_origin_allowed_takes_the_origin_of_a_site_url_with_a_path(settings):
    settings.SITE_URL = "https://example.org:8443/workspace"
    assert origin_allowed("https://example.org:8443")
    assert not origin_allowed("https://example.org")


@pytest.mark.parametrize("origin", [o for o in REFUSED if o.isascii()])
async def test_socket_refused_if_origin_is_not_the_sites_own(user, origin):
    socket, connected = await connect(user, (b"origin", origin.encode()))
    assert not connected
    await socket.disconnect()


async def test_socket_refused_if_origin_is_missing(user):
    socket, connected = await connect(user)
    assert not connected
    await socket.disconnect()


async def test_socket_refused_if_origin_is_sent_twice(user):
    socket, connected = await connect(
        user, (b"origin", SITE.encode()), (b"origin", b"https://evil.example")
    )
    assert not connected
    await socket.disconnect()


@pytest.mark.parametrize("origin", [SITE, TRUSTED, "https://team.example.net"])
async def test_socket_accepted_if_origin_is_the_sites_own(user, origin):
    socket, connected = await connect(user, (b"origin", origin.encode()))
    assert connected
    assert (await socket.receive_json_from())["type"] == "hello"
    await socket.disconnect()
