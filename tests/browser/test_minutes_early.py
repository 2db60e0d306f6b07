"""Minutes in a real browser: a moderator who publishes the minutes of a
meeting that has not started yet is asked first ("publish anyway?"), the
text typed stays in the form, nothing is published until they confirm."""

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from meetings.models import Meeting

from .helpers import assert_no_browser_errors, login_with_session, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_moderator_is_asked_before_publishing_minutes_of_a_meeting_not_started(
    new_context, server, moderator, group
):
    starts_at = timezone.now() + datetime.timedelta(days=2)
    meeting = Meeting.objects.create(
        group=group,
        title="Session on fair recruitment",
        kind=Meeting.Kind.SESSION,
        starts_at=starts_at,
        ends_at=starts_at + datetime.timedelta(hours=1),
        created_by=moderator,
    )
    context = new_context()
    login_with_session(context, server, moderator)
    page = context.new_page()
    page.goto(f"{server}/meetings/{meeting.pk}/minutes/")
    page.get_by_label("Minutes").fill("## Decisions\n\n- Written ahead of time.")
    page.get_by_role("button", name="Save and publish").click()
    question = page.locator("#minutes-before-start")
    expect(question).to_contain_text("The meeting has not started yet: publish anyway?")
    expect(page.get_by_label("Minutes")).to_have_value("## Decisions\n\n- Written ahead of time.")
    shot(page, "minutes-before-start-question")
    meeting.refresh_from_db()
    assert meeting.minutes_published_at is None and meeting.minutes == ""

    question.get_by_role("button", name="Publish anyway").click()
    expect(page.get_by_text("The minutes were published to the group.")).to_be_visible()
    meeting.refresh_from_db()
    assert meeting.minutes_published_at is not None
    assert meeting.minutes.replace("\r\n", "\n") == "## Decisions\n\n- Written ahead of time."
    assert_no_browser_errors(page)
