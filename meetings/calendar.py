"""Calendar files (RFC 5545) for meetings, built with ``icalendar``.

Times are written in UTC: every calendar program shows them in its own
zone, and nothing depends on the zone database of the program reading them.
Each meeting keeps one UID for its whole life; its SEQUENCE is the meeting's
revision, so a changed or cancelled meeting replaces the entry it had.
"""

import datetime
from collections.abc import Iterable
from urllib.parse import urlsplit

import icalendar
from django.conf import settings
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from .models import Meeting
from .permissions import meetings_visible_to

PRODID = "-//Workspace//Meetings//EN"
CONTENT_TYPE = "text/calendar; charset=utf-8"


def _utc(moment: datetime.datetime) -> datetime.datetime:
    return moment.astimezone(datetime.UTC)


def meeting_uid(meeting: Meeting) -> str:
    """Stable for the meeting's whole life, and unique to this installation."""
    host = urlsplit(settings.SITE_URL).hostname or "workspace"
    return f"meeting-{meeting.pk}@{host}"


def meeting_url(meeting: Meeting) -> str:
    return settings.SITE_URL + meeting.get_absolute_url()


def meeting_event(meeting: Meeting) -> icalendar.Event:
    url = meeting_url(meeting)
    parts = [meeting.group.name, meeting.agenda.strip()]
    if meeting.video_link:
        parts.append(_("Video: %(link)s") % {"link": meeting.video_link})
    parts.append(url)
    event = icalendar.Event()
    event.add("uid", meeting_uid(meeting))
    event.add("dtstamp", _utc(meeting.updated_at))
    event.add("created", _utc(meeting.created_at))
    event.add("last-modified", _utc(meeting.updated_at))
    event.add("dtstart", _utc(meeting.starts_at))
    event.add("dtend", _utc(meeting.ends_at))
    event.add("summary", meeting.title)
    event.add("description", "\n\n".join(part for part in parts if part))
    event.add("url", url)
    if meeting.video_link:
        event.add("location", meeting.video_link)
    event.add("categories", [meeting.get_kind_display()])
    event.add("sequence", meeting.revision)
    cancelled = meeting.status == Meeting.Status.CANCELLED
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("transp", "TRANSPARENT" if cancelled else "OPAQUE")
    return event


def calendar_for(meetings: Iterable[Meeting], *, name: str | None = None) -> bytes:
    """The meetings as one calendar file; ``name`` titles a subscribed feed."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    if name:
        calendar.add("name", name)
        calendar.add("x-wr-calname", name)
        calendar.add(
            "refresh-interval", datetime.timedelta(hours=1), parameters={"VALUE": "DURATION"}
        )
        calendar.add("x-published-ttl", datetime.timedelta(hours=1))
    for meeting in meetings:
        calendar.add_component(meeting_event(meeting))
    return calendar.to_ical()


def feed_meetings(user) -> QuerySet[Meeting]:
    """Every meeting of every group the user can see now: access that ended
    (an expired guest, a removed member) takes its meetings out of the feed."""
    return meetings_visible_to(user).select_related("group").order_by("starts_at", "pk")
