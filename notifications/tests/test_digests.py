"""Digests (notifications.digests): due at the person's local hour across a
change of daylight saving time, daily and weekly, covering adjacent spans,
only for those not in since, only what they may still see, in their
language and time zone. Sending by a real SMTP server is in
tests/test_digest_email.py."""

import datetime
import zoneinfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.models import OutboundEmail
from groups.models import Membership
from meetings import services as meetings
from notifications import digests
from notifications.models import Digest, EmailPreference, Kind, Notification, TargetType
from tests.fixtures.people import join

pytestmark = pytest.mark.django_db

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
UTC = datetime.UTC


def utc(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=UTC)


def notify(user, post, at, *, kind=Kind.WATCHED_POST) -> Notification:
    """A notification of ``user`` about ``post`` written at ``at`` (as
    notify_post_created writes them)."""
    return Notification.objects.create(
        recipient=user,
        kind=kind,
        group_id=post.thread.group_id,
        actor=post.author,
        target_type=TargetType.POST,
        target_id=post.pk,
        url=post.get_absolute_url(),
        subject=post.thread.title,
        created_at=at,
    )


def post_in(group, author, title):
    from discussions import services as discussions

    thread = discussions.thread_create(actor=author, group=group, title=title, body="Body.")
    return thread.posts.get(position=1)


def preference(user, **fields) -> EmailPreference:
    row, _ = EmailPreference.objects.update_or_create(user=user, defaults=fields)
    return row


def digest_rows(user):
    return list(
        OutboundEmail.objects.filter(to=user.email, key__startswith="digest:").order_by(
            "created_at", "pk"
        )
    )


@pytest.fixture
def reader(make_user, group):
    """A member of ``group`` in Berlin who wants a daily digest at 08:00."""
    user = make_user("reader@example.org", display_name="Rita Reader", time_zone="Europe/Berlin")
    join(user, group)
    preference(user, digest=Digest.DAILY, digest_hour=8)
    return user


@pytest.fixture
def post(group, moderator):
    return post_in(group, moderator, "Labour pathways")


@pytest.mark.parametrize(
    ("after", "digest", "weekday", "due"),
    [
        # Autumn: 08:00 CEST is 06:00 UTC, 08:00 CET (from 25 October) 07:00 UTC.
        (utc(2026, 10, 24, 5, 0), Digest.DAILY, 0, utc(2026, 10, 24, 6, 0)),
        (utc(2026, 10, 24, 6, 0), Digest.DAILY, 0, utc(2026, 10, 25, 7, 0)),
        (utc(2026, 10, 25, 7, 0), Digest.DAILY, 0, utc(2026, 10, 26, 7, 0)),
        (utc(2026, 10, 18, 6, 0), Digest.WEEKLY, 6, utc(2026, 10, 25, 7, 0)),
        # Spring: 08:00 CET is 07:00 UTC, 08:00 CEST (from 28 March) 06:00 UTC.
        (utc(2027, 3, 27, 7, 0), Digest.DAILY, 0, utc(2027, 3, 28, 6, 0)),
        (utc(2027, 3, 21, 7, 0), Digest.WEEKLY, 6, utc(2027, 3, 28, 6, 0)),
        (utc(2027, 3, 22, 7, 0), Digest.WEEKLY, 0, utc(2027, 3, 29, 6, 0)),
    ],
)
def test_next_due_is_the_local_hour_across_a_change_of_daylight_saving_time(
    after, digest, weekday, due
):
    got = digests.next_due(digest=digest, hour=8, weekday=weekday, zone=BERLIN, after=after)
    assert got == due
    assert got.astimezone(BERLIN).hour == 8


def test_next_due_takes_the_moment_the_clocks_jump_over_a_missing_hour():
    got = digests.next_due(
        digest=Digest.DAILY, hour=2, weekday=0, zone=BERLIN, after=utc(2027, 3, 27, 12, 0)
    )
    assert got == utc(2027, 3, 28, 1, 0)  # 03:00 CEST, when 02:00 CET would have been


