"""The log of a running server: one line per refused request, with the user's
id and no traceback; a real error keeps its traceback."""

import io
import logging
import re
import urllib.error
import urllib.request

import pytest
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.test import Client
from django.urls import path

from core.request_log import RefusedRequestFilter
from tests.servers import daphne, database_url
from workspace.urls import urlpatterns as workspace_urlpatterns

# daphne's own access log: one line for every request, whatever its status.
ACCESS_LINE = re.compile(r'^\S+ - - \[[^\]]+\] "[A-Z]+ ')


@login_not_required
def boom(request):
    raise RuntimeError("a real error")


# The urlconf of test_server_error_keeps_its_traceback: the workspace and a failing view.
urlpatterns = [path("boom/", boom), *workspace_urlpatterns]


def fetch(url: str, *, cookie: str = "", method: str = "GET") -> int:
    request = urllib.request.Request(url, method=method, headers={"Cookie": cookie})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.django_db(transaction=True)
def test_server_logs_one_line_per_refused_request_with_user_id_and_no_traceback(
    tmp_path, member, group
):
    client = Client()
    client.force_login(member)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    log_path = tmp_path / "daphne.log"
    env = {"DEBUG": "1", "DATABASE_URL": database_url(connection.settings_dict)}
    refused = [
        # (method, path, status, reason, signed in)
        ("GET", f"/groups/{group.slug}/manage/", 403, "Forbidden (Permission denied)", True),
        ("GET", "/no-such-page/", 404, "Not Found", True),
        ("GET", "/groups/no-such-group/", 404, "Not Found", True),
        ("GET", "/notifications/read-all/", 405, "Method Not Allowed (GET)", True),
        ("POST", "/accounts/login/", 403, "Forbidden (CSRF cookie not set.)", False),
    ]
    with daphne(env=env, log_path=log_path) as (base_url, _process):
        for method, url_path, status, _reason, signed_in in refused:
            got = fetch(base_url + url_path, cookie=cookie if signed_in else "", method=method)
            assert got == status, url_path
        assert fetch(base_url + f"/groups/{group.slug}/", cookie=cookie) == 200

    log = log_path.read_text()
    assert "Traceback" not in log, log
    assert member.email not in log
    app_lines = [line for line in log.splitlines() if not ACCESS_LINE.match(line)]
    for method, url_path, status, reason, signed_in in refused:
        user = str(member.pk) if signed_in else "-"
        mentions = [line for line in app_lines if url_path in line]
        assert mentions == [f"Refused {status} {method} {url_path} user={user}: {reason}"], log
    # A page served is not the application log's business (daphne's access log has it).
    assert not [line for line in app_lines if f"/groups/{group.slug}/ " in line]


@pytest.fixture
def console():
    """What the workspace's console handler (the one LOGGING configures) writes."""
    handler = next(
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(f, RefusedRequestFilter) for f in handler.filters)
    )
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


@pytest.mark.django_db
def test_server_error_keeps_its_traceback(console, settings):
    settings.ROOT_URLCONF = __name__
    response = Client(raise_request_exception=False).get("/boom/")
    assert response.status_code == 500
    output = console.getvalue()
    assert "Internal Server Error: /boom/" in output
    assert "Traceback" in output
    assert "RuntimeError: a real error" in output
    assert "Refused" not in output


@pytest.mark.django_db
def test_refused_request_is_one_line_in_the_console_handler(console, member, group):
    client = Client()
    client.force_login(member)
    assert client.get(f"/groups/{group.slug}/manage/").status_code == 403
    assert console.getvalue() == (
        f"Refused 403 GET /groups/{group.slug}/manage/ user={member.pk}: "
        "Forbidden (Permission denied)\n"
    )
