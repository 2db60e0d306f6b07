"""Document fixtures. People and groups (``member``, ``moderator``, ``guest``,
``outsider``, ``other_member``, ``group``...) come from
``tests/fixtures/people.py``.

Every test stores its files in a fresh temporary MEDIA_ROOT (never in the
repository); documents are made through the services, as the pages make them.
"""

import struct
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from documents import services

PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
    b"trailer << /Root 1 0 R >>\n%%EOF\n"
)
HTML = (
    b"<!DOCTYPE html>\n<html><head><title>x</title></head>"
    b"<body><script>alert(1)</script></body></html>\n"
)
SVG = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(1)</script><rect width='10' height='10'/></svg>\n"
)
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 200


def png(width: int = 2, height: int = 2) -> bytes:
    """A real, tiny PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def text(content: str = "Minutes of the session.\n") -> bytes:
    return content.encode()


def upload(name: str, content: bytes, content_type: str = "application/octet-stream"):
    """A file as Django hands it to a view (the browser's content type is not trusted)."""
    return SimpleUploadedFile(name, content, content_type=content_type)


@pytest.fixture(autouse=True)
def _media(media_root, settings):
    """Every documents test stores files in a fresh folder (tests.fixtures.media),
    sent by daphne, not nginx."""
    settings.DOCUMENTS_X_ACCEL = False


def stored_files(root) -> list:
    return sorted(path for path in root.rglob("*") if path.is_file())


@pytest.fixture
def document(group, member):
    """A PDF uploaded by ``member`` to ``group`` (version 1)."""
    return services.document_upload(
        actor=member, group=group, uploaded=upload("report.pdf", PDF), title="Interim report"
    )


@pytest.fixture
def two_versions(document, member):
    """``document`` with a second version; returns (old, current)."""
    old = document.current_version
    current = services.version_add(
        actor=member,
        document=document,
        uploaded=upload("report-v2.pdf", PDF + b"% second\n"),
        change_note="Comments included",
    )
    document.refresh_from_db()
    return old, current


@pytest.fixture
def folder(group, member):
    return services.folder_create(actor=member, group=group, name="Reports")