def test_daily_digests_go_out_at_8_local_before_and_after_the_autumn_change(reader, post):
    digests.digests_send(now=utc(2026, 10, 23, 12, 0))  # schedules the first one
    row = EmailPreference.objects.get(user=reader)
    assert row.digest_due_at == utc(2026, 10, 24, 6, 0)
    notify(reader, post, utc(2026, 10, 23, 20, 0))
    assert digests.digests_send(now=utc(2026, 10, 24, 5, 59)) == 0
    assert digests.digests_send(now=utc(2026, 10, 24, 6, 0)) == 1
    row.refresh_from_db()
    assert row.digest_covered_until == utc(2026, 10, 24, 6, 0)
    assert row.digest_due_at == utc(2026, 10, 25, 7, 0)  # still 08:00 in Berlin
    Notification.objects.update(read_at=None)
    other = post_in(post.thread.group, post.author, "Second thread")
    notify(reader, other, utc(2026, 10, 25, 6, 30))  # 07:30 CET
    assert digests.digests_send(now=utc(2026, 10, 25, 6, 59)) == 0
    assert digests.digests_send(now=utc(2026, 10, 25, 7, 0)) == 1
    first, second = digest_rows(reader)
    assert "Labour pathways" in first.text and "Second thread" not in first.text
    assert "Second thread" in second.text and "Labour pathways" not in second.text
    assert first.key != second.key


def test_weekly_digest_goes_out_on_its_weekday_after_the_spring_change(reader, post):
    preference(reader, digest=Digest.WEEKLY, digest_weekday=6, digest_due_at=None)
    digests.digests_send(now=utc(2027, 3, 21, 7, 30))  # Sunday, after 08:00 CET
    row = EmailPreference.objects.get(user=reader)
    assert row.digest_due_at == utc(2027, 3, 28, 6, 0)  # next Sunday 08:00 CEST
    notify(reader, post, utc(2027, 3, 25, 9, 0))
    assert digests.digests_send(now=utc(2027, 3, 28, 5, 59)) == 0
    assert digests.digests_send(now=utc(2027, 3, 28, 6, 0)) == 1
    row.refresh_from_db()
    assert row.digest_due_at == utc(2027, 4, 4, 6, 0)
    (email,) = digest_rows(reader)
    assert email.subject == "Your weekly summary from the workspace"


def test_two_digests_cover_adjacent_spans_and_a_notification_at_the_boundary_once(reader, post):
    digests.digests_send(now=utc(2026, 10, 23, 12, 0))
    boundary = utc(2026, 10, 24, 6, 0)
    notify(reader, post, boundary)
    assert digests.digests_send(now=boundary - datetime.timedelta(microseconds=1)) == 0
    # The first digest is due at the boundary but covers [.., boundary): empty.
    assert digests.digests_send(now=boundary) == 0
    assert digests.digests_send(now=utc(2026, 10, 25, 7, 0)) == 1
    assert digests.digests_send(now=utc(2026, 10, 26, 7, 0)) == 0
    (email,) = digest_rows(reader)
    assert email.text.count("Labour pathways") == 1


def test_a_missed_day_is_covered_by_the_next_digest(reader, post):
    """The worker was off for two days: the next digest covers all of it."""
    digests.digests_send(now=utc(2026, 10, 23, 12, 0))
    notify(reader, post, utc(2026, 10, 24, 12, 0))
    assert digests.digests_send(now=utc(2026, 10, 26, 10, 0)) == 1
    row = EmailPreference.objects.get(user=reader)
    assert row.digest_covered_until == utc(2026, 10, 26, 10, 0)
    assert row.digest_due_at == utc(2026, 10, 27, 7, 0)


