"""The cache of the public pages (the public home, a group's public page, a
webinar's page), per language and path.

A page is stored under the current *version* of the public side, the
language and its path. Whatever a public page shows changes through a
service that calls ``core.hooks.call("public.changed", group_id=...)``
inside its transaction; ``public_changed`` then replaces the version after
commit, so every page is rendered afresh from committed data on its next
request (a change rolled back drops nothing). One version for all pages:
changes are rare and every one reaches the home page anyway, while visitors'
requests are many.

The version is a random string, not a counter: a version lost from the cache
(an eviction, a restart of Redis) is replaced by a new one, never by one that
old pages were stored under.
"""

import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.utils.translation import get_language

VERSION_KEY = "public:version"


def version() -> str:
    """The current version of the public pages (made on first use)."""
    current = cache.get(VERSION_KEY)
    if current is None:
        cache.add(VERSION_KEY, uuid.uuid4().hex, timeout=None)
        current = cache.get(VERSION_KEY)
    return current


def bump() -> None:
    """Drops every cached public page (they are stored under the old version)."""
    cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None)


def public_changed(group_id: int | None = None, **kwargs) -> None:
    """The ``public.changed`` hook: something a public page shows changed
    (in the group ``group_id``, or anywhere if None). Drops the pages once the
    change has committed."""
    transaction.on_commit(bump)


def page_key(language: str, path: str) -> str:
    return f"public:page:{version()}:{language}:{path}"


def page_get(key: str) -> bytes | None:
    return cache.get(key)


def page_set(key: str, content: bytes, *, seconds: float | None = None) -> None:
    """Stores a page for ``PUBLIC_CACHE_SECONDS`` at most, or less when what it
    shows ends by itself sooner (``seconds``: a guest's access, a webinar's
    registration)."""
    timeout = settings.PUBLIC_CACHE_SECONDS
    if seconds is not None:
        timeout = min(timeout, int(seconds))  # less than a second: not stored
    if timeout > 0:  # 0: no cache
        cache.set(key, content, timeout=timeout)


# Stands for the CSRF token in a cached page; letters only, so templates
# leave it as it is.
CSRF_PLACEHOLDER = "publicpagecsrftokenplaceholder"

# page(request, csrf_token, *args) -> (template, context, seconds it stays
# true or None); raises Http404 for what is not public.
Page = Callable[..., tuple[str, dict, float | None]]


def serve(request, page: Page, *args) -> HttpResponse:
    """The public page ``page`` rendered. For visitors through the cache: a
    hit costs two cache reads (the version, the page) and no query, so
    ``page`` (which checks that what it shows is public) runs only on a
    miss; every change that could make it not public calls
    ``public.changed``, which drops the stored page. What is stored holds
    nothing of the visitor who happened to fill it: no messages (a "signed
    out" notice stays for the next page that is not cached), no CSP nonce
    (the policy needs none: scripts come from the site itself), the CSRF
    token as a placeholder filled in per request (which sets its cookie, as
    rendering it would)."""
    if request.user.is_authenticated:
        template, context, _seconds = page(request, get_token(request), *args)
        return render(request, template, context)
    key = page_key(get_language(), request.path)
    content = page_get(key)
    if content is None:
        template, context, seconds = page(request, CSRF_PLACEHOLDER, *args)
        context.update(csrf_token=CSRF_PLACEHOLDER, messages=(), csp_nonce=None)
        content = render(request, template, context).content
        page_set(key, content, seconds=seconds)
    return HttpResponse(content.replace(CSRF_PLACEHOLDER.encode(), get_token(request).encode()))
