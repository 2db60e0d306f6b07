"""How a version's bytes leave the server: streamed by daphne through an async
iterator, handed to nginx by X-Accel-Redirect, or as a signed S3 URL; always
after the view authorised the person, always with the protective headers."""

import hashlib
import os
import urllib.error
import urllib.request

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import connection
from django.test import Client
from django.urls import reverse

from documents import downloads, services
from tests.servers import daphne, database_url

from .conftest import PDF, upload

pytestmark = pytest.mark.django_db

PROTECTIVE = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, no-store",
}


def read(response) -> bytes:
    async def collect():
        return b"".join([chunk async for chunk in response.streaming_content])

    return async_to_sync(collect)()


@pytest.fixture
def signed_in(client, member):
    client.force_login(member)
    return client


def test_download_streams_the_version_with_protective_headers(signed_in, two_versions):
    old, current = two_versions
    for version, content in ((old, PDF), (current, PDF + b"% second\n")):
        response = signed_in.get(reverse("documents:download", args=[version.pk]))
        assert response.streaming
        assert response.is_async  # daphne streams it chunk by chunk
        assert read(response) == content
        assert response["Content-Length"] == str(len(content))
        assert response["Content-Type"] == "application/octet-stream"
        assert response["Content-Disposition"] == (
            f'attachment; filename="{version.original_filename}"'
        )
        for header, value in PROTECTIVE.items():
            assert response[header] == value


def test_download_is_handed_to_nginx_if_behind_proxy(signed_in, document, settings):
    settings.DOCUMENTS_X_ACCEL = True
    version = document.current_version
    response = signed_in.get(reverse("documents:download", args=[version.pk]))
    assert not response.streaming
    assert response.content == b""
    assert response["X-Accel-Redirect"] == "/protected-media/" + version.file.name
    assert response["Content-Disposition"] == 'attachment; filename="report.pdf"'
    for header, value in PROTECTIVE.items():
        assert response[header] == value


def test_download_is_refused_without_x_accel_if_not_allowed(client, outsider, document, settings):
    settings.DOCUMENTS_X_ACCEL = True
    client.force_login(outsider)
    response = client.get(reverse("documents:download", args=[document.current_version_id]))
    assert response.status_code == 404
    assert "X-Accel-Redirect" not in response


class FakeS3:
    def __init__(self):
        self.calls = []

    def url(self, name, parameters=None, expire=None):
        self.calls.append((name, parameters, expire))
        return f"https://bucket.example.org/{name}?X-Amz-Signature=abc"


def test_download_redirects_to_short_lived_signed_url_on_s3(
    signed_in, document, settings, monkeypatch
):
    storage = FakeS3()
    monkeypatch.setattr(downloads, "_storage", lambda: storage)
    settings.S3_BUCKET_NAME = "workspace"
    settings.S3_URL_EXPIRE_SECONDS = 60
    version = document.current_version
    response = signed_in.get(reverse("documents:view", args=[version.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith("https://bucket.example.org/documents/")
    [(name, parameters, expire)] = storage.calls
    assert name == version.file.name
    assert expire == 60
    assert parameters == {
        "ResponseContentDisposition": 'inline; filename="report.pdf"',
        "ResponseContentType": "application/pdf",
    }


# --- Through a real daphne --------------------------------------------------------------


def fetch(url: str, cookie: str):
    """(status, headers, body) without following redirects."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, headers={"Cookie": cookie})  # noqa: S310
    try:
        with opener.open(request, timeout=60) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


@pytest.mark.django_db(transaction=True)
def test_download_through_daphne_is_byte_identical(group, member, outsider, media_root, tmp_path):
    first = PDF + os.urandom(3 * 1024 * 1024 + 123)
    second = PDF + os.urandom(1024 * 1024)
    document = services.document_upload(
        actor=member, group=group, uploaded=upload("Bericht über 2025.pdf", first)
    )
    old = document.current_version
    current = services.version_add(
        actor=member, document=document, uploaded=upload("b.pdf", second)
    )
    env = {
        "DEBUG": "1",
        "DATABASE_URL": database_url(connection.settings_dict),
        "MEDIA_ROOT": str(media_root),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
    }
    cookie = session_cookie(member)
    with daphne(env=env, log_path=tmp_path / "daphne.log") as (base_url, _process):
        for version, content in ((old, first), (current, second)):
            status, headers, body = fetch(
                base_url + reverse("documents:download", args=[version.pk]), cookie
            )
            assert status == 200, (tmp_path / "daphne.log").read_text()[-2000:]
            assert hashlib.sha256(body).hexdigest() == hashlib.sha256(content).hexdigest()
            assert int(headers["Content-Length"]) == len(body) == version.size
            assert headers["Content-Type"] == "application/octet-stream"
            assert headers["X-Content-Type-Options"] == "nosniff"
            assert headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
            assert headers["Content-Disposition"].startswith("attachment; filename")
        assert "filename*=utf-8''Bericht%20%C3%BCber%202025.pdf" in fetch(
            base_url + reverse("documents:download", args=[old.pk]), cookie
        )[1].get("Content-Disposition", "")

        status, _headers, body = fetch(base_url + reverse("documents:view", args=[old.pk]), cookie)
        assert status == 200 and body == first

        status, _headers, body = fetch(
            base_url + reverse("documents:download", args=[old.pk]), session_cookie(outsider)
        )
        assert status == 404
        assert first[:64] not in body
