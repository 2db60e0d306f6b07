"""A visitor registers for a public webinar in German, confirms by the
emailed link, gets the calendar file and is let through the join link only
inside its window; a moderator sees the registration and exports it."""

import datetime
import re
import time
from pathlib import Path

import icalendar
import pytest
from django.utils import timezone
from playwright.sync_api import expect

from meetings.models import Meeting
from webinars import services
from webinars.models import Registration

from .helpers import assert_no_browser_errors, login_with_session, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def messages_to(mailbox, address, count, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in mailbox.messages() if address in m["To"]]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_visitor_registers_in_german_confirms_and_joins_inside_the_window(
    server, new_context, mailbox, group, moderator, tmp_path
):
    starts = timezone.now().replace(second=0, microsecond=0) + datetime.timedelta(days=2)
    meeting = Meeting.objects.create(
        group=group,
        title="Faire Anwerbung",
        kind=Meeting.Kind.WEBINAR,
        starts_at=starts,
        ends_at=starts + datetime.timedelta(hours=1),
        # The video call: a page of the server itself (the browser resolves
        # no other host here); its address is what must stay private.
        video_link=server + "/health/?room=secret-room-4711",
    )
    webinar = services.webinar_publish(
        actor=moderator,
        meeting=meeting,
        abstract="Was **funktioniert**?",
        presenters=[("Dr. Ada Lovelace", "Uni A")],
        capacity=30,
    )

    context = new_context(locale="de-DE", timezone_id="Europe/Berlin")
    page = context.new_page()
    page.goto(server + webinar.get_absolute_url())
    expect(page.locator("h1")).to_have_text("Faire Anwerbung")
    assert "secret-room" not in page.content()
    # The time in the visitor's zone, written by the page's script.
    for moment in page.locator("time[data-local-time]").all():
        expect(moment).not_to_contain_text("UTC")
    assert not any(c["name"] == "sessionid" for c in context.cookies())
    shot(page, "webinar-public-page")
    page.get_by_label("Ihr Name").fill("Rita Registrant")
    page.get_by_label("E-Mail-Adresse").fill("rita@example.org")
    page.get_by_label(re.compile("Ich bin einverstanden")).check()
    expect(page.get_by_label(re.compile("auf dem Laufenden"))).not_to_be_checked()
    page.get_by_role("button", name="Anmelden").click()
    expect(page.locator("h1")).to_have_text("Sehen Sie in Ihr Postfach")
    registration = Registration.objects.get()
    assert registration.language == "de" and registration.time_zone == "Europe/Berlin"
    assert registration.state == Registration.State.PENDING

    (request,) = messages_to(mailbox, "rita@example.org", 1)
    assert request["Subject"].startswith("Bitte bestätigen")
    link = re.search(r"http\S+/confirm/", request.get_body(("plain",)).get_content()).group(0)
    page.goto(link)
    page.get_by_role("button", name="Meine Anmeldung bestätigen").click()
    expect(page.locator(".message-success")).to_contain_text("Ihr Platz ist bestätigt")
    shot(page, "webinar-confirmed")
    with page.expect_download() as download:
        page.locator("a[href$='calendar.ics']").click()
    calendar = icalendar.Calendar.from_ical(Path(download.value.path()).read_bytes())
    (event,) = calendar.walk("VEVENT")
    assert event.decoded("DTSTART") == starts and calendar["METHOD"] == "REQUEST"
    confirmation = messages_to(mailbox, "rita@example.org", 2)[1]
    assert confirmation["Subject"].startswith("Sie sind angemeldet")
    assert any(p.get_content_type() == "text/calendar" for p in confirmation.iter_attachments())

    # The join link: a page that says when it opens, then the video call.
    join = server + f"/w/{registration.token}/"
    page.goto(join)
    expect(page.locator(".message-info")).to_contain_text("30 Minuten vor Beginn")
    Meeting.objects.filter(pk=meeting.pk).update(
        starts_at=timezone.now() + datetime.timedelta(minutes=10),
        ends_at=timezone.now() + datetime.timedelta(minutes=70),
    )
    page.goto(join)
    expect(page).to_have_url(meeting.video_link)
    shot(page, "webinar-joined")
    page.goto(server + webinar.get_absolute_url())
    # The stand-in video call (the health check) has no favicon.
    assert_no_browser_errors(page, expected=[r".*404.*/favicon\.ico\)"])

    # The moderator sees the registration and exports it.
    staff = new_context()
    login_with_session(staff, server, moderator)
    mod_page = staff.new_page()
    mod_page.goto(server + f"/meetings/{meeting.pk}/registrations/")
    expect(mod_page.get_by_role("cell", name="rita@example.org")).to_be_visible()
    shot(mod_page, "webinar-registrations")
    with mod_page.expect_download() as export:
        mod_page.get_by_role("link", name="Export (CSV)").click()
    text = Path(export.value.path()).read_text(encoding="utf-8-sig")
    assert "Rita Registrant,rita@example.org" in text
    assert_no_browser_errors(mod_page)
