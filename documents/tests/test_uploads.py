"""What may be uploaded, how it is stored, and how it leaves again.

Files go through the real views (multipart bodies built by hand where the
test client would tidy the file name), into a temporary MEDIA_ROOT.
"""

import re
import threading

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.urls import reverse

from documents import services
from documents.models import Document, DocumentVersion
from groups.models import AuditEntry

from .conftest import ELF, HTML, PDF, SVG, png, stored_files, text, upload

pytestmark = pytest.mark.django_db

STORAGE_NAME = re.compile(r"documents/\d+/[0-9a-f]{32}")
JSON = {"HTTP_ACCEPT": "application/json", "HTTP_X_REQUESTED_WITH": "XMLHttpRequest"}


def read(response) -> bytes:
    """The whole body of a download (an async iterator, as daphne streams it)."""

    async def collect():
        return b"".join([chunk async for chunk in response.streaming_content])

    # The test client closes the response once its iterator is exhausted.
    return async_to_sync(collect)()


def multipart(filename: bytes, content: bytes, **fields: str) -> tuple[bytes, str]:
    """A multipart body with the file name exactly as given (the test client
    would reduce it to its base name first, as browsers mostly do)."""
    boundary = b"----workspace-test-boundary"
    parts = [
        b"--" + boundary + b"\r\n"
        b'Content-Disposition: form-data; name="' + name.encode() + b'"\r\n\r\n'
        b"" + value.encode() + b"\r\n"
        for name, value in fields.items()
    ]
    parts.append(
        b"--" + boundary + b"\r\n"
        b'Content-Disposition: form-data; name="file"; filename="' + filename + b'"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + content + b"\r\n"
    )
    body = b"".join(parts) + b"--" + boundary + b"--\r\n"
    return body, "multipart/form-data; boundary=" + boundary.decode()


@pytest.fixture
def upload_url(group):
    return reverse("documents:upload", args=[group.slug])


@pytest.fixture
def signed_in(client, member):
    client.force_login(member)
    return client


def assert_nothing_stored(media_root):
    assert Document.objects.count() == 0
    assert DocumentVersion.objects.count() == 0
    assert stored_files(media_root) == []


def file_error(response) -> str:
    """The text of the error shown at the file field."""
    html = response.content.decode()
    match = re.search(r'data-errors-for="file"[^>]*>(.*?)</div>', html, re.S)
    assert match, "no error at the file field"
    return re.sub(r"<[^>]+>", "", match.group(1)).strip().replace("\xa0", " ")


# --- Size --------------------------------------------------------------------------


def test_upload_is_refused_with_clear_error_if_larger_than_limit(
    signed_in, upload_url, settings, media_root
):
    settings.DOCUMENTS_MAX_UPLOAD_BYTES = 1000
    response = signed_in.post(upload_url, {"file": upload("big.pdf", PDF + b"0" * 2000)})
    assert response.status_code == 400
    assert file_error(response) == "The file is 2.1 KB; the largest allowed is 1000 bytes."
    assert_nothing_stored(media_root)


def test_upload_is_refused_before_parsing_if_body_far_larger_than_limit(
    client, member, upload_url, settings, media_root, monkeypatch
):
    """Judged by Content-Length alone: neither the view nor the CSRF check
    parses the body, so nothing reaches a temporary file."""
    from django.http import multipartparser

    def never(self):
        raise AssertionError("the body was parsed")

    monkeypatch.setattr(multipartparser.MultiPartParser, "parse", never)
    settings.DOCUMENTS_MAX_UPLOAD_BYTES = 1000
    client.handler.enforce_csrf_checks = True
    client.force_login(member)
    body, content_type = multipart(b"big.pdf", PDF + b"0" * 200_000)
    response = client.post(upload_url, body, content_type=content_type)
    assert response.status_code == 413
    assert file_error(response).startswith("The file is 195.")
    assert file_error(response).endswith("the largest allowed is 1000 bytes.")
    assert_nothing_stored(media_root)

    response = client.post(upload_url, body, content_type=content_type, **JSON)
    assert response.status_code == 413
    assert response.json()["errors"]["file"][0].startswith("The file is 195.6\xa0KB;")


def test_upload_still_needs_csrf_token_if_within_limit(client, member, upload_url, media_root):
    client.handler.enforce_csrf_checks = True
    client.force_login(member)
    response = client.post(upload_url, {"file": upload("a.pdf", PDF)})
    assert response.status_code == 403
    assert_nothing_stored(media_root)


