"""The calendar files parse back with ``icalendar`` and carry the right times:
a meeting scheduled by a moderator in Berlin is the same instant for a member
in New York and one in Tokyo, across the change from summer to winter time."""

import datetime
import zoneinfo
from urllib.parse import urlsplit

import icalendar
import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from groups.models import Membership, Role
from meetings import services
from meetings.calendar import meeting_uid
from meetings.models import Meeting
from tests.fixtures.people import join

pytestmark = pytest.mark.django_db

UTC = datetime.UTC
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def parse(response) -> icalendar.Calendar:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    return icalendar.Calendar.from_ical(response.content)


def events_of(response) -> dict[str, icalendar.Event]:
    return {str(event["UID"]): event for event in parse(response).walk("VEVENT")}


def ics(client, meeting) -> icalendar.Event:
    (event,) = parse(client.get(reverse("meetings:ics", args=[meeting.pk]))).walk("VEVENT")
    return event


def instant(event, name) -> datetime.datetime:
    value = event.decoded(name)
    assert value.utcoffset() == datetime.timedelta(0), "written in UTC"
    return value.astimezone(UTC)


@pytest.fixture
def berlin_moderator(moderator):
    moderator.time_zone = "Europe/Berlin"
    moderator.save()
    return moderator


@pytest.fixture
def new_yorker(make_user, group):
    user = make_user("ny@example.org", display_name="Nia York", time_zone="America/New_York")
    join(user, group)
    return user


@pytest.fixture
def tokyoite(make_user, group):
    user = make_user("tokyo@example.org", display_name="Taro Tokyo", time_zone="Asia/Tokyo")
    join(user, group)
    return user


def schedule_in_berlin(client, moderator, group, starts: str, ends: str, title: str) -> Meeting:
    """Through the page, as the moderator types it: local times in Berlin."""
    client.force_login(moderator)
    response = client.post(
        reverse("meetings:schedule", args=[group.slug]),
        {"title": title, "kind": "session", "starts_at": starts, "ends_at": ends},
    )
    assert response.status_code == 302, response.context["form"].errors
    client.logout()
    return Meeting.objects.get(title=title)


# Summer time in Berlin ends at 03:00 on 25 October 2026 (clocks go back to
# 02:00); in New York a week later, on 1 November.
DST_CASES = [
    # title, Berlin local start, end, UTC start, UTC end
    ("Summer time", "2026-10-24T10:00", "2026-10-24T12:00", (10, 24, 8, 0), (10, 24, 10, 0)),
    ("Winter time", "2026-10-25T10:00", "2026-10-25T12:00", (10, 25, 9, 0), (10, 25, 11, 0)),
    ("Across it", "2026-10-25T01:30", "2026-10-25T03:30", (10, 24, 23, 30), (10, 25, 2, 30)),
    ("New York winter", "2026-11-01T10:00", "2026-11-01T11:00", (11, 1, 9, 0), (11, 1, 10, 0)),
]  # fmt: skip


