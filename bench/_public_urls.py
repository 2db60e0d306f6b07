"""The URLconf of ``bench/public_site.py``: the bare views, then the project's
URLs. A bare view answers the bytes of one of our pages as captured from our
view in the same run (files in ``BENCH_PUBLIC_CAPTURE``, read once, on the
first request, which comes after the capture): what answering that page costs
when nothing is looked up or rendered."""

import os
from pathlib import Path

from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpResponse
from django.urls import include, path

_pages: dict[str, bytes] = {}


@login_not_required
def bare(request, name):
    content = _pages.get(name)
    if content is None:
        source = Path(os.environ["BENCH_PUBLIC_CAPTURE"]) / f"{name}.html"
        if not source.is_file():
            raise Http404
        content = _pages[name] = source.read_bytes()
    return HttpResponse(content)


urlpatterns = [
    path("bench/bare/<slug:name>/", bare, name="bench_bare"),
    path("", include("workspace.urls")),
]
