"""The emails to registrants, queued in the outbox (``core.outbox``) inside the
transaction of the change, in the registrant's language, with the times in
the zone their browser gave when registering (UTC otherwise).

Emails that carry a calendar file name it in the ``X-Webinar-Calendar``
header of their row (REQUEST or CANCEL); ``compose`` builds the file when the
email leaves, from the meeting as it is then, and drops the email if the
registration was deleted meanwhile.

Calendar files: one UID per webinar for its whole life (``webinar-<meeting
pk>@host``); SEQUENCE is the meeting's revision, raised by every change of
the meeting or of the announcement, so an update replaces the entry; a
cancellation (of the webinar, or of one's own registration) is
``METHOD:CANCEL`` with ``STATUS:CANCELLED``. The entry's location is the
personal join link, never the video link.
"""

import datetime
import zoneinfo
from dataclasses import dataclass
from urllib.parse import urlsplit

import icalendar
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from core.models import OutboundEmail
from core.outbox import OutboxEmail, emails_queue
from meetings.models import Meeting

from .models import Registration

CALENDAR_HEADER = "X-Webinar-Calendar"
COMPOSE = "webinars.emails.compose"
PRODID = "-//Workspace//Webinars//EN"


@dataclass(frozen=True)
class Link:
    """A paragraph that is a link: its label (if any), then the address; in
    HTML a button named ``action`` for the one thing the email asks of them,
    the address as a link otherwise."""

    label: str
    url: str
    action: str = ""

    def __str__(self) -> str:
        return f"{self.label}\n{self.url}" if self.label else self.url


def _url(name: str, **kwargs) -> str:
    return settings.SITE_URL + reverse(name, kwargs=kwargs)


def links(registration: Registration) -> dict[str, str]:
    token = registration.token
    return {
        "confirm": _url("webinars:confirm", token=token),
        "join": _url("webinars:join", token=token),
        "cancel": _url("webinars:cancel", token=token),
        "calendar": _url("webinars:calendar", token=token),
        "page": settings.SITE_URL + registration.webinar.get_absolute_url(),
    }


def _zone(registration: Registration):
    try:
        return zoneinfo.ZoneInfo(registration.time_zone) if registration.time_zone else datetime.UTC
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return datetime.UTC


def when(registration: Registration, moment: datetime.datetime | None = None) -> str:
    """The webinar's start (or ``moment``) in the registrant's zone and language."""
    zone = _zone(registration)
    moment = timezone.localtime(moment or registration.webinar.meeting.starts_at, zone)
    return f"{date_format(moment, 'DATETIME_FORMAT')} ({getattr(zone, 'key', 'UTC')})"


def _queue(
    registration: Registration,
    *,
    subject: str,
    paragraphs: list[str | Link],
    calendar: str = "",
    key: str | None = None,
    due_at=None,
) -> None:
    """Queues one email to ``registration``: the greeting, ``paragraphs`` (a
    ``Link`` is its label and its address) and the group's name, as text and
    as HTML (the same words: ``webinars/email/registrant.html``)."""
    webinar = registration.webinar
    headers = {CALENDAR_HEADER: calendar} if calendar else {}
    greeting = _("Hello %(name)s,") % {"name": registration.name}
    group = webinar.meeting.group.name
    text = "\n\n".join([greeting, *map(str, paragraphs), "— " + group]) + "\n"
    html = render_to_string(
        "webinars/email/registrant.html",
        {
            "subject": subject,
            "greeting": greeting,
            "paragraphs": [{"link": p} if isinstance(p, Link) else {"text": p} for p in paragraphs],
            "group": group,
            "language": translation.get_language(),
        },
    )
    emails_queue(
        [
            OutboundEmail(
                key=key or "",
                to=registration.email,
                subject=subject,
                text=text,
                html=html,
                language=registration.language,
                headers=headers,
                due_at=due_at,
                compose=COMPOSE,
                ref=registration.pk,
            )
        ]
    )


def _send(registration: Registration, build, **options) -> None:
    with translation.override(registration.language or settings.LANGUAGE_CODE):
        subject, paragraphs = build()
        _queue(registration, subject=subject, paragraphs=paragraphs, **options)


def _title(registration: Registration) -> str:
    return registration.webinar.meeting.title


def _key(kind: str, registration: Registration, suffix: str = "") -> str:
    return f"webinar-{kind}-{registration.pk}-{suffix or timezone.now().timestamp()}"


