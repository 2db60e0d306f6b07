"""The meeting pages: lists, the meeting page, scheduling and editing in the
moderator's time zone, cancelling, minutes with drafts and publishing, the
chat transcript, the standing room, and the calendar address page."""

import datetime
import zoneinfo
from urllib.parse import urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from groups.models import AuditEntry
from meetings import services
from meetings.models import CalendarFeed, ChatRoom, Meeting
from tests.fixtures.people import join

pytestmark = pytest.mark.django_db

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")


def schedule(actor, group, *, title="Session", starts_at=None, hours=1, **data):
    starts_at = starts_at or timezone.now() + datetime.timedelta(days=2)
    return services.meeting_schedule(
        actor=actor,
        group=group,
        data={
            "title": title,
            "kind": Meeting.Kind.SESSION,
            "starts_at": starts_at,
            "ends_at": starts_at + datetime.timedelta(hours=hours),
            **data,
        },
    )


@pytest.fixture
def meeting(moderator, group):
    return schedule(
        moderator,
        group,
        title="Second session",
        agenda="1. **Drafts**\n2. <script>alert(1)</script>Next steps",
        video_link="https://meet.example.org/room",
    )


def form_data(**overrides):
    return {
        "title": "Third session",
        "kind": "session",
        "starts_at": "2030-03-05T10:00",
        "ends_at": "2030-03-05T12:00",
        "video_link": "https://meet.example.org/third",
        "agenda": "Reports",
    } | overrides


def field_error(response, field):
    return response.context["form"].errors.get(field)


# --- List ---------------------------------------------------------------------


def test_meeting_list_separates_upcoming_and_past(client, member, moderator, group):
    now = timezone.now()
    schedule(moderator, group, title="Next week", starts_at=now + datetime.timedelta(days=7))
    schedule(moderator, group, title="Last week", starts_at=now - datetime.timedelta(days=7))
    webinar = schedule(
        moderator,
        group,
        title="Open webinar",
        starts_at=now + datetime.timedelta(days=9),
        kind=Meeting.Kind.WEBINAR,
    )
    cancelled = schedule(
        moderator, group, title="Called off", starts_at=now + datetime.timedelta(days=1)
    )
    services.meeting_update(
        actor=moderator, meeting=cancelled, data={"status": Meeting.Status.CANCELLED}
    )
    client.force_login(member)
    response = client.get(reverse("meetings:list", args=[group.slug]))
    assert response.status_code == 200
    assert [m.title for m in response.context["upcoming"]] == [
        "Called off",
        "Next week",
        "Open webinar",
    ]
    assert [m.title for m in response.context["page"].object_list] == ["Last week"]
    page = response.text
    assert page.index("Next week") < page.index('id="past-heading"') < page.index("Last week")
    assert "badge-webinar" in page and webinar.get_kind_display() in page
    assert "badge-cancelled" in page and "meeting-cancelled" in page
    assert "Schedule a meeting" not in page


def test_meeting_list_shows_no_other_groups_meetings(client, member, group, other_moderator):
    schedule(other_moderator, other_moderator.memberships.get().group, title="Elsewhere")
    client.force_login(member)
    page = client.get(reverse("meetings:list", args=[group.slug])).text
    assert "Elsewhere" not in page


def test_meeting_list_query_count_does_not_grow_with_meetings(
    client, moderator, group, django_assert_max_num_queries
):
    now = timezone.now()
    for day in (-3, 3):
        schedule(moderator, group, title=f"M{day}", starts_at=now + datetime.timedelta(days=day))
    client.force_login(moderator)
    url = reverse("meetings:list", args=[group.slug])
    with django_assert_max_num_queries(30) as few:
        client.get(url)
    for day in range(4, 20):
        schedule(moderator, group, title=f"M{day}", starts_at=now + datetime.timedelta(days=day))
        schedule(moderator, group, title=f"P{day}", starts_at=now - datetime.timedelta(days=day))
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(url)


# --- The meeting page ---------------------------------------------------------


