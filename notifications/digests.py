"""Digests: a daily or weekly summary email of what a person missed.

Each person has an ``EmailPreference`` row (created by the tick for active
people who have none, with the defaults: weekly, Monday 08:00). A row's
``digest_due_at`` is when its next digest is due (UTC), worked out from the
person's local hour and weekday in their time zone (``user.time_zone``, else
``TIME_ZONE``), so it stays at 08:00 local across a change of daylight saving
time. ``digest_due_at = None`` means "work it out" (a new row, or changed
choices on the preferences page); doing so reaches back at most one period.

A digest covers exactly the span ``[digest_covered_until, now)``: when it is
handled, ``digest_covered_until`` becomes ``now`` and the next due time is
worked out, in the same transaction as the email is queued, so two digests
never cover the same moment and none is skipped. It holds

- the person's unread notifications created in the span that they may still
  see (``selectors.notifications_visible_to``), grouped by group, and
- their meetings in the next ``DIGEST_MEETING_DAYS`` days
  (``meetings_visible_to``), at their local time.

It is sent only to people who have not been in since the span began
(``User.last_seen_at``), who want email (``EmailPreference.enabled``) and
whose digest holds something; otherwise the span still advances. The email is
queued in the outbox with a key per person and span start (a retried tick
never sends it twice), in the person's language, with one-click unsubscribe
from digests (``List-Unsubscribe``) and a link to stop all email.

Cost: the tick handles people in batches of ``BATCH``, with a fixed number of
queries per batch plus, per person who has something to be told, one query
that asks the permissions what they may still see.
"""

import datetime
import zoneinfo
from itertools import groupby

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.template.loader import get_template
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from core.models import OutboundEmail
from core.outbox import emails_queue
from groups.models import WorkingGroup
from meetings import permissions as meeting_permissions
from meetings.models import Meeting

from . import selectors, unsubscribe
from .models import Digest, EmailPreference, Notification

BATCH = 200
PERIODS = {
    Digest.DAILY: datetime.timedelta(days=1),
    Digest.WEEKLY: datetime.timedelta(days=7),
}
DIGEST_MEETING_DAYS = 7


def zone_of(user) -> zoneinfo.ZoneInfo:
    """The person's time zone (the site's when unset or unknown)."""
    for name in (user.time_zone, settings.TIME_ZONE):
        if name:
            try:
                return zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                continue
    return zoneinfo.ZoneInfo("UTC")


def next_due(
    *, digest: str, hour: int, weekday: int, zone: zoneinfo.ZoneInfo, after: datetime.datetime
) -> datetime.datetime:
    """The first moment strictly after ``after`` that is ``hour``:00 local
    time in ``zone`` (for weekly digests on ``weekday``, 0 = Monday), in UTC.
    An hour that does not exist that day (the spring gap) counts as the
    moment the clocks jump over it."""
    day = after.astimezone(zone).date()
    for offset in range(9):
        date = day + datetime.timedelta(days=offset)
        if digest == Digest.WEEKLY and date.weekday() != weekday:
            continue
        local = datetime.datetime.combine(date, datetime.time(hour), tzinfo=zone)
        due = local.astimezone(datetime.UTC)
        if due > after:
            return due
    raise AssertionError("a due time always exists within 8 days")


def digests_send(*, now: datetime.datetime | None = None) -> int:
    """Periodic work (``notifications.tick``): gives everyone a digest row,
    works out due times, and handles every digest due at ``now`` (see the
    module docstring). Returns the number of digests queued. Safe to run
    twice and in several workers at once (rows are locked, ``SKIP LOCKED``)."""
    now = now or timezone.now()
    _create_missing()
    _schedule_unscheduled(now)
    queued = 0
    while True:
        with transaction.atomic():
            batch = list(
                EmailPreference.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(digest_due_at__lte=now)
                .exclude(digest=Digest.OFF)
                .select_related("user")
                .order_by("digest_due_at", "pk")[:BATCH]
            )
            if not batch:
                return queued
            queued += _handle_batch(batch, now)


def _create_missing() -> None:
    """A row with the defaults for each active person without one (two queries)."""
    missing = list(
        get_user_model()
        .objects.filter(is_active=True, email_preference__isnull=True)
        .values_list("pk", flat=True)
    )
    if missing:
        EmailPreference.objects.bulk_create(
            [EmailPreference(user_id=pk) for pk in missing], ignore_conflicts=True
        )


def _schedule_unscheduled(now: datetime.datetime) -> None:
    """Works out ``digest_due_at`` for rows that have none. The span of the
    next digest reaches back at most one period (a new row, or digests
    switched on again after a pause, starts a period before now)."""
    while True:
        with transaction.atomic():
            rows = list(
                EmailPreference.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(digest_due_at__isnull=True)
                .exclude(digest=Digest.OFF)
                .select_related("user")
                .order_by("pk")[: BATCH * 5]
            )
            if not rows:
                return
            for row in rows:
                start = now - PERIODS[row.digest]
                if row.digest_covered_until is None or row.digest_covered_until < start:
                    row.digest_covered_until = start
                row.digest_due_at = _due_after(row, now)
            EmailPreference.objects.bulk_update(rows, ["digest_covered_until", "digest_due_at"])