def queue_confirm_link(registration: Registration) -> None:
    def build():
        link = links(registration)
        return _("Please confirm your registration: %(title)s") % {"title": _title(registration)}, [
            _(
                "Thank you for registering for the webinar “%(title)s” on %(when)s. "
                "Your registration counts once you confirm it by following this link "
                "(valid for %(hours)d hours):"
            )
            % {
                "title": _title(registration),
                "when": when(registration),
                "hours": settings.WEBINAR_CONFIRM_HOURS,
            },
            Link("", link["confirm"], action=_("Confirm my registration")),
            _("If you did not register, ignore this email: the registration is deleted."),
        ]

    _send(registration, build, key=_key("confirm", registration))


def _personal_links(registration: Registration) -> list[Link]:
    link = links(registration)
    return [
        Link(
            _("Your personal link to join (it opens %(minutes)d minutes before the start):")
            % {"minutes": settings.WEBINAR_JOIN_OPENS_MINUTES_BEFORE},
            link["join"],
            action=_("Join the webinar"),
        ),
        Link(_("To cancel your registration:"), link["cancel"]),
    ]


def queue_registered(registration: Registration) -> None:
    def build():
        return _("You are registered: %(title)s") % {"title": _title(registration)}, [
            _("Your place for the webinar “%(title)s” on %(when)s is confirmed.")
            % {"title": _title(registration), "when": when(registration)},
            *_personal_links(registration),
            _("The attached calendar file adds the webinar to your calendar."),
        ]

    _send(registration, build, calendar="REQUEST", key=_key("registered", registration))


def queue_links_again(registration: Registration) -> None:
    """Someone registered an address registered already: its links again."""
    if registration.state == Registration.State.OFFERED:
        queue_offer(registration)
        return
    if registration.state == Registration.State.WAITING:
        queue_waiting(registration)
        return
    queue_registered(registration)


def queue_waiting(registration: Registration) -> None:
    def build():
        return _("On the waiting list: %(title)s") % {"title": _title(registration)}, [
            _(
                "The webinar “%(title)s” on %(when)s is full; you are on its waiting "
                "list. If a place becomes free, we will offer it to you by email."
            )
            % {"title": _title(registration), "when": when(registration)},
            Link(_("To leave the waiting list:"), links(registration)["cancel"]),
        ]

    _send(registration, build, key=_key("waiting", registration))


def queue_offer(registration: Registration) -> None:
    def build():
        return _("A place is free for you: %(title)s") % {"title": _title(registration)}, [
            _(
                "A place has become free in the webinar “%(title)s” on %(when)s. "
                "It is yours if you take it by %(deadline)s by following this link:"
            )
            % {
                "title": _title(registration),
                "when": when(registration),
                "deadline": when(registration, registration.link_expires_at),
            },
            Link("", links(registration)["confirm"], action=_("Take the place")),
        ]

    _send(registration, build, key=_key("offer", registration))


def queue_cancelled_by_registrant(registration: Registration, *, held_place: bool) -> None:
    def build():
        return _("Registration cancelled: %(title)s") % {"title": _title(registration)}, [
            _("Your registration for the webinar “%(title)s” on %(when)s is cancelled.")
            % {"title": _title(registration), "when": when(registration)},
        ]

    _send(
        registration,
        build,
        calendar="CANCEL" if held_place else "",
        key=_key("cancelled", registration),
    )


def queue_change(registration: Registration, *, cancelled: bool) -> None:
    """The webinar moved (a calendar update) or was cancelled (a calendar
    cancellation), for one registrant."""
    meeting = registration.webinar.meeting
    holds = registration.holds_place

    def build():
        if cancelled:
            return _("Cancelled: %(title)s") % {"title": _title(registration)}, [
                _("We are sorry: the webinar “%(title)s” on %(when)s is cancelled.")
                % {"title": _title(registration), "when": when(registration)},
            ]
        return _("New time: %(title)s") % {"title": _title(registration)}, [
            _("The webinar “%(title)s” has a new time: %(when)s.")
            % {"title": _title(registration), "when": when(registration)},
            *(_personal_links(registration) if holds else []),
        ]

    calendar = ("CANCEL" if cancelled else "REQUEST") if holds else ""
    kind = "webinar-cancelled" if cancelled else "changed"
    _send(
        registration,
        build,
        calendar=calendar,
        key=_key(kind, registration, str(meeting.revision)),
    )


def reminder_key(registration: Registration, meeting: Meeting, offset: int) -> str:
    return f"webinar-reminder-{registration.pk}-{offset}-{int(meeting.starts_at.timestamp())}"


def queue_reminder(registration: Registration, *, offset: int, key: str) -> None:
    def build():
        return _("Reminder: %(title)s starts %(when)s") % {
            "title": _title(registration),
            "when": when(registration),
        }, [
            _("The webinar “%(title)s” starts on %(when)s.")
            % {"title": _title(registration), "when": when(registration)},
            *_personal_links(registration),
        ]

    _send(registration, build, key=key)


