"""Checking an uploaded file: its size, its type read from its content, and a
file name that is safe to show (it is never used as a path)."""

import hashlib
import unicodedata
from dataclasses import dataclass

import magic
from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

# Types libmagic reports for plain text that its name may refine (never widen).
TEXT_REFINEMENTS = {".csv": "text/csv", ".md": "text/markdown", ".markdown": "text/markdown"}
INLINE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"}
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class CheckedFile:
    content_type: str
    size: int
    sha256: str
    display_name: str


def display_name(name: str) -> str:
    """A file name fit to show and to offer for saving: no folders, no control
    or direction-changing characters, at most 255 characters (keeping the
    extension)."""
    name = (name or "").replace("\\", "/").split("/")[-1]
    name = (
        "".join(
            char
            for char in unicodedata.normalize("NFC", name)
            if unicodedata.category(char) not in {"Cc", "Cf", "Cs", "Co", "Cn"}
        )
        .strip()
        .strip(".")
    )
    if not name:
        name = "file"
    if len(name) > 255:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 16:
            name = stem[: 254 - len(extension)] + "." + extension
        else:
            name = name[:255]
    return name


def detect_type(uploaded) -> str:
    """The MIME type read from the file's content (libmagic)."""
    path = getattr(uploaded, "temporary_file_path", None)
    if path is not None:
        return magic.from_file(path(), mime=True)
    uploaded.seek(0)
    head = uploaded.read(64 * 1024)
    uploaded.seek(0)
    if head.startswith(b"PK"):  # office files are zips: libmagic needs the whole file
        data = uploaded.read()
        uploaded.seek(0)
        return magic.from_buffer(data, mime=True)
    return magic.from_buffer(head, mime=True)


def check_upload(uploaded) -> CheckedFile:
    """Validates an uploaded file; ValidationError with a clear message otherwise."""
    limit = settings.DOCUMENTS_MAX_UPLOAD_BYTES
    if uploaded.size > limit:
        raise ValidationError(
            _("The file is %(size)s; the largest allowed is %(limit)s.")
            % {"size": filesizeformat(uploaded.size), "limit": filesizeformat(limit)},
            code="too_large",
        )
    if uploaded.size == 0:
        raise ValidationError(_("The file is empty."), code="empty")
    name = display_name(uploaded.name)
    content_type = detect_type(uploaded)
    if content_type == "text/plain":
        for extension, refined in TEXT_REFINEMENTS.items():
            if name.lower().endswith(extension):
                content_type = refined
    if content_type not in settings.DOCUMENTS_ALLOWED_TYPES:
        raise ValidationError(
            _("Files of this type (%(type)s) cannot be shared here.") % {"type": content_type},
            code="type",
        )
    digest = hashlib.sha256()
    uploaded.seek(0)
    for chunk in uploaded.chunks(CHUNK):
        digest.update(chunk)
    uploaded.seek(0)
    return CheckedFile(
        content_type=content_type,
        size=uploaded.size,
        sha256=digest.hexdigest(),
        display_name=name,
    )
