"""A request is handled in one call in its thread (core.daphne_http, section 5,
``ASGI_ONE_THREAD``): Django's middleware chain is built synchronously, so a
page no longer goes back and forth between the event loop and a thread for
every async-capable middleware, the CSRF check, the view and the rendering.

The trips are counted on Django's real ASGI handler in this process (every
``sync_to_async`` and ``async_to_sync`` call passes through a counter and on
to asgiref); a real daphne serves signed-in pages and forms with the switch
on and off.

The handler takes ``ASGI_CONCURRENT_REQUESTS`` requests into Django at once:
requests sent together to the real handler, to a view of this module that
counts how many run at the same moment; a request whose client leaves
while it waits in line never reaches the view."""

import asyncio
import http.client
import re
import threading
import time

import pytest
from asgiref import sync
from asgiref.testing import ApplicationCommunicator
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpResponse
from django.test import Client
from django.urls import path

from core import checks
from core.daphne_http import ASGIHandler
from tests.servers import daphne, local_env

pytestmark = pytest.mark.django_db(transaction=True)

SLOW = 0.25  # seconds a request stays in the view: all six overlap, even on a busy machine
inside = {"now": 0, "most": 0, "order": []}
inside_lock = threading.Lock()


@login_not_required
def slow(request):
    """Counts the requests in Django at this moment, for a while."""
    with inside_lock:
        inside["now"] += 1
        inside["most"] = max(inside["most"], inside["now"])
        inside["order"].append(request.GET["n"])
    time.sleep(SLOW)
    with inside_lock:
        inside["now"] -= 1
    return HttpResponse(f"request {request.GET['n']}")


urlpatterns = [path("slow/", slow)]


@pytest.fixture
def trips(monkeypatch):
    """Counts the passages between the event loop and a thread."""
    counted = {"sync_to_async": 0, "async_to_sync": 0}

    def counting(cls, name):
        call = cls.__call__

        def counted_call(self, *args, **kwargs):
            counted[name] += 1
            return call(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__call__", counted_call)

    counting(sync.SyncToAsync, "sync_to_async")
    counting(sync.AsyncToSync, "async_to_sync")
    return counted


def get_scope(path: str, cookie: str = "") -> dict:
    """The ASGI scope of a GET of ``path`` (with its query string)."""
    headers = [(b"host", b"127.0.0.1"), (b"accept-language", b"en")]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    path, _, query = path.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }


async def get(handler, path: str, cookie: str = "") -> tuple[int, bytes]:
    communicator = ApplicationCommunicator(handler, get_scope(path, cookie))
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await communicator.receive_output(timeout=10)
    body = b""
    while True:
        message = await communicator.receive_output(timeout=10)
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await communicator.wait(timeout=10)
    return start["status"], body


@pytest.fixture
def member_cookie(member):
    client = Client()
    client.force_login(member)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


async def test_a_signed_in_page_is_one_trip_to_its_thread(settings, trips, group, member_cookie):
    settings.ASGI_ONE_THREAD = True
    handler = ASGIHandler()
    assert handler.one_thread
    await get(handler, "/", member_cookie)  # first request: lazy set-up out of the count
    trips.update(sync_to_async=0, async_to_sync=0)
    status, body = await get(handler, "/", member_cookie)
    assert status == 200
    assert group.name.encode() in body  # the member's dashboard, rendered
    # The chain (middleware, view, rendering) is one sync_to_async; the rest
    # is Django's handler around it (the request signals, the body's close).
    assert trips["async_to_sync"] == 0
    assert trips["sync_to_async"] <= 3
    one_thread = trips["sync_to_async"]

    settings.ASGI_ONE_THREAD = False  # the switch off: Django's async chain
    handler = ASGIHandler()
    assert not handler.one_thread
    await get(handler, "/", member_cookie)
    trips.update(sync_to_async=0, async_to_sync=0)
    status, body = await get(handler, "/", member_cookie)
    assert status == 200
    assert group.name.encode() in body
    assert trips["sync_to_async"] + trips["async_to_sync"] >= one_thread + 4


