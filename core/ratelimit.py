"""A fixed-window rate limit on the shared cache (Redis when configured, so the
limit holds across server processes)."""

import time

from asgiref.sync import sync_to_async
from django.core.cache import cache


def parse_rate(rate: str) -> tuple[int, int]:
    """``"20/5"`` → (20 events, 5 seconds)."""
    count, _, seconds = rate.partition("/")
    return int(count), int(seconds or 1)


def hit(key: str, rate: str) -> bool:
    """Counts one event for ``key``; False when the limit for this window is
    already used up."""
    limit, window = parse_rate(rate)
    bucket = f"rl:{key}:{int(time.time() // window)}"
    if cache.add(bucket, 1, timeout=window + 1):
        return True
    try:
        return cache.incr(bucket) <= limit
    except ValueError:  # expired between add and incr
        cache.set(bucket, 1, timeout=window + 1)
        return True


async def ahit(key: str, rate: str) -> bool:
    """``hit`` for async code."""
    return await sync_to_async(hit)(key, rate)