def utc(month, day, hour, minute) -> datetime.datetime:
    return datetime.datetime(2026, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(("title", "starts", "ends", "utc_start", "utc_end"), DST_CASES)
def test_ics_carries_the_same_instants_for_viewers_in_every_zone(
    client, berlin_moderator, group, new_yorker, tokyoite, title, starts, ends, utc_start, utc_end
):
    meeting = schedule_in_berlin(client, berlin_moderator, group, starts, ends, title)
    assert meeting.starts_at == utc(*utc_start)
    assert meeting.ends_at == utc(*utc_end)
    files = []
    for viewer in (new_yorker, tokyoite, berlin_moderator):
        client.force_login(viewer)
        response = client.get(reverse("meetings:ics", args=[meeting.pk]))
        event = ics(client, meeting)
        assert instant(event, "DTSTART") == meeting.starts_at
        assert instant(event, "DTEND") == meeting.ends_at
        files.append(response.content)
    # Nothing in the file depends on who downloads it.
    assert files[0] == files[1] == files[2]


def test_meeting_across_the_change_lasts_three_hours(client, berlin_moderator, group, new_yorker):
    title, starts, ends, *_utc = DST_CASES[2]
    meeting = schedule_in_berlin(client, berlin_moderator, group, starts, ends, title)
    client.force_login(new_yorker)
    event = ics(client, meeting)
    assert instant(event, "DTEND") - instant(event, "DTSTART") == datetime.timedelta(hours=3)


def test_ambiguous_local_time_is_refused_next_to_the_field(client, berlin_moderator, group):
    # 02:30 happens twice in Berlin on 25 October 2026.
    client.force_login(berlin_moderator)
    response = client.post(
        reverse("meetings:schedule", args=[group.slug]),
        {
            "title": "Twice",
            "kind": "session",
            "starts_at": "2026-10-25T02:30",
            "ends_at": "2026-10-25T04:00",
        },
    )
    assert response.status_code == 400
    assert response.context["form"].errors["starts_at"]
    assert not Meeting.objects.exists()


@pytest.mark.parametrize(
    ("case", "viewer", "local_start"),
    [
        (0, "new_yorker", "2026-10-24T04:00:00-04:00"),
        (1, "new_yorker", "2026-10-25T05:00:00-04:00"),  # Berlin changed, New York not yet
        (3, "new_yorker", "2026-11-01T04:00:00-05:00"),
        (0, "tokyoite", "2026-10-24T17:00:00+09:00"),
        (1, "tokyoite", "2026-10-25T18:00:00+09:00"),
    ],
)
def test_meeting_page_shows_the_viewers_local_time(
    client, berlin_moderator, group, request, case, viewer, local_start
):
    title, starts, ends, *_utc = DST_CASES[case]
    meeting = schedule_in_berlin(client, berlin_moderator, group, starts, ends, title)
    person = request.getfixturevalue(viewer)
    client.force_login(person)
    page = client.get(meeting.get_absolute_url()).text
    assert f'datetime="{local_start}"' in page
    assert person.time_zone in page


def test_ics_describes_the_meeting(client, moderator, member, group):
    meeting = services.meeting_schedule(
        actor=moderator,
        group=group,
        data={
            "title": "Drafts, votes; next steps",
            "kind": Meeting.Kind.WEBINAR,
            "starts_at": datetime.datetime(2030, 5, 4, 14, 0, tzinfo=BERLIN),
            "ends_at": datetime.datetime(2030, 5, 4, 15, 30, tzinfo=BERLIN),
            "agenda": "1. Welcome\n2. **Results**",
            "video_link": "https://meet.example.org/x",
        },
    )
    client.force_login(member)
    response = client.get(reverse("meetings:ics", args=[meeting.pk]))
    assert response["Content-Disposition"] == f'attachment; filename="meeting-{meeting.pk}.ics"'
    calendar = parse(response)
    assert str(calendar["VERSION"]) == "2.0"
    assert calendar["PRODID"]
    (event,) = calendar.walk("VEVENT")
    url = settings.SITE_URL + meeting.get_absolute_url()
    assert str(event["UID"]) == meeting_uid(meeting)
    assert str(event["SUMMARY"]) == "Drafts, votes; next steps"
    assert "1. Welcome\n2. **Results**" in str(event["DESCRIPTION"])
    assert url in str(event["DESCRIPTION"])
    assert str(event["URL"]) == url
    assert str(event["LOCATION"]) == "https://meet.example.org/x"
    assert event["SEQUENCE"] == 0
    assert str(event["STATUS"]) == "CONFIRMED"
    assert event.decoded("DTSTAMP")


def test_ics_keeps_its_uid_and_counts_revisions_up_to_cancelled(client, moderator, member, group):
    starts = timezone.now().replace(second=0, microsecond=0) + datetime.timedelta(days=3)
    meeting = services.meeting_schedule(
        actor=moderator,
        group=group,
        data={"title": "S", "starts_at": starts, "ends_at": starts + datetime.timedelta(hours=1)},
    )
    client.force_login(member)
    first = ics(client, meeting)
    later = starts + datetime.timedelta(hours=2)
    meeting = services.meeting_update(
        actor=moderator,
        meeting=meeting,
        data={"starts_at": later, "ends_at": later + datetime.timedelta(hours=1)},
    )
    moved = ics(client, meeting)
    services.meeting_update(
        actor=moderator, meeting=meeting, data={"status": Meeting.Status.CANCELLED}
    )
    cancelled = ics(client, meeting)
    assert str(first["UID"]) == str(moved["UID"]) == str(cancelled["UID"])
    assert [first["SEQUENCE"], moved["SEQUENCE"], cancelled["SEQUENCE"]] == [0, 1, 2]
    assert instant(moved, "DTSTART") == later
    assert str(cancelled["STATUS"]) == "CANCELLED"


# --- The personal feed --------------------------------------------------------


def meeting_in(group, moderator, title, days=5) -> Meeting:
    # Whole minutes, as the pages take them (calendar files hold whole seconds).
    starts = timezone.now().replace(second=0, microsecond=0) + datetime.timedelta(days=days)
    return services.meeting_schedule(
        actor=moderator,
        group=group,
        data={"title": title, "starts_at": starts, "ends_at": starts + datetime.timedelta(hours=1)},
    )


@pytest.fixture
def meetings(group, other_group, moderator, other_moderator):
    here = [meeting_in(group, moderator, "Here 1"), meeting_in(group, moderator, "Here 2", -20)]
    there = [meeting_in(other_group, other_moderator, "There")]
    return {"here": here, "there": there}


def feed(client, user) -> dict[str, icalendar.Event]:
    token = services.calendar_feed_token(user=user, renew=True)
    client.logout()
    response = client.get(reverse("meetings:feed", args=[token]))
    assert response["Cache-Control"].startswith("private") or "private" in response["Cache-Control"]
    return events_of(response)


def uids(meetings) -> set[str]:
    return {meeting_uid(meeting) for meeting in meetings}


def test_feed_holds_exactly_the_users_groups_meetings(client, member, meetings):
    assert set(feed(client, member)) == uids(meetings["here"])


def test_feed_covers_every_group_of_the_user(client, member, other_group, meetings):
    join(member, other_group)
    assert set(feed(client, member)) == uids(meetings["here"] + meetings["there"])


def test_feed_of_someone_in_no_group_is_empty(client, outsider, meetings):
    assert feed(client, outsider) == {}


def test_feed_loses_the_groups_of_an_expired_guest_at_once(client, guest, group, meetings):
    token = services.calendar_feed_token(user=guest)
    url = reverse("meetings:feed", args=[token])
    assert set(events_of(client.get(url))) == uids(meetings["here"])
    Membership.objects.filter(user=guest, group=group, role=Role.GUEST).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    assert events_of(client.get(url)) == {}


def test_feed_loses_the_groups_of_a_removed_member_at_once(client, member, group, meetings):
    token = services.calendar_feed_token(user=member)
    url = reverse("meetings:feed", args=[token])
    assert set(events_of(client.get(url))) == uids(meetings["here"])
    Membership.objects.filter(user=member, group=group).update(active=False)
    assert events_of(client.get(url)) == {}


def test_feed_shows_cancelled_meetings_as_cancelled(client, member, moderator, meetings):
    cancelled = meetings["here"][0]
    services.meeting_update(
        actor=moderator, meeting=cancelled, data={"status": Meeting.Status.CANCELLED}
    )
    event = feed(client, member)[meeting_uid(cancelled)]
    assert str(event["STATUS"]) == "CANCELLED"


def test_feed_times_match_the_meetings(client, member, meetings):
    events = feed(client, member)
    for meeting in meetings["here"]:
        event = events[meeting_uid(meeting)]
        assert instant(event, "DTSTART") == meeting.starts_at
        assert instant(event, "DTEND") == meeting.ends_at


def test_feed_of_a_deactivated_account_is_gone(client, member, meetings):
    token = services.calendar_feed_token(user=member)
    member.is_active = False
    member.save()
    assert client.get(reverse("meetings:feed", args=[token])).status_code == 404


def test_feed_address_shown_on_the_page_is_the_one_that_works(client, member, meetings):
    client.force_login(member)
    response = client.post(reverse("meetings:calendar"), {"action": "create"})
    address = response.context["feed_url"]
    assert address.startswith(settings.SITE_URL)
    assert response.context["webcal_url"] == "webcal://" + address.split("://", 1)[1]
    client.logout()
    assert set(events_of(client.get(urlsplit(address).path))) == uids(meetings["here"])
