"""How a version's bytes reach the browser, always after the view authorised it:

- on S3-compatible storage: a redirect to a short-lived signed URL;
- behind nginx (``DOCUMENTS_X_ACCEL``): an empty answer with X-Accel-Redirect
  to nginx's internal location, which sends the file itself;
- otherwise streamed by daphne through an *async* iterator, one chunk in
  memory at a time, no faster than the client reads it
  (``core.responses.FileStreamResponse``).
"""

import functools
from urllib.parse import quote

from django.conf import settings
from django.http import HttpResponse, HttpResponseRedirect
from django.utils.http import content_disposition_header

from core.responses import FileStreamResponse

from .files import INLINE_TYPES
from .models import DocumentVersion

SANDBOX_CSP = "default-src 'none'; sandbox"


def _storage():
    return DocumentVersion._meta.get_field("file").storage


def version_response(version: DocumentVersion, *, inline: bool = False) -> HttpResponse:
    """The answer that delivers ``version``: as an attachment with a safe file
    name, or inline for images and PDFs when asked; always with nosniff and a
    sandboxing CSP."""
    inline = inline and version.content_type in INLINE_TYPES
    disposition = content_disposition_header(not inline, version.original_filename)
    content_type = version.content_type if inline else "application/octet-stream"
    storage = _storage()
    name = version.file.name
    if settings.S3_BUCKET_NAME:
        url = storage.url(
            name,
            parameters={
                "ResponseContentDisposition": disposition,
                "ResponseContentType": content_type,
            },
            expire=settings.S3_URL_EXPIRE_SECONDS,
        )
        response = HttpResponseRedirect(url)
    elif settings.DOCUMENTS_X_ACCEL:
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = settings.DOCUMENTS_X_ACCEL_PREFIX + quote(name)
    else:
        opener = functools.partial(storage.open, name, "rb")
        response = FileStreamResponse(opener, version.size, content_type=content_type)
    response["Content-Disposition"] = disposition
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = SANDBOX_CSP
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response
