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
queries per batch: what each person may still see is asked of the owning
apps for the whole batch at once (``selectors.notifications_visible_among``;
only the rarer kinds of object cost a query per person who has one), and
each line and the templates are written once per language and time zone.
"""

import datetime
import zoneinfo
from itertools import groupby

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.template.loader import get_template
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.html import escape, format_html
from django.utils.translation import gettext as _

from core.models import OutboundEmail
from core.outbox import emails_queue
from groups.models import Membership
from meetings import permissions as meeting_permissions
from meetings.models import Meeting

from . import selectors, unsubscribe
from .models import Digest, EmailPreference, Kind, Notification

BATCH = 200
PERIODS = {
    Digest.DAILY: datetime.timedelta(days=1),
    Digest.WEEKLY: datetime.timedelta(days=7),
}
LONGEST = max(PERIODS.values())
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
    """Periodic work (``notifications.periodic``): gives everyone a digest row,
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
    """Works out ``digest_due_at`` for rows that have none. A new row's
    first span starts one period before now; an existing row keeps its span
    (a changed hour or frequency skips nothing), but it reaches back at most
    a week (digests switched on again after a long pause)."""
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
                if row.digest_covered_until is None:
                    row.digest_covered_until = now - PERIODS[row.digest]
                else:
                    row.digest_covered_until = max(row.digest_covered_until, now - LONGEST)
                row.digest_due_at = _due_after(row, now)
            _save_spans(rows)


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
    spans on to ``now``. Returns how many were queued, in a fixed number of
    queries (``selectors.notifications_visible_among``)."""
    for row in batch:
        if row.digest_covered_until is None:  # due set without a span: one period
            row.digest_covered_until = now - PERIODS[row.digest]
    wanted = [row for row in batch if _wants_digest(row)]
    emails = []
    if wanted:
        items, meetings = _contents(wanted, now)
        lines = _Lines(now)
        for row in wanted:
            if items.get(row.user_id) or meetings.get(row.user_id):
                emails.append(
                    _email(row, items.get(row.user_id, []), meetings.get(row.user_id, []), lines)
                )
    emails_queue(emails)
    for row in batch:
        row.digest_covered_until = now
        row.digest_due_at = _due_after(row, now)
    _save_spans(batch)
    return len(emails)


def _save_spans(rows: list[EmailPreference]) -> None:
    """Writes the rows' span and due time: one UPDATE per distinct pair
    (people of one time zone and hour share it), cheaper than bulk_update."""
    pks_by_pair: dict[tuple, list[int]] = {}
    for row in rows:
        pair = (row.digest_covered_until, row.digest_due_at)
        pks_by_pair.setdefault(pair, []).append(row.pk)
    for (covered_until, due_at), pks in pks_by_pair.items():
        EmailPreference.objects.filter(pk__in=pks).update(
            digest_covered_until=covered_until, digest_due_at=due_at
        )


def _contents(wanted: list[EmailPreference], now: datetime.datetime):
    """Per person of ``wanted``: the notifications of their span they may
    still see, and the meetings of their groups in the coming days they may
    see."""
    users = {row.user_id: row.user for row in wanted}
    spans = {row.user_id: row.digest_covered_until for row in wanted}
    unread = Notification.objects.filter(
        recipient_id__in=list(users),
        read_at__isnull=True,
        created_at__gte=min(spans.values()),
        created_at__lt=now,
    ).select_related("actor", "group")
    candidates = []
    for notification in unread:
        if notification.created_at >= spans[notification.recipient_id]:
            notification.recipient = users[notification.recipient_id]
            candidates.append(notification)
    visible = selectors.notifications_visible_among(candidates)
    items: dict[int, list[Notification]] = {}
    for notification in candidates:
        if notification.pk in visible:
            items.setdefault(notification.recipient_id, []).append(notification)

    # Meetings of the groups they belong to (whether they may see them is
    # then asked of meetings.permissions): not every group an organiser sees.
    upcoming = list(
        Meeting.objects.filter(
            status=Meeting.Status.SCHEDULED,
            starts_at__gte=now,
            starts_at__lt=now + datetime.timedelta(days=DIGEST_MEETING_DAYS),
            group__in=Membership.objects.filter(user_id__in=list(users)).values("group_id"),
        )
        .select_related("group")
        .order_by("starts_at", "pk")
    )
    meetings: dict[int, list[Meeting]] = {}
    if upcoming:
        by_pk = {meeting.pk: meeting for meeting in upcoming}
        members = set(
            Membership.objects.filter(
                user_id__in=list(users), group_id__in={m.group_id for m in upcoming}
            ).values_list("group_id", "user_id")
        )
        for meeting_id, user_id in sorted(
            meeting_permissions.meetings_audience(upcoming, users),
            key=lambda pair: (by_pk[pair[0]].starts_at, pair[0]),
        ):
            if (by_pk[meeting_id].group_id, user_id) in members:
                meetings.setdefault(user_id, []).append(by_pk[meeting_id])
    return items, meetings


def _wants_digest(row: EmailPreference) -> bool:
    """Wants email, and has not been in since the span began."""
    user = row.user
    if not (user.is_active and row.enabled and user.email):
        return False
    return user.last_seen_at is None or user.last_seen_at < row.digest_covered_until


def _email(row, items, upcoming_meetings, lines: "_Lines") -> OutboundEmail:
    """The digest of one person, in their language and time zone: their
    notifications by group (groups by name, newest first in each), then
    their meetings."""
    user = row.user
    language = user.language or settings.LANGUAGE_CODE
    zone = zone_of(user)
    weekly = row.digest == Digest.WEEKLY
    headers = unsubscribe.headers(user.pk, "digest")
    items = sorted(items, key=lambda n: (n.group.name, n.group_id, -n.created_at.timestamp()))
    text_parts, html_parts = [], []
    for _group_id, each in groupby(items, key=lambda n: n.group_id):
        group_items = list(each)
        group_lines = [lines.notification(n, language, zone) for n in group_items]
        name = group_items[0].group.name
        text_parts.append(f"\n{name}\n" + "".join(text + "\n" for text, _html in group_lines))
        html_parts.append(
            format_html('<h2 style="font-size: 1.1em;">{}</h2>\n<ul>\n', name)
            + "".join(html + "\n" for _text, html in group_lines)
            + "</ul>\n"
        )
    meeting_lines = [lines.meeting(m, language, zone) for m in upcoming_meetings]
    values = {
        "name": user.get_full_name(),
        "unsubscribe_all": unsubscribe.url(user.pk, "all"),
        # The header's address: <url> (RFC 2369).
        "unsubscribe_digest": headers["List-Unsubscribe"][1:-1],
    }
    text_frame, html_frame, subject = lines.frame(language, weekly, bool(meeting_lines))
    text = text_frame.replace(_MARK["body"], "".join(text_parts)).replace(
        _MARK["meetings"], "".join(text + "\n" for text, _html in meeting_lines)
    )
    html = html_frame.replace(_MARK["body"], "".join(html_parts)).replace(
        _MARK["meetings"], "".join(html + "\n" for _text, html in meeting_lines)
    )
    for name, value in values.items():
        text = text.replace(_MARK[name], value)
        html = html.replace(_MARK[name], escape(value))
    return OutboundEmail(
        key=f"digest:{user.pk}:{row.digest_covered_until.isoformat()}",
        to=user.email,
        language=language,
        subject=subject,
        text=text,
        html=html,
        headers=headers,
        due_at=lines.now,
    )


# The digest's templates are rendered once per language and shape, with
# these marks where each person's parts go (a mark survives HTML escaping).
_MARK = {
    name: f"\x00{name}\x00"
    for name in ("name", "body", "meetings", "unsubscribe_all", "unsubscribe_digest")
}


class _Lines:
    """The parts of the digests of one batch, each written once per language
    and time zone (many people are told of the same post or meeting): a
    (text, HTML) pair per notification or meeting, and the templates'
    frames."""

    def __init__(self, now: datetime.datetime):
        self.now = now
        self._cache: dict[tuple, tuple] = {}

    def frame(self, language: str, weekly: bool, meetings: bool) -> tuple[str, str, str]:
        """The text and HTML templates rendered with ``_MARK`` in place of
        the person's parts, and the subject."""
        key = ("frame", language, weekly, meetings)
        if key not in self._cache:
            context = {**_MARK, "weekly": weekly, "has_meetings": meetings}
            with translation.override(language):
                if weekly:
                    subject = _("Your weekly summary from the workspace")
                else:
                    subject = _("Your daily summary from the workspace")
                self._cache[key] = (
                    get_template("notifications/email/digest.txt").render(context),
                    get_template("notifications/email/digest.html").render(context),
                    subject,
                )
        return self._cache[key]

    def notification(self, n: Notification, language: str, zone) -> tuple[str, str]:
        actor = n.actor.get_full_name() if n.actor_id else ""
        key = ("n", language, zone.key, n.kind, n.subject, actor, n.url, n.created_at)
        if key not in self._cache:
            with translation.override(language):
                label = str(Kind(n.kind).label)
                when = date_format(n.created_at.astimezone(zone), "DATETIME_FORMAT")
            link = settings.SITE_URL + n.url
            by = f" ({actor})" if actor else ""
            text = f"- {label}: {n.subject}{by}, {when}\n  {link}"
            html = format_html(
                '<li><a href="{}">{}: {}</a>{}, <time datetime="{}">{}</time></li>',
                link,
                label,
                n.subject,
                by,
                n.created_at.isoformat(),
                when,
            )
            self._cache[key] = (text, html)
        return self._cache[key]

    def meeting(self, meeting: Meeting, language: str, zone) -> tuple[str, str]:
        key = ("m", language, zone.key, meeting.pk)
        if key not in self._cache:
            local = meeting.starts_at.astimezone(zone)
            with translation.override(language):
                when = f"{date_format(local, 'DATETIME_FORMAT')} {local.tzname()}"
            link = settings.SITE_URL + meeting.get_absolute_url()
            text = f"- {when}: {meeting.title} ({meeting.group.name})\n  {link}"
            html = format_html(
                '<li><time datetime="{}">{}</time>: <a href="{}">{}</a> ({})</li>',
                meeting.starts_at.isoformat(),
                when,
                link,
                meeting.title,
                meeting.group.name,
            )
            self._cache[key] = (text, html)
        return self._cache[key]
