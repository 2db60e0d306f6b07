"""The shared store (Redis) for code on the event loop: one asyncio client per
event loop, so that a socket's rate limit or a chat resend check costs one
round trip on the loop instead of a hop to a worker thread and Django's
synchronous cache client there. Keys live under the cache's prefix
(``REDIS_PREFIX``), so whatever empties the cache's keys empties these too.

Without ``REDIS_URL`` there is no shared store: ``client()`` is None and the
callers keep their state in the process (the only one then)."""

import asyncio
import weakref

from django.conf import settings

_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, object]" = (
    weakref.WeakKeyDictionary()
)


def client():
    """The running loop's Redis client, or None without ``REDIS_URL``."""
    if not settings.REDIS_URL:
        return None
    loop = asyncio.get_running_loop()
    redis = _clients.get(loop)
    if redis is None:
        import redis.asyncio

        redis = _clients[loop] = redis.asyncio.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2
        )
    return redis


def key(name: str) -> str:
    """``name`` under the cache's prefix."""
    return f"{settings.CACHES['default'].get('KEY_PREFIX') or 'ws'}:{name}"