def test_meeting_page_renders_agenda_through_markdown_and_sanitises_it(client, member, meeting):
    client.force_login(member)
    page = client.get(meeting.get_absolute_url()).text
    assert "<strong>Drafts</strong>" in page
    assert "<script>alert(1)</script>" not in page


def test_meeting_page_links_the_video_call_without_referrer(client, member, meeting):
    client.force_login(member)
    page = client.get(meeting.get_absolute_url()).text
    assert (
        '<a href="https://meet.example.org/room" rel="noopener noreferrer" target="_blank"' in page
    )


def test_meeting_page_shows_times_in_viewers_time_zone_with_its_name(
    client, member, moderator, group
):
    starts = datetime.datetime(2030, 6, 3, 9, 0, tzinfo=BERLIN)  # 16:00 in Tokyo
    meeting = schedule(moderator, group, starts_at=starts, hours=2)
    member.time_zone = "Asia/Tokyo"
    member.save()
    client.force_login(member)
    response = client.get(meeting.get_absolute_url())
    page = response.text
    assert "Asia/Tokyo" in page
    assert 'datetime="2030-06-03T16:00:00+09:00"' in page
    assert 'datetime="2030-06-03T18:00:00+09:00"' in page
    assert "16:00" in page and "18:00" in page


def test_meeting_page_has_the_live_chat_of_the_meetings_room(client, member, meeting):
    room = ChatRoom.objects.get(meeting=meeting)
    client.force_login(member)
    response = client.get(meeting.get_absolute_url())
    assert response.context["chat"]["room"] == room
    assert f'data-stream="{room.stream}"' in response.text
    assert "js/chat.js" in response.text


def test_meeting_page_shows_chat_with_the_rooms_window_when_closed(
    client, member, moderator, group
):
    meeting = schedule(
        moderator, group, starts_at=timezone.now() + datetime.timedelta(days=1), title="Later"
    )
    client.force_login(member)
    response = client.get(meeting.get_absolute_url())
    assert response.context["room"] == ChatRoom.objects.get(meeting=meeting)
    assert response.context["room_is_open"] is False
    assert "The chat opens 30 minutes before the meeting starts" in response.text


def test_meeting_page_says_the_chat_is_open_during_the_meeting(client, member, moderator, group):
    meeting = schedule(moderator, group, starts_at=timezone.now() - datetime.timedelta(minutes=5))
    client.force_login(member)
    response = client.get(meeting.get_absolute_url())
    assert response.context["room_is_open"] is True
    assert "Open for messages until" in response.text


def test_meeting_page_shows_cancelled_meeting_as_cancelled(client, member, moderator, meeting):
    services.meeting_update(
        actor=moderator, meeting=meeting, data={"status": Meeting.Status.CANCELLED}
    )
    client.force_login(member)
    page = client.get(meeting.get_absolute_url()).text
    assert "This meeting was cancelled." in page
    assert "its chat is closed" in page


def test_minutes_draft_hidden_from_members_shown_to_moderators(
    client, member, guest, moderator, meeting
):
    services.minutes_save(actor=moderator, meeting=meeting, minutes="Secret draft text")
    for person in (member, guest):
        client.force_login(person)
        page = client.get(meeting.get_absolute_url()).text
        assert "Secret draft text" not in page
        assert "No minutes have been published yet." in page
    client.force_login(moderator)
    page = client.get(meeting.get_absolute_url()).text
    assert "Secret draft text" in page
    assert "only moderators see it" in page


def test_published_minutes_shown_to_members(client, member, moderator, meeting):
    services.minutes_save(
        actor=moderator,
        meeting=meeting,
        minutes="We **agreed**.",
        publish=True,
        before_start_confirmed=True,
    )
    client.force_login(member)
    page = client.get(meeting.get_absolute_url()).text
    assert "We <strong>agreed</strong>." in page


