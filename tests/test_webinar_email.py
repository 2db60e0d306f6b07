"""A visitor's registration for a public webinar end to end, through a real
SMTP server (aiosmtpd): the form in German, the confirmation email, the link
followed, the confirmation with its calendar file, then an update and a
cancellation of the webinar, each calendar file parsed back."""

import datetime
import re

import icalendar
import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.outbox import send_due
from meetings import services as meeting_services
from meetings.models import Meeting
from webinars import services
from webinars.models import Registration

pytestmark = pytest.mark.django_db


def calendar_of(message):
    for part in message.iter_attachments():
        if part.get_content_type() == "text/calendar":
            return icalendar.Calendar.from_ical(part.get_payload(decode=True))
    return None


def event_of(calendar):
    (event,) = calendar.walk("VEVENT")
    return event


def test_registration_and_confirmation_by_email_with_calendar_files(smtp_mailer, group, moderator):
    starts = timezone.now().replace(microsecond=0) + datetime.timedelta(days=5)
    meeting = Meeting.objects.create(
        group=group,
        title="Migration und Arbeit",
        kind=Meeting.Kind.WEBINAR,
        starts_at=starts,
        ends_at=starts + datetime.timedelta(hours=1),
        video_link="https://video.example.org/secret-room",
    )
    webinar = services.webinar_publish(
        actor=moderator, meeting=meeting, abstract="Worum es geht.", presenters=[], capacity=20
    )
    visitor = Client(headers={"Accept-Language": "de"})
    response = visitor.post(
        reverse("webinars:detail", kwargs={"pk": webinar.pk}),
        {
            "name": "Rita",
            "email": "rita@example.org",
            "consent": "on",
            "time_zone": "Europe/Berlin",
        },
    )
    assert response.status_code == 302
    send_due()
    (request,) = smtp_mailer.wait_for_count(1)
    assert request["To"] == "rita@example.org"
    assert request["Subject"].startswith("Bitte bestätigen Sie Ihre Anmeldung")
    body = request.get_body(("plain",)).get_content()
    assert "video.example.org" not in body
    link = re.search(re.escape(settings.SITE_URL) + r"(/w/[\w-]+/confirm/)", body).group(1)
    # The same email as HTML, in German: the same link behind a button.
    html = request.get_body(("html",)).get_content()
    assert '<html lang="de">' in html and "Guten Tag Rita," in html
    assert f'<a href="{settings.SITE_URL}{link}"' in html and "Anmeldung bestätigen</a>" in html
    assert "video.example.org" not in html

    assert visitor.post(link).status_code == 200
    assert Registration.objects.get().state == Registration.State.CONFIRMED
    send_due()
    confirmation = smtp_mailer.wait_for_count(2)[1]
    assert confirmation["Subject"].startswith("Sie sind angemeldet")
    html = confirmation.get_body(("html",)).get_content()
    join = re.search(r"/w/[\w-]+/", link).group(0)
    assert f'<a href="{settings.SITE_URL}{join}"' in html and "Am Webinar teilnehmen</a>" in html
    assert f"{settings.SITE_URL}{join}cancel/</a>" in html
    calendar = calendar_of(confirmation)
    assert calendar["METHOD"] == "REQUEST"
    event = event_of(calendar)
    assert event.decoded("DTSTART") == starts
    assert (
        "/w/" in str(event["LOCATION"]) and "video.example.org" not in calendar.to_ical().decode()
    )
    uid, sequence = str(event["UID"]), int(event["SEQUENCE"])

    moved = starts + datetime.timedelta(days=1)
    meeting_services.meeting_update(
        actor=moderator,
        meeting=meeting,
        data={"starts_at": moved, "ends_at": moved + datetime.timedelta(hours=1)},
    )
    send_due()
    update = event_of(calendar_of(smtp_mailer.wait_for_count(3)[2]))
    assert str(update["UID"]) == uid and int(update["SEQUENCE"]) > sequence
    assert update.decoded("DTSTART") == moved

    meeting_services.meeting_update(
        actor=moderator, meeting=meeting, data={"status": Meeting.Status.CANCELLED}
    )
    send_due()
    cancellation = smtp_mailer.wait_for_count(4)[3]
    assert cancellation["Subject"].startswith("Abgesagt")
    calendar = calendar_of(cancellation)
    assert calendar["METHOD"] == "CANCEL"
    event = event_of(calendar)
    assert str(event["UID"]) == uid and int(event["SEQUENCE"]) > int(update["SEQUENCE"])
    assert event["STATUS"] == "CANCELLED"