def test_new_version_is_refused_if_body_far_larger_than_limit(
    signed_in, document, settings, media_root
):
    settings.DOCUMENTS_MAX_UPLOAD_BYTES = 1000
    files_before = stored_files(media_root)
    body, content_type = multipart(b"big.pdf", PDF + b"0" * 200_000)
    response = signed_in.post(
        reverse("documents:version_upload", args=[document.pk]), body, content_type=content_type
    )
    assert response.status_code == 413
    assert document.versions.count() == 1
    assert stored_files(media_root) == files_before


def test_upload_page_tells_the_browser_the_limit(signed_in, upload_url, settings):
    settings.DOCUMENTS_MAX_UPLOAD_BYTES = 5 * 1024 * 1024
    html = signed_in.get(upload_url).content.decode()
    assert 'data-max-bytes="5242880"' in html
    assert 'data-too-large="The file is {size}; the largest allowed is 5.0\xa0MB."' in html


def test_empty_file_is_refused(signed_in, upload_url, media_root):
    response = signed_in.post(upload_url, {"file": upload("empty.pdf", b"")})
    assert response.status_code == 400
    assert file_error(response) == "The submitted file is empty."
    assert_nothing_stored(media_root)


# --- Type, read from the content ---------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "detected"),
    [
        ("tool.exe", ELF, "application/x-executable"),
        ("tool.pdf", ELF, "application/x-executable"),
        ("page.html", HTML, "text/html"),
    ],
)
def test_upload_is_refused_if_type_not_allowed(
    signed_in, upload_url, media_root, name, content, detected
):
    response = signed_in.post(upload_url, {"file": upload(name, content)})
    assert response.status_code == 400
    assert file_error(response) == f"Files of this type ({detected}) cannot be shared here."
    assert_nothing_stored(media_root)


def test_upload_is_refused_if_html_is_named_pdf(signed_in, upload_url, media_root):
    response = signed_in.post(upload_url, {"file": upload("report.pdf", HTML, "application/pdf")})
    assert response.status_code == 400
    assert "text/html" in file_error(response)
    assert_nothing_stored(media_root)


def test_upload_is_stored_as_pdf_if_pdf_is_named_txt(signed_in, upload_url):
    response = signed_in.post(upload_url, {"file": upload("x.txt", PDF, "text/plain")})
    assert response.status_code == 302
    version = DocumentVersion.objects.get()
    assert version.content_type == "application/pdf"
    assert version.original_filename == "x.txt"


def test_errors_are_json_if_asked_by_script(signed_in, upload_url, media_root):
    response = signed_in.post(upload_url, {"file": upload("page.pdf", HTML)}, **JSON)
    assert response.status_code == 400
    assert response.json() == {
        "errors": {"file": ["Files of this type (text/html) cannot be shared here."]}
    }
    assert_nothing_stored(media_root)


def test_success_is_json_redirect_if_asked_by_script(signed_in, upload_url):
    response = signed_in.post(upload_url, {"file": upload("a.pdf", PDF), "title": "A"}, **JSON)
    assert response.status_code == 200
    assert response.json() == {"redirect": Document.objects.get().get_absolute_url()}


def _download(client, version, name="documents:download"):
    return client.get(reverse(name, args=[version.pk]))


@pytest.mark.parametrize("name", ["documents:download", "documents:view"])
def test_svg_is_accepted_but_only_ever_served_as_attachment(signed_in, upload_url, name):
    signed_in.post(upload_url, {"file": upload("chart.svg", SVG, "image/svg+xml")})
    version = DocumentVersion.objects.get()
    assert version.content_type == "image/svg+xml"
    response = _download(signed_in, version, name)
    assert response["Content-Disposition"] == 'attachment; filename="chart.svg"'
    assert response["Content-Type"] == "application/octet-stream"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert read(response) == SVG