def test_meeting_page_offers_moderator_actions_to_moderators_only(
    client, member, moderator, meeting
):
    edit = reverse("meetings:edit", args=[meeting.pk])
    client.force_login(member)
    assert edit not in client.get(meeting.get_absolute_url()).text
    client.force_login(moderator)
    assert edit in client.get(meeting.get_absolute_url()).text


# --- Schedule -----------------------------------------------------------------


def test_schedule_reads_times_in_the_moderators_time_zone(
    client, moderator, group, published, django_capture_on_commit_callbacks
):
    moderator.time_zone = "Asia/Tokyo"
    moderator.save()
    client.force_login(moderator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("meetings:schedule", args=[group.slug]), form_data())
    meeting = Meeting.objects.get(title="Third session")
    assert response.status_code == 302
    assert response["Location"] == meeting.get_absolute_url()
    assert meeting.starts_at == datetime.datetime(2030, 3, 5, 10, 0, tzinfo=TOKYO)
    assert meeting.ends_at == datetime.datetime(2030, 3, 5, 1, 0, tzinfo=datetime.UTC) + (
        datetime.timedelta(hours=2)
    )
    assert meeting.group == group and meeting.created_by == moderator
    assert ChatRoom.objects.filter(meeting=meeting).exists()
    assert (f"group:{group.pk}", "meeting.scheduled", {"meeting": meeting.pk}) in published


def test_schedule_form_says_which_time_zone_it_reads(client, moderator, group):
    moderator.time_zone = "America/New_York"
    moderator.save()
    client.force_login(moderator)
    page = client.get(reverse("meetings:schedule", args=[group.slug])).text
    assert "In your time zone, America/New_York." in page
    assert 'type="datetime-local"' in page


def test_schedule_refuses_end_before_start_next_to_the_field(client, moderator, group):
    client.force_login(moderator)
    response = client.post(
        reverse("meetings:schedule", args=[group.slug]),
        form_data(ends_at="2030-03-05T09:00"),
    )
    assert response.status_code == 400
    assert field_error(response, "ends_at") == ["A meeting ends after it starts."]
    assert 'id="id_ends_at_error"' in response.text
    assert not Meeting.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", ""),
        ("title", "x" * 201),
        ("kind", "party"),
        ("starts_at", "tomorrow-ish"),
        ("starts_at", ""),
        ("video_link", "javascript:alert(1)"),
        ("video_link", "ftp://example.org/x"),
        ("agenda", "x" * 20_001),
    ],
)
def test_schedule_refuses_bad_input_next_to_the_field(client, moderator, group, field, value):
    client.force_login(moderator)
    response = client.post(
        reverse("meetings:schedule", args=[group.slug]), form_data(**{field: value})
    )
    assert response.status_code == 400
    assert field_error(response, field)
    assert f'id="id_{field}_error"' in response.text
    assert not Meeting.objects.exists()


def test_schedule_refuses_a_time_that_does_not_exist_in_the_moderators_zone(
    client, moderator, group
):
    moderator.time_zone = "Europe/Berlin"
    moderator.save()
    client.force_login(moderator)
    # Clocks jump from 02:00 to 03:00 on 29 March 2026 in Berlin.
    response = client.post(
        reverse("meetings:schedule", args=[group.slug]),
        form_data(starts_at="2026-03-29T02:30", ends_at="2026-03-29T04:00"),
    )
    assert response.status_code == 400
    assert field_error(response, "starts_at")
    assert not Meeting.objects.exists()


def test_schedule_forbidden_for_members_and_guests(client, member, guest, group):
    for person in (member, guest):
        client.force_login(person)
        url = reverse("meetings:schedule", args=[group.slug])
        assert client.get(path_of(url)).status_code == 403
        assert client.post(url, form_data()).status_code == 403
    assert not Meeting.objects.exists()


def test_schedule_leads_moderator_without_two_factor_to_turn_it_on(client, make_user, group):
    from groups.models import Role

    moderator = make_user("nomfa@example.org")
    join(moderator, group, Role.MODERATOR)
    client.force_login(moderator)
    response = client.post(reverse("meetings:schedule", args=[group.slug]), form_data())
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_index")
    assert not Meeting.objects.exists()