def test_the_patch_is_off_if_django_or_asgiref_is_not_the_tested_version(settings, monkeypatch):
    settings.ASGI_ONE_THREAD = True
    assert ASGIHandler().one_thread
    monkeypatch.setitem(checks.TESTED_VERSIONS, "django", "5.2")
    assert not ASGIHandler().one_thread
    monkeypatch.setitem(checks.TESTED_VERSIONS, "django", checks.installed_version("django"))
    monkeypatch.setitem(checks.TESTED_VERSIONS, "asgiref", "3.0")
    assert not ASGIHandler().one_thread


@pytest.mark.parametrize(
    ("one_thread", "concurrency", "expected"),
    [(True, 1, 1), (True, 2, 2), (True, 0, 6), (False, 1, 1), (False, 0, 6)],
)
async def test_the_handler_takes_as_many_requests_at_once_as_the_setting_says(
    settings, one_thread, concurrency, expected
):
    settings.ROOT_URLCONF = __name__
    settings.ASGI_ONE_THREAD = one_thread
    settings.ASGI_CONCURRENT_REQUESTS = concurrency
    handler = ASGIHandler()
    inside.update(now=0, most=0, order=[])
    started = time.monotonic()
    answers = []
    for n in range(6):  # sent one after the other, each before the last is answered
        answers.append(asyncio.create_task(get(handler, f"/slow/?n={n}")))
        await asyncio.sleep(0.01)
    answers = await asyncio.gather(*answers)
    took = time.monotonic() - started
    assert answers == [(200, f"request {n}".encode()) for n in range(6)]
    assert inside["most"] == expected
    assert took >= SLOW * -(-6 // expected) - 0.05
    if expected == 1:  # waiting in line, in the order they came
        assert inside["order"] == [str(n) for n in range(6)]


async def test_a_request_whose_client_left_while_it_waited_never_runs(settings):
    settings.ROOT_URLCONF = __name__
    settings.ASGI_CONCURRENT_REQUESTS = 1
    handler = ASGIHandler()
    inside.update(now=0, most=0, order=[])
    first = asyncio.create_task(get(handler, "/slow/?n=0"))
    await asyncio.sleep(0.03)  # the first is in Django, holding the turn
    gone = ApplicationCommunicator(handler, get_scope("/slow/?n=1"))
    await gone.send_input({"type": "http.request", "body": b"", "more_body": False})
    await asyncio.sleep(0.03)  # waiting in line
    await gone.send_input({"type": "http.disconnect"})
    await gone.wait(timeout=10)
    third = await get(handler, "/slow/?n=2")
    assert await first == (200, b"request 0")
    assert third == (200, b"request 2")
    assert inside["order"] == ["0", "2"]  # the one that left never reached the view
    assert inside["most"] == 1


@pytest.mark.parametrize(("switch", "concurrency"), [("1", "1"), ("0", "1"), ("1", "0")])
def test_daphne_serves_pages_and_forms_with_the_switch_on_and_off(
    switch, concurrency, tmp_path, group, member, member_cookie
):
    env = local_env(
        connection.settings_dict,
        tmp_path / "media",
        ASGI_ONE_THREAD=switch,
        ASGI_CONCURRENT_REQUESTS=concurrency,
    )
    with daphne(env=env, log_path=tmp_path / "daphne.log") as (base_url, _process):
        port = int(base_url.rsplit(":", 1)[1])
        connection_ = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection_.request("GET", "/", headers={"Cookie": member_cookie})
        response = connection_.getresponse()
        assert response.status == 200
        assert group.name.encode() in response.read()

        # A form through the whole chain: the CSRF cookie and token, then a
        # POST that the view answers (a wrong password: the form again, 200).
        connection_.request("GET", "/accounts/login/")
        response = connection_.getresponse()
        page = response.read().decode()
        assert response.status == 200
        csrf_cookie = re.search(r"csrftoken=([^;]+)", response.getheader("Set-Cookie")).group(1)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        form = f"csrfmiddlewaretoken={token}&login={member.email}&password=wrong"
        connection_.request(
            "POST",
            "/accounts/login/",
            body=form,
            headers={
                "Cookie": f"csrftoken={csrf_cookie}",
                "Content-Type": "application/x-www-form-urlencoded",
                "Origin": base_url,
                "Referer": base_url + "/accounts/login/",
            },
        )
        response = connection_.getresponse()
        answer = response.read().decode()
        assert response.status == 200
        assert "are not correct" in answer  # allauth's message: the view ran
        connection_.close()
    assert b"Traceback" not in (tmp_path / "daphne.log").read_bytes()
