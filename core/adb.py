"""PostgreSQL from the event loop, for the one frame that must be cheap: a
chat message (meetings.chat).

Django's database calls are synchronous, so from a socket's consumer each one
goes to a worker thread and back (``database_sync_to_async``): two thread
switches, connection checks before and after, and Django's cursor wrappers.
For a chat message, which is read and stored with two hand-written
statements, that was most of the cost of storing it (bench/chat_fanout.py).
Here each server process keeps one asynchronous psycopg connection per event
loop, opened with Django's own connection parameters (its adapters, so values
come back as through Django), in autocommit: a statement is its own
transaction. One task uses it at a time; a statement takes about a
millisecond, far more than a process's chat needs. A connection that broke is
replaced on the next use.

Only on PostgreSQL: ``available()`` is False otherwise, and callers take
Django's way in a worker thread.
"""

import asyncio
import contextlib
import weakref

import psycopg
from django.db import connections

ALIAS = "default"


class _Holder:
    def __init__(self):
        self.lock = asyncio.Lock()
        self.connection: psycopg.AsyncConnection | None = None


_holders: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Holder]" = (
    weakref.WeakKeyDictionary()
)


def available() -> bool:
    return connections[ALIAS].vendor == "postgresql"


def _params() -> dict:
    params = connections[ALIAS].get_connection_params()
    params.pop("cursor_factory", None)  # Django's, for its synchronous connections
    params["autocommit"] = True
    return params


@contextlib.asynccontextmanager
async def cursor():
    """A cursor of the running loop's connection, for this task alone until
    the block ends."""
    loop = asyncio.get_running_loop()
    holder = _holders.get(loop)
    if holder is None:
        holder = _holders[loop] = _Holder()
    async with holder.lock:
        if holder.connection is None or holder.connection.closed or holder.connection.broken:
            holder.connection = await psycopg.AsyncConnection.connect(**_params())
        async with holder.connection.cursor() as found:
            yield found


def close_all() -> None:
    """Closes every loop's connection (the tests, between tests: a test's
    event loop is gone by then, so this does not wait for one)."""
    for holder in list(_holders.values()):
        if holder.connection is not None and not holder.connection.closed:
            holder.connection.pgconn.finish()
        holder.connection = None