def test_empty_digest_is_not_sent_but_the_span_moves_on(reader, post):
    digests.digests_send(now=utc(2026, 10, 23, 12, 0))
    assert digests.digests_send(now=utc(2026, 10, 24, 6, 0)) == 0
    assert digest_rows(reader) == []
    assert EmailPreference.objects.get(user=reader).digest_covered_until == utc(2026, 10, 24, 6)
    # What was read in the app meanwhile is not in it either.
    notify(reader, post, utc(2026, 10, 24, 9, 0)).__class__.objects.update(
        read_at=utc(2026, 10, 24, 10, 0)
    )
    assert digests.digests_send(now=utc(2026, 10, 25, 7, 0)) == 0


def test_digest_is_not_sent_to_a_person_who_was_in_since(reader, post):
    digests.digests_send(now=utc(2026, 10, 23, 12, 0))
    notify(reader, post, utc(2026, 10, 23, 20, 0))
    type(reader).objects.filter(pk=reader.pk).update(last_seen_at=utc(2026, 10, 23, 21, 0))
    assert digests.digests_send(now=utc(2026, 10, 24, 6, 0)) == 0
    row = EmailPreference.objects.get(user=reader)
    assert row.digest_covered_until == utc(2026, 10, 24, 6, 0)
    # Not in since then: the next one is sent.
    notify(reader, post_in(post.thread.group, post.author, "Later"), utc(2026, 10, 24, 9))
    assert digests.digests_send(now=utc(2026, 10, 25, 7, 0)) == 1


def test_digest_is_not_sent_if_email_is_off(reader, post):
    preference(reader, enabled=False)
    digests.digests_send(now=utc(2026, 10, 23, 12, 0))
    notify(reader, post, utc(2026, 10, 23, 20, 0))
    assert digests.digests_send(now=utc(2026, 10, 24, 6, 0)) == 0
    assert EmailPreference.objects.get(user=reader).digest_due_at == utc(2026, 10, 25, 7)


def test_digest_leaves_out_a_group_the_person_was_removed_from(
    reader, post, other_group, other_moderator
):
    membership = join(reader, other_group)
    elsewhere = post_in(other_group, other_moderator, "Elsewhere thread")
    digests.digests_send(now=utc(2026, 10, 23, 12, 0))
    notify(reader, post, utc(2026, 10, 23, 20, 0))
    notify(reader, elsewhere, utc(2026, 10, 23, 21, 0))
    Membership.objects.filter(pk=membership.pk).update(active=False)
    assert digests.digests_send(now=utc(2026, 10, 24, 6, 0)) == 1
    (email,) = digest_rows(reader)
    assert "Labour pathways" in email.text and "Fair migration" in email.text
    assert "Elsewhere" not in email.text and "Future of migration" not in email.text
    assert "Elsewhere" not in email.html


def test_digest_groups_by_group_and_lists_upcoming_meetings_in_the_persons_zone(
    make_user, group, other_group, moderator, other_moderator
):
    person = make_user("ny@example.org", display_name="Ned York", time_zone="America/New_York")
    join(person, group)
    join(person, other_group)
    preference(person, digest=Digest.DAILY, digest_hour=8)
    now = timezone.now()
    digests.digests_send(now=now - datetime.timedelta(days=2))
    notify(person, post_in(group, moderator, "Alpha thread"), now - datetime.timedelta(hours=30))
    notify(
        person,
        post_in(other_group, other_moderator, "Beta thread"),
        now - datetime.timedelta(hours=29),
    )
    # The next 14:00 UTC at least a day away, in winter: 09:00 in New York.
    starts = (now + datetime.timedelta(days=2)).replace(hour=14, minute=0, second=0, microsecond=0)
    meetings.meeting_schedule(
        actor=moderator,
        group=group,
        data={
            "title": "Plenary",
            "starts_at": starts,
            "ends_at": starts + datetime.timedelta(hours=1),
        },
    )
    far = starts + datetime.timedelta(days=8)
    meetings.meeting_schedule(
        actor=moderator,
        group=group,
        data={"title": "Far away", "starts_at": far, "ends_at": far + datetime.timedelta(hours=1)},
    )
    Notification.objects.filter(kind=Kind.MEETING_SCHEDULED).delete()
    assert digests.digests_send(now=now) == 1
    (email,) = digest_rows(person)
    text = email.text
    assert (
        text.index("Fair migration")
        < text.index("Alpha thread")
        < text.index("Future of migration")
        < text.index("Beta thread")
    )
    assert "Plenary" in text and "Far away" not in text
    assert "09:00 EST" in text or "09:00 EDT" in text
    assert email.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/unsubscribe/" in email.headers["List-Unsubscribe"]


