"""Minutes (meetings.services.minutes_save): published before the meeting
has started only when the moderator confirmed it."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from meetings import services
from meetings.models import Meeting

pytestmark = pytest.mark.django_db


def schedule(moderator, group, *, starts_in: datetime.timedelta) -> Meeting:
    starts_at = timezone.now() + starts_in
    return Meeting.objects.create(
        group=group,
        title="Session",
        kind=Meeting.Kind.SESSION,
        starts_at=starts_at,
        ends_at=starts_at + datetime.timedelta(hours=1),
        created_by=moderator,
    )


def test_minutes_save_refuses_to_publish_and_saves_nothing_if_not_started(moderator, group):
    meeting = schedule(moderator, group, starts_in=datetime.timedelta(hours=2))
    with pytest.raises(ValidationError) as refused:
        services.minutes_save(actor=moderator, meeting=meeting, minutes="Ahead", publish=True)
    assert refused.value.code == "not_started"
    meeting.refresh_from_db()
    assert meeting.minutes == "" and meeting.minutes_published_at is None


def test_minutes_save_publishes_before_start_if_confirmed(moderator, group):
    meeting = schedule(moderator, group, starts_in=datetime.timedelta(hours=2))
    services.minutes_save(
        actor=moderator,
        meeting=meeting,
        minutes="Ahead",
        publish=True,
        before_start_confirmed=True,
    )
    meeting.refresh_from_db()
    assert meeting.minutes == "Ahead" and meeting.minutes_published_at is not None


def test_minutes_save_publishes_without_question_if_started(moderator, group):
    meeting = schedule(moderator, group, starts_in=-datetime.timedelta(minutes=5))
    services.minutes_save(actor=moderator, meeting=meeting, minutes="Done", publish=True)
    meeting.refresh_from_db()
    assert meeting.minutes_published_at is not None


def test_minutes_save_keeps_a_draft_of_a_meeting_not_started(moderator, group):
    meeting = schedule(moderator, group, starts_in=datetime.timedelta(days=1))
    services.minutes_save(actor=moderator, meeting=meeting, minutes="Notes")
    meeting.refresh_from_db()
    assert meeting.minutes == "Notes" and meeting.minutes_published_at is None