def test_schedule_forbidden_in_an_archived_group(client, moderator, group):
    group.archived = True
    group.save()
    client.force_login(moderator)
    response = client.post(reverse("meetings:schedule", args=[group.slug]), form_data())
    assert response.status_code == 403
    assert not Meeting.objects.exists()


# --- Edit and cancel ----------------------------------------------------------


def test_edit_shows_current_times_in_the_moderators_time_zone(client, moderator, group):
    moderator.time_zone = "Asia/Tokyo"
    moderator.save()
    meeting = schedule(
        moderator, group, starts_at=datetime.datetime(2030, 6, 3, 9, 0, tzinfo=BERLIN)
    )
    client.force_login(moderator)
    page = client.get(reverse("meetings:edit", args=[meeting.pk])).text
    assert 'value="2030-06-03T16:00"' in page


def test_edit_changes_the_meeting_and_bumps_its_revision(client, moderator, meeting):
    client.force_login(moderator)
    response = client.post(reverse("meetings:edit", args=[meeting.pk]), form_data(title="Renamed"))
    assert response.status_code == 302
    meeting.refresh_from_db()
    assert meeting.title == "Renamed"
    assert meeting.revision == 1
    assert meeting.starts_at == datetime.datetime(2030, 3, 5, 10, 0, tzinfo=BERLIN)


def test_edit_refuses_end_before_start_and_changes_nothing(client, moderator, meeting):
    before = (meeting.title, meeting.starts_at, meeting.ends_at, meeting.revision)
    client.force_login(moderator)
    response = client.post(
        reverse("meetings:edit", args=[meeting.pk]),
        form_data(title="Renamed", starts_at="2030-03-05T10:00", ends_at="2030-03-05T10:00"),
    )
    assert response.status_code == 400
    assert field_error(response, "ends_at") == ["A meeting ends after it starts."]
    meeting.refresh_from_db()
    assert (meeting.title, meeting.starts_at, meeting.ends_at, meeting.revision) == before


def test_edit_forbidden_for_members(client, member, meeting):
    client.force_login(member)
    url = reverse("meetings:edit", args=[meeting.pk])
    assert client.get(path_of(url)).status_code == 403
    assert client.post(url, form_data(title="Renamed")).status_code == 403
    meeting.refresh_from_db()
    assert meeting.title == "Second session"


def test_cancel_asks_first_then_cancels(
    client, moderator, meeting, published, django_capture_on_commit_callbacks
):
    client.force_login(moderator)
    url = reverse("meetings:cancel", args=[meeting.pk])
    assert "Cancel “Second session”?" in client.get(url).text
    meeting.refresh_from_db()
    assert meeting.status == Meeting.Status.SCHEDULED
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url)
    assert response.status_code == 302
    meeting.refresh_from_db()
    assert meeting.status == Meeting.Status.CANCELLED
    assert meeting.revision == 1
    assert AuditEntry.objects.filter(action="meeting.changed").exists()
    assert any(event == "meeting.changed" for _stream, event, _payload in published)


def test_cancel_forbidden_for_members(client, member, meeting):
    client.force_login(member)
    assert client.post(reverse("meetings:cancel", args=[meeting.pk])).status_code == 403
    meeting.refresh_from_db()
    assert meeting.status == Meeting.Status.SCHEDULED


# --- Minutes ------------------------------------------------------------------


def test_minutes_saved_as_draft(client, moderator, meeting):
    client.force_login(moderator)
    response = client.post(
        reverse("meetings:minutes", args=[meeting.pk]), {"minutes": "Draft", "action": "save"}
    )
    assert response.status_code == 302
    meeting.refresh_from_db()
    assert meeting.minutes == "Draft"
    assert meeting.minutes_published_at is None


