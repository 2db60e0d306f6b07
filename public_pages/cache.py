"""The cache of the public pages, per language.

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

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

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
    shows ends by itself sooner (``seconds``: a guest's access)."""
    timeout = settings.PUBLIC_CACHE_SECONDS
    if seconds is not None:
        timeout = min(timeout, max(1, int(seconds)))
    if timeout > 0:  # 0: no cache
        cache.set(key, content, timeout=timeout)