def _due_after(row: EmailPreference, after: datetime.datetime) -> datetime.datetime:
    return next_due(
        digest=row.digest,
        hour=row.digest_hour,
        weekday=row.digest_weekday,
        zone=zone_of(row.user),
        after=after,
    )


def _handle_batch(batch: list[EmailPreference], now: datetime.datetime) -> int:
    """Queues the digests of ``batch`` (locked rows, due) and moves their
    spans on to ``now``. Returns how many were queued."""
    for row in batch:
        if row.digest_covered_until is None:  # due set without a span: one period
            row.digest_covered_until = now - PERIODS[row.digest]
    wanted = [row for row in batch if _wants_digest(row)]
    ids = [row.user_id for row in wanted]
    candidates: dict[int, list[int]] = {}
    if wanted:
        earliest = min(row.digest_covered_until for row in wanted)
        spans = {row.user_id: row.digest_covered_until for row in wanted}
        unread = Notification.objects.filter(
            recipient_id__in=ids, read_at__isnull=True, created_at__gte=earliest, created_at__lt=now
        ).values_list("pk", "recipient_id", "created_at")
        for pk, recipient_id, created_at in unread:
            if created_at >= spans[recipient_id]:
                candidates.setdefault(recipient_id, []).append(pk)
    upcoming = set()
    if wanted:
        upcoming = set(
            Meeting.objects.filter(
                status=Meeting.Status.SCHEDULED,
                starts_at__gte=now,
                starts_at__lt=now + datetime.timedelta(days=DIGEST_MEETING_DAYS),
            ).values_list("pk", flat=True)
        )

    # Per person with something to be told: what they may still see.
    visible_notifications: dict[int, list[int]] = {}
    visible_meetings: dict[int, list[int]] = {}
    for row in wanted:
        user = row.user
        if row.user_id in candidates:
            visible_notifications[row.user_id] = list(
                selectors.notifications_visible_to(user)
                .filter(pk__in=candidates[row.user_id])
                .values_list("pk", flat=True)
            )
        if upcoming:
            visible_meetings[row.user_id] = list(
                meeting_permissions.meetings_visible_to(user)
                .filter(pk__in=upcoming)
                .values_list("pk", flat=True)
            )

    notification_ids = {pk for pks in visible_notifications.values() for pk in pks}
    meeting_ids = {pk for pks in visible_meetings.values() for pk in pks}
    notifications = (
        Notification.objects.filter(pk__in=notification_ids).select_related("actor").in_bulk()
        if notification_ids
        else {}
    )
    meetings = (
        Meeting.objects.filter(pk__in=meeting_ids).select_related("group").in_bulk()
        if meeting_ids
        else {}
    )
    group_ids = {notification.group_id for notification in notifications.values()}
    groups = WorkingGroup.objects.in_bulk(group_ids) if group_ids else {}

    emails = []
    for row in wanted:
        items = sorted(
            (notifications[pk] for pk in visible_notifications.get(row.user_id, [])),
            key=lambda n: (-n.created_at.timestamp(), -n.pk),
        )
        upcoming_meetings = sorted(
            (meetings[pk] for pk in visible_meetings.get(row.user_id, [])),
            key=lambda m: (m.starts_at, m.pk),
        )
        if items or upcoming_meetings:
            emails.append(_email(row, items, upcoming_meetings, groups, now))
    emails_queue(emails)

    for row in batch:
        row.digest_covered_until = now
        row.digest_due_at = _due_after(row, now)
    EmailPreference.objects.bulk_update(batch, ["digest_covered_until", "digest_due_at"])
    return len(emails)


def _wants_digest(row: EmailPreference) -> bool:
    """Wants email, and has not been in since the span began."""
    user = row.user
    if not (user.is_active and row.enabled and user.email):
        return False
    return user.last_seen_at is None or user.last_seen_at < row.digest_covered_until


def _email(row, items, upcoming_meetings, groups, now) -> OutboundEmail:
    """The digest of one person, in their language and time zone."""
    user = row.user
    language = user.language or settings.LANGUAGE_CODE
    by_group = []
    order = sorted(items, key=lambda n: (groups[n.group_id].name, -n.created_at.timestamp()))
    for group_id, group_items in groupby(order, key=lambda n: n.group_id):
        by_group.append((groups[group_id], list(group_items)))
    with translation.override(language), timezone.override(zone_of(user)):
        context = {
            "user": user,
            "weekly": row.digest == Digest.WEEKLY,
            "since": row.digest_covered_until,
            "groups": by_group,
            "count": len(items),
            "meetings": upcoming_meetings,
            "site_url": settings.SITE_URL,
            "unsubscribe_all": unsubscribe.url(user.pk, "all"),
            "unsubscribe_digest": unsubscribe.url(user.pk, "digest"),
        }
        if row.digest == Digest.WEEKLY:
            subject = _("Your weekly summary from the workspace")
        else:
            subject = _("Your daily summary from the workspace")
        text = get_template("notifications/email/digest.txt").render(context)
        html = get_template("notifications/email/digest.html").render(context)
    return OutboundEmail(
        key=f"digest:{user.pk}:{row.digest_covered_until.isoformat()}",
        to=user.email,
        language=language,
        subject=subject,
        text=text,
        html=html,
        headers=unsubscribe.headers(user.pk, "digest"),
        due_at=now,
    )