def started(meeting):
    Meeting.objects.filter(pk=meeting.pk).update(
        starts_at=timezone.now() - datetime.timedelta(hours=1),
        ends_at=timezone.now() + datetime.timedelta(hours=1),
    )
    meeting.refresh_from_db()
    return meeting


def test_minutes_published(
    client, moderator, meeting, published, django_capture_on_commit_callbacks
):
    started(meeting)
    client.force_login(moderator)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("meetings:minutes", args=[meeting.pk]),
            {"minutes": "Final", "action": "publish"},
        )
    meeting.refresh_from_db()
    assert meeting.minutes == "Final"
    assert meeting.minutes_published_at is not None
    assert any(event == "minutes.published" for _stream, event, _payload in published)


def test_minutes_publish_asks_first_and_saves_nothing_if_meeting_not_started(
    client, moderator, meeting, published, django_capture_on_commit_callbacks
):
    client.force_login(moderator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("meetings:minutes", args=[meeting.pk]),
            {"minutes": "Written ahead", "action": "publish"},
        )
    assert response.status_code == 200
    assert "The meeting has not started yet: publish anyway?" in response.text
    assert 'value="publish_anyway"' in response.text
    # The text typed comes back in the form, but nothing is stored or sent.
    assert "Written ahead" in response.text
    meeting.refresh_from_db()
    assert meeting.minutes == "" and meeting.minutes_published_at is None
    assert not any(event == "minutes.published" for _stream, event, _payload in published)


def test_minutes_published_before_start_if_confirmed(
    client, moderator, meeting, published, django_capture_on_commit_callbacks
):
    client.force_login(moderator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("meetings:minutes", args=[meeting.pk]),
            {"minutes": "Written ahead", "action": "publish_anyway"},
        )
    assert response.status_code == 302
    meeting.refresh_from_db()
    assert meeting.minutes == "Written ahead"
    assert meeting.minutes_published_at is not None
    assert any(event == "minutes.published" for _stream, event, _payload in published)


def test_minutes_refuse_overlong_text_and_change_nothing(client, moderator, meeting):
    client.force_login(moderator)
    response = client.post(
        reverse("meetings:minutes", args=[meeting.pk]),
        {"minutes": "x" * 100_001, "action": "publish"},
    )
    assert response.status_code == 400
    assert field_error(response, "minutes")
    assert 'id="id_minutes_error"' in response.text
    meeting.refresh_from_db()
    assert meeting.minutes == "" and meeting.minutes_published_at is None


def test_minutes_forbidden_for_members(client, member, meeting):
    client.force_login(member)
    url = reverse("meetings:minutes", args=[meeting.pk])
    assert client.get(path_of(url)).status_code == 403
    assert client.post(url, {"minutes": "Mine", "action": "publish"}).status_code == 403
    meeting.refresh_from_db()
    assert meeting.minutes == ""


@pytest.fixture
def chatted(moderator, member, group):
    """A meeting going on now, with two chat messages and one deleted."""
    meeting = schedule(
        moderator, group, title="Now", starts_at=timezone.now() - datetime.timedelta(minutes=10)
    )
    room = services.meeting_room(meeting)
    services.message_send(actor=member, room=room, body="First point")
    gone = services.message_send(actor=member, room=room, body="Oops")
    services.message_delete(actor=member, message=gone)
    services.message_send(actor=moderator, room=room, body="Agreed")
    return meeting


