"""Realtime event helpers: stream names and publishing after commit.

A *stream* is what a client subscribes to over its one socket (the user's own
stream now; group rooms, meetings and threads as later apps add them). Each
stream maps to one channel-layer group. Services publish with
``publish_on_commit`` so that a rolled-back write never sends an event.
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def stream_group(stream: str) -> str:
    """The channel-layer group name of ``stream`` (e.g. ``"user:12"``)."""
    return "stream." + stream.replace(":", ".")


def user_stream(user_id: int) -> str:
    return f"user:{user_id}"


def group_stream(group_id: int) -> str:
    return f"group:{group_id}"


def event_message(stream: str, event_type: str, payload: dict) -> dict:
    """The channel-layer message for one event; identical for every recipient."""
    return {"type": "stream.event", "stream": stream, "event": event_type, "data": payload}


def publish(stream: str, event_type: str, payload: dict) -> None:
    """Sends an event now. Delivery is best effort: the database stays the
    source of truth, so a channel layer that is down is logged, not raised."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            stream_group(stream), event_message(stream, event_type, payload)
        )
    except Exception:
        logger.exception("Could not publish %s on %s", event_type, stream)


def publish_on_commit(stream: str, event_type: str, payload: dict) -> None:
    """Sends an event once the surrounding transaction commits (at once outside one)."""
    transaction.on_commit(lambda: publish(stream, event_type, payload))