@pytest.mark.parametrize("name", ["documents:download", "documents:view"])
def test_html_is_only_ever_served_as_attachment_if_allowed_by_setting(
    signed_in, upload_url, settings, name
):
    settings.DOCUMENTS_ALLOWED_TYPES = [*settings.DOCUMENTS_ALLOWED_TYPES, "text/html"]
    signed_in.post(upload_url, {"file": upload("page.html", HTML, "text/html")})
    version = DocumentVersion.objects.get()
    response = _download(signed_in, version, name)
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [("photo.png", png(), "image/png"), ("paper.pdf", PDF, "application/pdf")],
)
def test_images_and_pdfs_are_shown_inline_in_sandbox(
    signed_in, upload_url, name, content, content_type
):
    signed_in.post(upload_url, {"file": upload(name, content)})
    version = DocumentVersion.objects.get()
    response = _download(signed_in, version, "documents:view")
    assert response["Content-Disposition"] == f'inline; filename="{name}"'
    assert response["Content-Type"] == content_type
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert read(response) == content
    attachment = _download(signed_in, version)
    assert attachment["Content-Disposition"] == f'attachment; filename="{name}"'


# --- File names never become paths ----------------------------------------------------

HOSTILE_NAMES = {
    "parent folders": ("../../../etc/passwd.pdf", "passwd.pdf"),
    "windows path": ("C:\\Users\\x\\..\\evil.pdf", "evil.pdf"),
    "nul": ("a\x00b.pdf", "ab.pdf"),
    "right-to-left override": ("invoice\u202efdp.exe", "invoicefdp.exe"),
    "line break": ("a\r\nContent-Type: text/html.pdf", None),
    "quote": ('x"; filename=evil.html', None),
    "only dots": ("...", "file"),
    "long": ("x" * 850 + ".pdf", "x" * 251 + ".pdf"),
}


def assert_stored_safely(version, media_root):
    assert STORAGE_NAME.fullmatch(version.file.name)
    assert (media_root / version.file.name).read_bytes()[:5] == b"%PDF-"
    assert stored_files(media_root) == [media_root / version.file.name]
    shown = version.original_filename
    assert shown and len(shown) <= 255
    assert not set(shown) & {"/", "\\", "\x00", "\r", "\n", "\u202e"}
    assert shown not in {".", ".."}


def assert_safe_disposition(response):
    disposition = response["Content-Disposition"]
    assert disposition.isascii()
    assert "\r" not in disposition and "\n" not in disposition
    assert re.fullmatch(
        r'attachment; filename(="([^"\\]|\\.)*"|\*=utf-8\'\'[A-Za-z0-9%._~-]+)', disposition
    )


@pytest.mark.parametrize(("raw", "shown"), HOSTILE_NAMES.values(), ids=HOSTILE_NAMES.keys())
def test_hostile_file_name_is_stored_safely_through_the_page(
    signed_in, upload_url, media_root, raw, shown
):
    body, content_type = multipart(raw.encode(), PDF)
    response = signed_in.post(upload_url, body, content_type=content_type)
    assert response.status_code == 302
    version = DocumentVersion.objects.get()
    assert_stored_safely(version, media_root)
    if shown is not None:
        assert version.original_filename == shown
    assert_safe_disposition(_download(signed_in, version))


@pytest.mark.parametrize(
    "raw",
    ["../../etc/passwd.pdf", "a\x00b.pdf", "report\u202efdp.pdf", "ü" * 1000 + ".pdf", "x" * 1000],
)
def test_hostile_file_name_is_stored_safely_by_the_service(group, member, media_root, raw):
    document = services.document_upload(actor=member, group=group, uploaded=upload(raw, PDF))
    version = document.current_version
    assert_stored_safely(version, media_root)
    assert document.title == version.original_filename[:200]


def test_file_named_parent_folder_gets_clear_error(signed_in, upload_url, media_root):
    """Django drops a file part named "..": no file arrived."""
    body, content_type = multipart(b"..", PDF)
    response = signed_in.post(upload_url, body, content_type=content_type)
    assert response.status_code == 400
    assert file_error(response) == "This field is required."
    assert_nothing_stored(media_root)


def test_thousand_character_file_name_gets_clear_error_through_the_page(
    signed_in, upload_url, media_root
):
    """Django reads at most 1 KB of a part's headers; the name does not fit."""
    body, content_type = multipart(b"x" * 996 + b".pdf", PDF)
    response = signed_in.post(upload_url, body, content_type=content_type)
    assert response.status_code == 400
    assert "If the file name is very long, please shorten it" in file_error(response)
    assert_nothing_stored(media_root)


def test_non_ascii_file_name_is_offered_encoded(signed_in, upload_url):
    signed_in.post(upload_url, {"file": upload("Bericht über Migration.pdf", PDF)})
    response = _download(signed_in, DocumentVersion.objects.get())
    assert response["Content-Disposition"] == (
        "attachment; filename*=utf-8''Bericht%20%C3%BCber%20Migration.pdf"
    )


