"""Reads for the webinar pages."""

from django.db.models import Count
from django.utils import timezone

from meetings.models import Meeting

from . import permissions
from .models import Registration, Webinar

State = Registration.State


def places_held(webinar: Webinar) -> int:
    return webinar.registrations.filter(state__in=(State.CONFIRMED, State.OFFERED)).count()


def public_webinar_context(webinar: Webinar) -> dict:
    """What the public page of ``webinar`` shows: never the video link."""
    meeting = webinar.meeting
    held = places_held(webinar)
    return {
        "webinar": webinar,
        "meeting": meeting,
        "group": meeting.group,
        "presenters": list(webinar.presenters.all()),
        "places_left": max(webinar.capacity - held, 0),
        "is_full": held >= webinar.capacity,
        "is_cancelled": meeting.status == Meeting.Status.CANCELLED,
    }


def upcoming_public_webinars(*, group=None, limit: int = 20) -> list[Webinar]:
    """Published webinars not yet over, soonest first (of ``group`` if given),
    with their meeting and group, in one query."""
    webinars = (
        permissions.webinars_public()
        .filter(meeting__ends_at__gt=timezone.now())
        .select_related("meeting__group")
        .only(
            "pk",
            "abstract",
            "capacity",
            "published_at",
            "meeting__id",
            "meeting__title",
            "meeting__starts_at",
            "meeting__ends_at",
            "meeting__status",
            "meeting__kind",
            "meeting__group__id",
            "meeting__group__name",
            "meeting__group__slug",
        )
        .order_by("meeting__starts_at", "pk")
    )
    if group is not None:
        webinars = webinars.filter(meeting__group=group)
    return list(webinars[:limit])


def registrations_overview(webinar: Webinar) -> dict:
    """The registrations of ``webinar`` for its moderators, with counts per state."""
    counts = dict(webinar.registrations.values_list("state").annotate(n=Count("pk")).order_by())
    return {
        "registrations": list(webinar.registrations.order_by("state", "created_at", "pk")),
        "counts": [(state, label, counts.get(state, 0)) for state, label in State.choices],
        "places_held": counts.get(State.CONFIRMED, 0) + counts.get(State.OFFERED, 0),
        "attended_count": webinar.registrations.filter(attended=True).count(),
    }