def test_digest_with_only_upcoming_meetings_is_sent(reader, moderator, group):
    now = timezone.now()
    digests.digests_send(now=now - datetime.timedelta(days=2))
    starts = now + datetime.timedelta(days=1)
    meetings.meeting_schedule(
        actor=moderator,
        group=group,
        data={
            "title": "Plenary",
            "starts_at": starts,
            "ends_at": starts + datetime.timedelta(hours=1),
        },
    )
    Notification.objects.all().delete()
    assert digests.digests_send(now=now) == 1


def test_digest_speaks_german(reader, post):
    type(reader).objects.filter(pk=reader.pk).update(language="de")
    digests.digests_send(now=utc(2026, 10, 23, 12, 0))
    notify(reader, post, utc(2026, 10, 23, 20, 0))
    digests.digests_send(now=utc(2026, 10, 24, 6, 0))
    (email,) = digest_rows(reader)
    assert email.language == "de"
    assert email.subject == "Ihre tägliche Zusammenfassung aus dem Workspace"
    assert "Guten Tag Rita Reader," in email.text
    assert "Neuer Beitrag in einer beobachteten Diskussion: Labour pathways" in email.text
    assert "23. Okt. 2026, 22:00" in email.text  # Berlin time, German format


def test_digest_runs_twice_at_the_same_moment_and_queues_once(reader, post):
    digests.digests_send(now=utc(2026, 10, 23, 12, 0))
    start = EmailPreference.objects.get(user=reader).digest_covered_until
    notify(reader, post, utc(2026, 10, 23, 20, 0))
    assert digests.digests_send(now=utc(2026, 10, 24, 6, 0)) == 1
    assert digests.digests_send(now=utc(2026, 10, 24, 6, 0)) == 0
    # A span handled again (a retried tick that lost its update) has the same key.
    EmailPreference.objects.filter(user=reader).update(
        digest_covered_until=start, digest_due_at=utc(2026, 10, 24, 6, 0)
    )
    digests.digests_send(now=utc(2026, 10, 24, 6, 1))
    assert len(digest_rows(reader)) == 1


def test_people_without_a_row_get_the_weekly_default_at_8_on_monday(make_user, group):
    person = make_user("new@example.org", time_zone="Europe/Berlin")
    join(person, group)
    digests.digests_send(now=utc(2026, 10, 21, 12, 0))  # a Wednesday
    row = EmailPreference.objects.get(user=person)
    assert row.digest == Digest.WEEKLY
    assert row.digest_due_at == utc(2026, 10, 26, 7, 0)  # Monday 08:00 CET
    assert row.digest_covered_until == utc(2026, 10, 14, 12, 0)  # one week back


def test_digest_due_none_is_worked_out_again_keeping_the_span(reader):
    digests.digests_send(now=utc(2026, 10, 23, 12, 0))
    digests.digests_send(now=utc(2026, 10, 24, 6, 0))
    # The preferences page changes the hour and clears the due time.
    preference(reader, digest_hour=18, digest_due_at=None)
    digests.digests_send(now=utc(2026, 10, 24, 9, 0))
    row = EmailPreference.objects.get(user=reader)
    assert row.digest_due_at == utc(2026, 10, 24, 16, 0)
    assert row.digest_covered_until == utc(2026, 10, 24, 6, 0)


def test_digest_queries_do_not_grow_with_the_people_who_have_nothing(make_user, group):
    def run(count):
        for _ in range(count):
            join(make_user(), group)
        EmailPreference.objects.update(digest_due_at=None)
        digests.digests_send(now=utc(2026, 10, 1, 12, 0))
        EmailPreference.objects.update(digest_due_at=utc(2026, 10, 1, 12, 0))
        with CaptureQueriesContext(connection) as queries:
            digests.digests_send(now=utc(2026, 10, 1, 13, 0))
        return len(queries)

    assert run(2) == run(10)