# --- Versions --------------------------------------------------------------------------


def test_same_file_again_is_refused_naming_the_version(signed_in, two_versions, media_root):
    old, _current = two_versions
    files_before = stored_files(media_root)
    response = signed_in.post(
        reverse("documents:version_upload", args=[old.document_id]),
        {"file": upload("again.pdf", PDF)},
    )
    assert response.status_code == 400
    assert file_error(response) == "This file is identical to version 1."
    assert DocumentVersion.objects.count() == 2
    assert stored_files(media_root) == files_before


def test_same_file_again_is_refused_in_json_if_asked_by_script(signed_in, document):
    response = signed_in.post(
        reverse("documents:version_upload", args=[document.pk]),
        {"file": upload("again.pdf", PDF)},
        **JSON,
    )
    assert response.status_code == 400
    assert response.json() == {"errors": {"file": ["This file is identical to version 1."]}}


@pytest.mark.django_db(transaction=True)
def test_concurrent_new_versions_keep_every_version(group, member, media_root):
    document = services.document_upload(actor=member, group=group, uploaded=upload("a.pdf", PDF))
    count = 6
    barrier = threading.Barrier(count)
    errors = []

    def add(index):
        try:
            barrier.wait(timeout=10)
            services.version_add(
                actor=member,
                document=document,
                uploaded=upload(f"v{index}.pdf", PDF + f"% edit {index}\n".encode()),
            )
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=add, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    versions = list(document.versions.order_by("number"))
    assert [version.number for version in versions] == list(range(1, count + 2))
    assert len({version.sha256 for version in versions}) == count + 1
    for version in versions:
        assert (media_root / version.file.name).is_file()
    assert len(stored_files(media_root)) == count + 1
    document.refresh_from_db()
    assert document.current_version_id == versions[-1].pk


def test_restore_adds_a_new_version_with_the_old_bytes(signed_in, two_versions, media_root):
    old, current = two_versions
    response = signed_in.post(reverse("documents:version_restore", args=[old.pk]))
    assert response.status_code == 302
    restored = DocumentVersion.objects.get(number=3)
    assert restored.document.current_version == restored
    assert restored.sha256 == old.sha256
    assert restored.change_note == "Restored version 1"
    assert read(_download(signed_in, restored)) == PDF
    assert len(stored_files(media_root)) == 2  # the same bytes, not a copy
    assert DocumentVersion.objects.filter(pk__in=[old.pk, current.pk]).count() == 2


def test_restore_of_current_version_changes_nothing(signed_in, two_versions):
    _old, current = two_versions
    response = signed_in.post(reverse("documents:version_restore", args=[current.pk]), follow=True)
    assert "This version is the current one already." in response.content.decode()
    assert DocumentVersion.objects.count() == 2


# --- Delete -------------------------------------------------------------------------------


def test_delete_leaves_only_the_audit_entry(
    signed_in, two_versions, media_root, django_capture_on_commit_callbacks
):
    old, _current = two_versions
    signed_in.post(reverse("documents:version_restore", args=[old.pk]))
    document = old.document
    version_pks = list(document.versions.values_list("pk", flat=True))
    assert len(stored_files(media_root)) == 2
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(reverse("documents:delete", args=[document.pk]))
    assert response.status_code == 302
    assert not Document.objects.filter(pk=document.pk).exists()
    assert not DocumentVersion.objects.filter(document_id=document.pk).exists()
    assert stored_files(media_root) == []
    for pk in version_pks:
        for name in ("documents:download", "documents:view"):
            assert signed_in.get(reverse(name, args=[pk])).status_code == 404
    assert signed_in.get(reverse("documents:detail", args=[document.pk])).status_code == 404
    entry = AuditEntry.objects.get(action="document.deleted")
    assert entry.summary == "Interim report"
    assert entry.data["document"] == document.pk


def test_text_and_csv_are_attachments_even_when_viewed(signed_in, upload_url):
    signed_in.post(upload_url, {"file": upload("notes.csv", text("a,b\n1,2\n"))})
    version = DocumentVersion.objects.get()
    assert version.content_type == "text/csv"
    response = _download(signed_in, version, "documents:view")
    assert response["Content-Disposition"] == 'attachment; filename="notes.csv"'
    assert response["Content-Type"] == "application/octet-stream"
