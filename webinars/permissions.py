"""Who may see and do what with public webinars; built on meetings.permissions
(publishing a webinar is scheduling its meeting: the group's moderators)."""

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from meetings import permissions as meeting_permissions
from meetings.models import Meeting

from .models import Registration, Webinar


def webinars_public() -> QuerySet[Webinar]:
    """The webinars anyone may see: published, of a group not archived.
    Nothing else of the meeting is public but its title, times and status."""
    return Webinar.objects.filter(published_at__isnull=False, meeting__group__archived=False)


def access_public_webinar(pk) -> Webinar:
    """A public webinar with its meeting and group; Http404 otherwise."""
    webinar = webinars_public().select_related("meeting__group").filter(pk=pk).first()
    if webinar is None:
        raise Http404
    return webinar


def can_publish(user, meeting: Meeting) -> bool:
    """Publish a webinar meeting, change its announcement, see and export its
    registrations, mark attendance: those who may schedule its group's
    meetings (moderators; ``meetings.permissions.can_schedule``)."""
    return meeting.kind == Meeting.Kind.WEBINAR and meeting_permissions.can_schedule(
        user, meeting.group
    )


def check_publish(user, meeting: Meeting) -> None:
    """PermissionDenied unless ``can_publish``."""
    if not can_publish(user, meeting):
        raise PermissionDenied


def access_meeting_to_publish(user, pk) -> Meeting:
    """The meeting ``pk`` for ``can_publish``: Http404 for people who cannot
    see it (and for a working session: there is no webinar to manage), 403
    for those who see it but may not publish."""
    meeting = meeting_permissions.access_meeting(user, pk)
    if meeting.kind != Meeting.Kind.WEBINAR:
        raise Http404
    check_publish(user, meeting)
    return meeting


def registration_by_token(token: str) -> Registration | None:
    """The registration whose personal links carry ``token`` (with its webinar,
    meeting and group), or None. The token is the only credential."""
    if not isinstance(token, str) or not 20 <= len(token) <= 64:
        return None
    return (
        Registration.objects.select_related("webinar__meeting__group").filter(token=token).first()
    )
