"""Content of the groups for the home page and search tests, made through the
apps' services as the pages make it. People and groups come from
``tests/fixtures/people.py``."""

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from documents import services as document_services
from meetings import services as meeting_services

PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
    b"trailer << /Root 1 0 R >>\n%%EOF\n"
)


@pytest.fixture(autouse=True)
def _media(media_root):
    """Uploaded files go to a fresh folder (tests.fixtures.media)."""


def pdf(name: str, marker: str = "") -> SimpleUploadedFile:
    """A distinct small PDF (versions of one document must differ)."""
    return SimpleUploadedFile(name, PDF + f"% {marker or name}\n".encode(), "application/pdf")


def add_document(actor, group, title: str, description: str = ""):
    return document_services.document_upload(
        actor=actor, group=group, uploaded=pdf(f"{title}.pdf"), title=title, description=description
    )


def add_version(actor, document, marker: str):
    return document_services.version_add(
        actor=actor, document=document, uploaded=pdf("v.pdf", marker)
    )


def schedule(actor, group, title: str, *, starts_in: datetime.timedelta, **data):
    starts = timezone.now() + starts_in
    return meeting_services.meeting_schedule(
        actor=actor,
        group=group,
        data={
            "title": title,
            "starts_at": starts,
            "ends_at": starts + datetime.timedelta(hours=1),
            **data,
        },
    )