def test_digest_html_escapes_what_people_wrote(reader, group, make_user):
    author = make_user("odd@example.org", display_name="<i>Odd</i>")
    join(author, group)
    odd = post_in(group, author, "Rules <b>& exceptions</b>")
    digests.digests_send(now=utc(2026, 10, 23, 12, 0))
    notify(reader, odd, utc(2026, 10, 23, 20, 0))
    type(reader).objects.filter(pk=reader.pk).update(display_name="Rita <Reader>")
    digests.digests_send(now=utc(2026, 10, 24, 6, 0))
    (email,) = digest_rows(reader)
    assert "Rules &lt;b&gt;&amp; exceptions&lt;/b&gt;" in email.html
    assert "(&lt;i&gt;Odd&lt;/i&gt;)" in email.html
    assert "Rita &lt;Reader&gt;" in email.html
    assert "<b>" not in email.html and "<i>" not in email.html
    assert "Rules <b>& exceptions</b>" in email.text  # plain text as written


def test_digest_queries_do_not_grow_with_the_people_told_of_the_same_things(
    make_user, group, moderator, post
):
    now = timezone.now()
    starts = now + datetime.timedelta(days=1)
    meetings.meeting_schedule(
        actor=moderator,
        group=group,
        data={
            "title": "Plenary",
            "starts_at": starts,
            "ends_at": starts + datetime.timedelta(hours=1),
        },
    )

    def run(count):
        OutboundEmail.objects.all().delete()
        people = [make_user() for _ in range(count)]
        for person in people:
            join(person, group)
        digests.digests_send(now=now - datetime.timedelta(days=8))
        for person in people:
            notify(person, post, now - datetime.timedelta(hours=1))
        EmailPreference.objects.update(
            digest_covered_until=now - datetime.timedelta(days=1), digest_due_at=now
        )
        with CaptureQueriesContext(connection) as queries:
            queued = digests.digests_send(now=now)
        assert queued == EmailPreference.objects.filter(user__memberships__group=group).count()
        return len(queries)

    assert run(2) == run(10)


def test_switching_from_weekly_to_daily_skips_no_day(reader, post):
    preference(reader, digest=Digest.WEEKLY, digest_weekday=0, digest_due_at=None)
    digests.digests_send(now=utc(2026, 10, 18, 12, 0))
    digests.digests_send(now=utc(2026, 10, 19, 7, 0))  # Monday's weekly digest
    notify(reader, post, utc(2026, 10, 20, 9, 0))  # Tuesday
    # On Thursday the person switches to daily digests.
    preference(reader, digest=Digest.DAILY, digest_due_at=None)
    digests.digests_send(now=utc(2026, 10, 22, 12, 0))
    row = EmailPreference.objects.get(user=reader)
    assert row.digest_covered_until == utc(2026, 10, 19, 7, 0)
    assert digests.digests_send(now=utc(2026, 10, 23, 6, 0)) == 1
    (email,) = digest_rows(reader)
    assert "Labour pathways" in email.text


def test_digests_switched_on_after_a_long_pause_reach_back_a_week(reader, post):
    digests.digests_send(now=utc(2026, 6, 1, 12, 0))
    digests.digests_send(now=utc(2026, 6, 2, 6, 0))
    preference(reader, digest=Digest.OFF)
    notify(reader, post, utc(2026, 7, 1, 9, 0))  # while off: never in a digest
    preference(reader, digest=Digest.DAILY, digest_due_at=None)
    digests.digests_send(now=utc(2026, 10, 22, 12, 0))
    row = EmailPreference.objects.get(user=reader)
    assert row.digest_covered_until == utc(2026, 10, 15, 12, 0)
    assert digests.digests_send(now=utc(2026, 10, 23, 6, 0)) == 0
