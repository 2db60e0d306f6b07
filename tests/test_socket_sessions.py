"""A socket lives no longer than the session it was opened with.

Signed out (here or in another browser), the password changed or reset, the
session expired, the account deactivated in the admin: the socket of that
session is closed with 4401, as one that never had a session, and receives
nothing more. Sockets of sessions that still stand stay open. Real sockets
against the ASGI application, real requests through Django's test client.
"""

import asyncio
import re

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.core import mail
from django.db import transaction
from django.test import Client
from django.urls import reverse

from core import realtime
from core.consumers import CLOSE_UNAUTHENTICATED
from tests.fixtures.people import enable_mfa
from tests.sockets import ORIGIN
from workspace.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 8.0


@database_sync_to_async
def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


async def open_socket(client: Client, stream: str | None = None) -> WebsocketCommunicator:
    """A socket opened with ``client``'s session cookie, subscribed to ``stream``."""
    value = client.cookies[settings.SESSION_COOKIE_NAME].value
    cookie = (b"cookie", f"{settings.SESSION_COOKIE_NAME}={value}".encode())
    socket = WebsocketCommunicator(application, "/ws/", headers=[ORIGIN, cookie])
    connected, _ = await socket.connect()
    assert connected
    assert (await socket.receive_json_from())["type"] == "hello"
    if stream is not None:
        await socket.send_json_to({"type": "subscribe", "stream": stream})
        assert (await socket.receive_json_from(timeout=WAIT))["type"] == "subscribed"
    return socket


async def closed_code(socket, timeout=WAIT) -> int:
    """Waits for the socket to be closed by the server; its close code."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        remaining = deadline - loop.time()
        assert remaining > 0, "the socket stayed open"
        try:
            output = await socket.receive_output(timeout=remaining)
        except TimeoutError:
            raise AssertionError("the socket stayed open") from None
        if output["type"] == "websocket.close":
            return output["code"]


async def assert_open(socket, stream):
    """The socket is open and still receives ``stream``."""
    seq = await emit(stream)
    while True:
        frame = await socket.receive_json_from(timeout=WAIT)
        if frame.get("event") == "probe" and frame["seq"] == seq:
            return


@database_sync_to_async
def emit(stream):
    with transaction.atomic():
        return realtime.emit(stream, "probe", {})


async def assert_closed_for_good(socket, stream):
    assert await closed_code(socket) == CLOSE_UNAUTHENTICATED
    await emit(stream)
    assert await socket.receive_nothing(timeout=0.5)


async def test_socket_closed_if_its_session_signs_out(member, group):
    stream = f"group:{group.pk}"
    client = await signed_in(member)
    other_browser = await signed_in(member)
    socket = await open_socket(client, stream)
    other_socket = await open_socket(other_browser, stream)
    response = await database_sync_to_async(client.post)(reverse("account_logout"))
    assert response.status_code == 302
    await assert_closed_for_good(socket, stream)
    # The other browser's session still stands, and so does its socket.
    await assert_open(other_socket, stream)
    await other_socket.disconnect()


async def test_socket_closed_if_signed_out_elsewhere_by_a_password_change(member, group, password):
    stream = f"group:{group.pk}"
    here = await signed_in(member)
    socket = await open_socket(here, stream)
    elsewhere = await signed_in(member)
    response = await database_sync_to_async(elsewhere.post)(
        reverse("account_change_password"),
        {
            "oldpassword": password,
            "password1": "new-pass-phrase-1",
            "password2": "new-pass-phrase-1",
        },
    )
    assert response.status_code == 302
    await assert_closed_for_good(socket, stream)
    # The page of that session says so too.
    page = await database_sync_to_async(here.get)(reverse("accounts:profile_edit"))
    assert page.status_code == 302


async def test_socket_closed_if_password_reset(member, group):
    stream = f"group:{group.pk}"
    socket = await open_socket(await signed_in(member), stream)

    @database_sync_to_async
    def reset():
        anonymous = Client()
        anonymous.post(reverse("account_reset_password"), {"email": member.email})
        link = re.search(
            r"http://testserver(/accounts/password/reset/key/\S+/)", mail.outbox[-1].body
        )
        response = anonymous.get(link.group(1), follow=True)
        form_url = response.redirect_chain[-1][0] if response.redirect_chain else link.group(1)
        new = "a-brand-new-passphrase"
        done = anonymous.post(form_url, {"password1": new, "password2": new})
        assert done.status_code == 302

    await reset()
    await assert_closed_for_good(socket, stream)


@database_sync_to_async
def set_expiry(client: Client, seconds: int) -> None:
    session = client.session
    session.set_expiry(seconds)
    session.save()


async def test_socket_closed_when_its_session_expires(member, group):
    stream = f"group:{group.pk}"
    client = await signed_in(member)
    await set_expiry(client, 2)
    socket = await open_socket(client, stream)
    await assert_closed_for_good(socket, stream)


async def test_socket_follows_its_session_if_the_session_is_extended(member, group):
    stream = f"group:{group.pk}"
    client = await signed_in(member)
    await set_expiry(client, 2)
    socket = await open_socket(client, stream)
    await set_expiry(client, 6)  # e.g. a request that renewed it
    await asyncio.sleep(3)
    await assert_open(socket, stream)
    await assert_closed_for_good(socket, stream)


async def test_socket_closed_if_admin_deactivates_the_account(member, group, make_user):
    stream = f"group:{group.pk}"
    socket = await open_socket(await signed_in(member), stream)
    admin = await database_sync_to_async(make_user)(
        "admin@example.org", is_staff=True, is_superuser=True
    )
    await database_sync_to_async(enable_mfa)(admin)

    @database_sync_to_async
    def deactivate_in_the_admin():
        client = Client()
        client.force_login(admin)
        member.refresh_from_db()
        data = {
            "email": member.email,
            "display_name": member.display_name,
            "affiliation": member.affiliation,
            "sector": member.sector,
            "country": member.country,
            "bio": member.bio,
            "language": member.language,
            "time_zone": member.time_zone,
            # is_active left out: unticked
            "last_login_0": "",
            "last_login_1": "",
            "date_joined_0": member.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": member.date_joined.strftime("%H:%M:%S"),
        }
        response = client.post(reverse("admin:accounts_user_change", args=[member.pk]), data)
        assert response.status_code == 302, response.content.decode()[:2000]
        member.refresh_from_db()
        assert member.is_active is False

    await deactivate_in_the_admin()
    await assert_closed_for_good(socket, stream)


async def test_socket_stays_open_if_the_profile_changes(member, group):
    stream = f"group:{group.pk}"
    socket = await open_socket(await signed_in(member), stream)

    @database_sync_to_async
    def rename():
        member.display_name = "Mia M."
        member.save()

    await rename()
    await assert_open(socket, stream)
    await socket.disconnect()