def test_transcript_pulled_into_the_draft_after_what_was_typed(client, moderator, chatted):
    client.force_login(moderator)
    response = client.post(
        reverse("meetings:transcript", args=[chatted.pk]), {"minutes": "My notes"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("meetings:minutes", args=[chatted.pk])
    chatted.refresh_from_db()
    assert chatted.minutes.startswith("My notes\n\n## Chat transcript")
    assert chatted.minutes.index("First point") < chatted.minutes.index("Agreed")
    assert "Oops" not in chatted.minutes
    assert "Mia Member" in chatted.minutes
    assert chatted.minutes_published_at is None


def test_transcript_of_an_empty_chat_says_so_and_changes_nothing(client, moderator, meeting):
    client.force_login(moderator)
    response = client.post(reverse("meetings:transcript", args=[meeting.pk]), follow=True)
    assert "The meeting&#x27;s chat has no messages." in response.text
    meeting.refresh_from_db()
    assert meeting.minutes == ""


def test_transcript_forbidden_for_members(client, member, chatted):
    client.force_login(member)
    response = client.post(reverse("meetings:transcript", args=[chatted.pk]))
    assert response.status_code == 403
    chatted.refresh_from_db()
    assert chatted.minutes == ""


# --- The group's standing room ------------------------------------------------


def test_group_chat_page_shows_the_standing_room(client, member, group):
    client.force_login(member)
    response = client.get(reverse("meetings:group_chat", args=[group.slug]))
    assert response.status_code == 200
    room = ChatRoom.objects.get(group=group, meeting=None)
    assert response.context["room"] == room
    assert response.context["room_is_open"] is True
    assert 'aria-current="page">Chat<' in response.text
    assert f'data-stream="{room.stream}"' in response.text


# --- The calendar address -----------------------------------------------------


def feed_url_of(response) -> str:
    return response.context["feed_url"]


def path_of(url: str) -> str:
    return urlsplit(url).path


def test_calendar_address_created_and_shown_once(client, member):
    client.force_login(member)
    assert "Create my calendar address" in client.get(reverse("meetings:calendar")).text
    response = client.post(reverse("meetings:calendar"), {"action": "create"})
    url = feed_url_of(response)
    assert url and url in response.text
    token = url.rsplit("/", 1)[1].removesuffix(".ics")
    assert CalendarFeed.objects.get(user=member).token_hash != token
    assert token not in client.get(reverse("meetings:calendar")).text
    assert client.get(path_of(url)).status_code == 200


def test_calendar_address_renewed_old_one_stops_working(client, member):
    client.force_login(member)
    old = feed_url_of(client.post(reverse("meetings:calendar"), {"action": "create"}))
    new = feed_url_of(client.post(reverse("meetings:calendar"), {"action": "renew"}))
    assert old != new
    client.logout()
    assert client.get(path_of(old)).status_code == 404
    assert client.get(path_of(new)).status_code == 200


def test_calendar_address_revoked(client, member):
    client.force_login(member)
    url = feed_url_of(client.post(reverse("meetings:calendar"), {"action": "create"}))
    response = client.post(reverse("meetings:calendar"), {"action": "revoke"})
    assert response.status_code == 302
    assert not CalendarFeed.objects.filter(user=member).exists()
    assert client.get(path_of(url)).status_code == 404


def test_calendar_address_not_recreated_by_a_second_create(client, member):
    client.force_login(member)
    client.post(reverse("meetings:calendar"), {"action": "create"})
    before = CalendarFeed.objects.get(user=member).token_hash
    response = client.post(reverse("meetings:calendar"), {"action": "create"})
    assert response.context["feed_url"] is None
    assert CalendarFeed.objects.get(user=member).token_hash == before


def test_calendar_address_refuses_unknown_action(client, member):
    client.force_login(member)
    response = client.post(reverse("meetings:calendar"), {"action": "steal"})
    assert response.status_code == 400
    assert not CalendarFeed.objects.exists()


def test_calendar_address_created_twice_at_once_answers_without_error(client, member, monkeypatch):
    """Two clicks on "create": the second request finds no row to lock and
    inserts after the first committed."""
    original = CalendarFeed.set_new_token

    def racing(feed):
        token = original(feed)
        if feed.pk is None:
            CalendarFeed.objects.create(user=member, token_hash="x" * 64)
        return token

    monkeypatch.setattr(CalendarFeed, "set_new_token", racing)
    client.force_login(member)
    response = client.post(reverse("meetings:calendar"), {"action": "create"})
    assert response.status_code == 200
    assert response.context["feed_url"] is None
    assert CalendarFeed.objects.get(user=member).token_hash == "x" * 64
