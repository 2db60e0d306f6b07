"""A fixed-window rate limit on the shared cache (Redis when configured, so the
limit holds across server processes)."""

import time

from django.core.cache import cache


def parse_rate(rate: str) -> tuple[int, int]:
    """``"20/5"`` → (20 events, 5 seconds)."""
    count, _, seconds = rate.partition("/")
    return int(count), int(seconds or 1)


async def ahit(key: str, rate: str) -> bool:
    """Counts one event for ``key``; False when the limit for this window is
    already used up."""
    limit, window = parse_rate(rate)
    bucket = f"rl:{key}:{int(time.time() // window)}"
    added = await cache.aadd(bucket, 1, timeout=window + 1)
    if added:
        return True
    try:
        count = await cache.aincr(bucket)
    except ValueError:  # expired between add and incr
        await cache.aset(bucket, 1, timeout=window + 1)
        return True
    return count <= limit
