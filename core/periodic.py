"""Periodic work, run by the worker's one chain (``core.tasks.sweep_outbox``).

A higher app registers a function in its ``AppConfig.ready()``::

    periodic.register("notifications.digests", digests_due)

and the chain calls it, without arguments, every ``OUTBOX_SWEEP_SECONDS``
(before it sends what is due, so that what the function queued goes out in the
same run). The chain survives a worker killed mid-run (it schedules its next
run before doing anything), so a registered function may be interrupted at any
point and is run again a little later: it must be idempotent (work out from
the database what is due, record in the same transaction that it was done)
and safe to run in two workers at once. A function that fails is logged and
tried again at the next run; it never stops the others or the outbox.

There is no second mechanism: tests call the functions themselves (their
tasks run at once, with no chain), and ``run_all`` is what one run does.
"""

import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

_jobs: dict[str, Callable[[], object]] = {}


def register(name: str, function: Callable[[], object]) -> None:
    """Runs ``function()`` on every run of the chain. Registering a name again
    replaces its function (``ready()`` may run more than once in tests)."""
    _jobs[name] = function


def registered() -> dict[str, Callable[[], object]]:
    return dict(_jobs)


def run_all() -> dict[str, object]:
    """Runs every registered function once, in the order registered; returns
    their results by name (None for one that failed, after logging it)."""
    results = {}
    for name, function in list(_jobs.items()):
        try:
            results[name] = function()
        except Exception:
            logger.exception("Periodic work %s failed; it runs again next time", name)
            results[name] = None
    return results