def results_url(group) -> str | None:
    """The group's published results, where the app that publishes them is
    installed (``WEBINAR_RESULTS_URL_NAME``, reversed with the group's slug as
    ``group`` or ``slug``)."""
    name = getattr(settings, "WEBINAR_RESULTS_URL_NAME", "")
    if not name:
        return None
    for argument in ("group", "slug"):
        try:
            return settings.SITE_URL + reverse(name, kwargs={argument: group.slug})
        except NoReverseMatch:
            continue
    return None


def queue_follow_up(registration: Registration) -> None:
    group = registration.webinar.meeting.group

    def build():
        paragraphs = [
            _("Thank you for your interest in the webinar “%(title)s” of the group %(group)s.")
            % {"title": _title(registration), "group": group.name},
        ]
        results = results_url(group)
        if results:
            paragraphs.append(Link(_("The group's published results:"), results))
        paragraphs.append(
            Link(
                _("Would you like to take part in the group's work? Ask to join:"),
                settings.SITE_URL + reverse("groups:join") + f"?group={group.pk}",
            )
        )
        return _("After the webinar: %(title)s") % {"title": _title(registration)}, paragraphs

    _send(registration, build, key=_key("follow-up", registration, "once"))


# --- Calendar files -----------------------------------------------------------------


def webinar_uid(meeting: Meeting) -> str:
    host = urlsplit(settings.SITE_URL).hostname or "workspace"
    return f"webinar-{meeting.pk}@{host}"


def calendar_for_registration(registration: Registration, *, method: str = "REQUEST") -> bytes:
    """The webinar as one registrant's calendar file (``REQUEST``: add or
    update; ``CANCEL``: remove)."""
    webinar = registration.webinar
    meeting = webinar.meeting
    cancelled = method == "CANCEL" or meeting.status == Meeting.Status.CANCELLED
    method = "CANCEL" if cancelled else "REQUEST"
    link = links(registration)
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method)
    event = icalendar.Event()
    event.add("uid", webinar_uid(meeting))
    event.add("dtstamp", timezone.now().astimezone(datetime.UTC))
    event.add("dtstart", meeting.starts_at.astimezone(datetime.UTC))
    event.add("dtend", meeting.ends_at.astimezone(datetime.UTC))
    event.add("summary", meeting.title)
    event.add("sequence", meeting.revision)
    event.add("url", link["page"])
    organiser = icalendar.vCalAddress(f"mailto:{_address(settings.DEFAULT_FROM_EMAIL)}")
    organiser.params["cn"] = icalendar.vText(meeting.group.name)
    event.add("organizer", organiser)
    attendee = icalendar.vCalAddress(f"mailto:{registration.email}")
    attendee.params["cn"] = icalendar.vText(registration.name)
    event.add("attendee", attendee)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    if not cancelled:
        event.add("location", link["join"])
        event.add(
            "description",
            "\n\n".join(
                [
                    webinar.abstract.strip(),
                    link["join"],
                    _("Cancel: %(link)s") % {"link": link["cancel"]},
                ]
            ),
        )
    calendar.add_component(event)
    return calendar.to_ical()


def _address(from_email: str) -> str:
    from email.utils import parseaddr

    return parseaddr(from_email)[1] or "workspace@localhost"


def compose(emails: list[list]) -> list[EmailMultiAlternatives | None]:
    """Called by the outbox when webinar emails leave (``core.outbox``: a
    chunk of emails, each its rows): the stored text, and the calendar file
    its row names, built from the meeting as it is now. Nothing is sent for
    a registration deleted meanwhile. One query for the whole chunk."""
    refs = {rows[0].ref for rows in emails if rows[0].ref}
    registrations = Registration.objects.select_related("webinar__meeting__group").in_bulk(refs)
    return [_compose_one(rows[0], registrations.get(rows[0].ref)) for rows in emails]


def _compose_one(row, registration: Registration | None) -> EmailMultiAlternatives | None:
    if registration is None:
        return None
    headers = dict(row.headers)
    method = headers.pop(CALENDAR_HEADER, "")
    message = OutboxEmail(subject=row.subject, body=row.text, headers=headers)
    if row.html:
        message.attach_alternative(row.html, "text/html")
    if method:
        with translation.override(row.language or settings.LANGUAGE_CODE):
            data = calendar_for_registration(registration, method=method)
        message.attach("webinar.ics", data, f"text/calendar; charset=utf-8; method={method}")
    return message
