"""The outbox's tasks and the periodic chain (django.tasks; run by
``manage.py db_worker``).

``send_due_emails`` is enqueued after each commit that queued email
(``core.outbox``). ``sweep_outbox`` is the one periodic chain: every
``OUTBOX_SWEEP_SECONDS`` it runs the periodic work the apps registered
(``core.periodic``: reminders, digests) and then sends what is due, which also
makes it the safety net for a lost send task (a worker killed while running it
leaves that task unfinished for good). Each run first enqueues its successor,
in the same transaction that records when it runs, so a worker killed mid-run
leaves the chain intact. The chain is started by ``sweep_ensure``: by the first
``send_due_emails`` that finds it missing or overdue, by ``manage.py
periodic_start`` and by a signed-in request now and then
(``accounts.middleware``); starting it again replaces it (the old chain's
token no longer matches, so it stops). Running any of these twice changes
nothing.
"""

import datetime
import uuid

from django.conf import settings
from django.db import transaction
from django.tasks import task
from django.utils import timezone

from . import periodic
from .models import OutboxSweep
from .outbox import send_due


@task
def send_due_emails() -> int:
    """Sends the emails that are due; restarts the sweep if it is missing."""
    sweep_ensure()
    return send_due()


@task
def sweep_outbox(token: str) -> int:
    """One run of the chain: schedules the next run, runs the registered
    periodic work (``core.periodic``), then sends what is due (returns how many
    emails it handled). Does nothing if ``token`` is not the current chain's."""
    with transaction.atomic():
        sweep = OutboxSweep.objects.select_for_update().filter(pk=1, token=token).first()
        if sweep is None:
            return 0
        _schedule(sweep, timezone.now() + _interval())
    periodic.run_all()
    return send_due()


def sweep_ensure() -> None:
    """Starts the sweep if it has never run or its next run is overdue by
    more than an interval (its task was lost). With a backend that cannot
    defer tasks (the tests' ImmediateBackend) there is no chain."""
    if not sweep_outbox.get_backend().supports_defer:
        return
    limit = timezone.now() - _interval()
    if OutboxSweep.objects.filter(pk=1, next_run_at__gte=limit).exists():
        return
    with transaction.atomic():
        sweep, _ = OutboxSweep.objects.select_for_update().get_or_create(
            pk=1, defaults={"token": "", "next_run_at": limit}
        )
        if sweep.next_run_at >= limit and sweep.token:
            return  # another worker restarted it meanwhile
        sweep.token = uuid.uuid4().hex
        _schedule(sweep, timezone.now())


def _schedule(sweep: OutboxSweep, run_at: datetime.datetime) -> None:
    sweep.next_run_at = run_at
    sweep.save(update_fields=["token", "next_run_at"])
    # The database backend writes the task row in this same transaction.
    sweep_outbox.using(run_after=run_at).enqueue(sweep.token)


def _interval() -> datetime.timedelta:
    return datetime.timedelta(seconds=settings.OUTBOX_SWEEP_SECONDS)
