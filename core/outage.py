"""What a database outage looks like to the code above it.

PostgreSQL restarting, unreachable, or out of free connections for longer than
the pool waits (psycopg_pool's PoolTimeout arrives wrapped as Django's
OperationalError) is no bug of the workspace: pages answer 503 "try again"
(core.views.server_error), sockets close with 4503 and reconnect
(core.consumers), each logged as one line instead of a traceback.
"""

from django.db import InterfaceError, OperationalError

DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)


def describe(error: BaseException) -> str:
    """The one line the log says about ``error``: its class and first line."""
    first_line = (str(error).strip().splitlines() or [""])[0]
    return f"{type(error).__name__}: {first_line}"[:300]
