"""The notifications' periodic work, registered with ``core.periodic`` (run by
the worker's chain every ``OUTBOX_SWEEP_SECONDS``): meeting reminders, guest
expiry notices and digests. Each is idempotent and works out from the
database what is due at ``now``; tests call them (or ``tick``) directly."""

from django.utils import timezone

from . import digests, services


def meeting_reminders() -> int:
    return services.meeting_reminders_send()


def guest_expiry_notices() -> int:
    return services.guest_expiry_notices_send()


def digests_due() -> int:
    return digests.digests_send()


def tick(*, now=None) -> dict[str, int]:
    """All of it at once, for ``now`` (default: now)."""
    now = now or timezone.now()
    return {
        "meetings": services.meeting_reminders_send(now=now),
        "guests": services.guest_expiry_notices_send(now=now),
        "digests": digests.digests_send(now=now),
    }
