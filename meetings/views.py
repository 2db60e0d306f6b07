"""The meeting pages: thin interfaces over permissions and services.

Meetings are looked up through ``permissions.access_meeting`` (404 for missing
and forbidden alike); people who may see a meeting but not schedule get 403;
moderators without two-factor authentication are led to turn it on first, as
on the groups pages. Times are shown and read in the viewer's time zone (the
profile's, activated by ``accounts.middleware``); calendar files carry UTC.
"""

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_POST

from groups import permissions as group_permissions
from groups.decorators import group_view, mfa_gate, moderator_view
from groups.models import GroupVisit

from . import calendar, permissions, services
from .forms import CalendarFeedForm, MeetingForm, MinutesForm
from .models import CalendarFeed, ChatRoom, Meeting
from .selectors import chat_context

PAST_PER_PAGE = 20


def _error_text(error: ValidationError) -> str:
    return " ".join(error.messages)


def _time_zone_name() -> str:
    return timezone.get_current_timezone_name()


def meeting_moderator_view(view):
    """For those who may schedule the meeting's group: Http404 for people who
    cannot see the meeting, 403 for its members; moderators without two-factor
    authentication are led to turn it on first."""

    @wraps(view)
    def wrapper(request, pk, *args, **kwargs):
        meeting = permissions.access_meeting(request.user, pk)
        permissions.check_schedule(request.user, meeting.group)
        if refused := mfa_gate(request):
            return refused
        return view(request, meeting, *args, **kwargs)

    return wrapper


def _chat(user, room: ChatRoom) -> dict:
    """The chat partial's context, and when the room takes messages."""
    context = chat_context(user, room)
    chat = context["chat"]
    window = {"room": room, "room_is_open": not chat["closed"]}
    if chat["opens_at"] is not None:
        window |= {
            "room_opens_at": chat["opens_at"],
            "room_closes_at": chat["closes_at"],
            "room_not_yet_open": timezone.now() < chat["opens_at"],
            "minutes_before": settings.MEETING_ROOM_OPENS_MINUTES_BEFORE,
            "minutes_after": settings.MEETING_ROOM_CLOSES_MINUTES_AFTER,
        }
    return {**context, **window}


# --- A group's meetings -------------------------------------------------------


@group_view
def meeting_list(request, group):
    now = timezone.now()
    # What the home page counts as newly published minutes is what comes after now.
    GroupVisit.objects.mark(request.user, group, GroupVisit.Section.MEETINGS)
    meetings = Meeting.objects.filter(group=group).only(
        "pk", "group_id", "title", "kind", "starts_at", "ends_at", "status",
        "minutes_published_at",
    )  # fmt: skip
    upcoming = meetings.filter(ends_at__gt=now).order_by("starts_at", "pk")
    past = Paginator(meetings.filter(ends_at__lte=now).order_by("-starts_at", "-pk"), PAST_PER_PAGE)
    return render(
        request,
        "meetings/meeting_list.html",
        {
            "group": group,
            "upcoming": upcoming,
            "page": past.get_page(request.GET.get("page")),
            "is_moderator": group_permissions.is_moderator(request.user, group),
            "can_schedule": permissions.can_schedule(request.user, group),
            "now": now,
            "time_zone_name": _time_zone_name(),
        },
    )


@moderator_view
def meeting_schedule(request, group):
    permissions.check_schedule(request.user, group)
    form = MeetingForm(request.POST or None, time_zone_name=_time_zone_name())
    if request.method == "POST" and form.is_valid():
        try:
            meeting = services.meeting_schedule(
                actor=request.user, group=group, data=form.cleaned_data
            )
        except ValidationError as error:
            form.add_error("ends_at" if error.code == "times" else None, _error_text(error))
        else:
            messages.success(request, _("The meeting was scheduled."))
            return redirect(meeting)
    return render(
        request,
        "meetings/meeting_form.html",
        {"group": group, "form": form, "is_moderator": True},
        status=400 if form.errors else 200,
    )


@group_view
def group_chat(request, group):
    room = services.standing_room(group)
    room.group = group
    return render(
        request,
        "meetings/group_chat.html",
        {
            "group": group,
            "is_moderator": group_permissions.is_moderator(request.user, group),
            **_chat(request.user, room),
        },
    )


# --- One meeting --------------------------------------------------------------


def meeting_detail(request, pk):
    meeting = permissions.access_meeting(request.user, pk)
    group = meeting.group
    room = services.meeting_room(meeting)
    room.meeting, room.group = meeting, group
    is_moderator = group_permissions.is_moderator(request.user, group)
    return render(
        request,
        "meetings/meeting_detail.html",
        {
            "meeting": meeting,
            "group": group,
            "is_moderator": is_moderator,
            "can_schedule": permissions.can_schedule(request.user, group),
            "can_read_minutes": permissions.can_read_minutes(request.user, meeting),
            "is_cancelled": meeting.status == Meeting.Status.CANCELLED,
            "time_zone_name": _time_zone_name(),
            **_chat(request.user, room),
        },
    )


@meeting_moderator_view
def meeting_edit(request, meeting):
    form = MeetingForm(
        request.POST or None,
        initial=MeetingForm.initial_for(meeting),
        time_zone_name=_time_zone_name(),
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.meeting_update(actor=request.user, meeting=meeting, data=form.cleaned_data)
        except ValidationError as error:
            form.add_error("ends_at" if error.code == "times" else None, _error_text(error))
        else:
            messages.success(request, _("The meeting was changed."))
            return redirect(meeting)
    return render(
        request,
        "meetings/meeting_form.html",
        {"group": meeting.group, "meeting": meeting, "form": form, "is_moderator": True},
        status=400 if form.errors else 200,
    )


@meeting_moderator_view
def meeting_cancel(request, meeting):
    if meeting.status == Meeting.Status.CANCELLED:
        messages.info(request, _("This meeting is cancelled already."))
        return redirect(meeting)
    if request.method == "POST":
        services.meeting_update(
            actor=request.user, meeting=meeting, data={"status": Meeting.Status.CANCELLED}
        )
        messages.success(request, _("The meeting was cancelled."))
        return redirect(meeting)
    return render(
        request,
        "meetings/meeting_cancel.html",
        {"meeting": meeting, "group": meeting.group, "is_moderator": True},
    )


def _minutes_page(request, meeting, form, *, status=200, ask_before_start=False):
    return render(
        request,
        "meetings/minutes_form.html",
        {
            "meeting": meeting,
            "group": meeting.group,
            "form": form,
            "is_moderator": True,
            "is_published": meeting.minutes_published_at is not None,
            "ask_before_start": ask_before_start,
        },
        status=status,
    )


@meeting_moderator_view
def minutes_edit(request, meeting):
    form = MinutesForm(request.POST or None, initial={"minutes": meeting.minutes})
    if request.method == "POST":
        if not form.is_valid():
            return _minutes_page(request, meeting, form, status=400)
        action = request.POST.get("action")
        # "publish_anyway" is the answer to the question asked below: the
        # meeting has not started yet.
        publish = action in ("publish", "publish_anyway")
        was_published = meeting.minutes_published_at is not None
        try:
            services.minutes_save(
                actor=request.user,
                meeting=meeting,
                minutes=form.cleaned_data["minutes"],
                publish=publish,
                before_start_confirmed=action == "publish_anyway",
            )
        except ValidationError as error:
            if error.code != "not_started":
                raise
            # Nothing saved: the same text comes back with the question.
            return _minutes_page(request, meeting, form, ask_before_start=True)
        if publish and not was_published:
            messages.success(request, _("The minutes were published to the group."))
        else:
            messages.success(request, _("The minutes were saved."))
        return redirect(reverse("meetings:detail", args=[meeting.pk]) + "#minutes")
    return _minutes_page(request, meeting, form)


@meeting_moderator_view
@require_POST
def minutes_transcript(request, meeting):
    """Keeps what is in the minutes field (so nothing typed is lost), then
    appends the meeting chat's transcript to the draft."""
    if "minutes" in request.POST:
        form = MinutesForm(request.POST)
        if not form.is_valid():
            return _minutes_page(request, meeting, form, status=400)
        if form.cleaned_data["minutes"] != meeting.minutes:
            meeting = services.minutes_save(
                actor=request.user, meeting=meeting, minutes=form.cleaned_data["minutes"]
            )
    try:
        services.minutes_pull_transcript(actor=request.user, meeting=meeting)
    except ValidationError as error:
        messages.error(request, _error_text(error))
    else:
        messages.success(request, _("The chat transcript was added to the minutes."))
    return redirect("meetings:minutes", pk=meeting.pk)


# --- Calendar files -----------------------------------------------------------


def _calendar_response(body: bytes, filename: str, *, attachment: bool) -> HttpResponse:
    response = HttpResponse(body, content_type=calendar.CONTENT_TYPE)
    disposition = "attachment" if attachment else "inline"
    response["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    return response


@require_GET
@cache_control(private=True, no_cache=True)
def meeting_ics(request, pk):
    meeting = permissions.access_meeting(request.user, pk)
    return _calendar_response(
        calendar.calendar_for([meeting]), f"meeting-{meeting.pk}.ics", attachment=True
    )


@login_not_required
@require_GET
@cache_control(private=True, no_cache=True)
def calendar_feed(request, token):
    """The person's feed, authorised by the secret token alone (calendar
    programs fetch it without a session): 404 for a wrong or revoked token."""
    feed = CalendarFeed.by_token(token)
    if feed is None or not feed.user.is_active:
        raise Http404
    user = feed.user
    with translation.override(user.language or translation.get_language()):
        body = calendar.calendar_for(calendar.feed_meetings(user), name=_("Workspace: my meetings"))
    return _calendar_response(body, "workspace.ics", attachment=False)


def _feed_url(token: str) -> str:
    return settings.SITE_URL + reverse("meetings:feed", kwargs={"token": token})


def calendar_feed_settings(request):
    """Create, renew or revoke one's calendar address. Only its hash is
    stored, so a new address is shown once, on the answer to the POST."""
    token = None
    status = 200
    if request.method == "POST":
        form = CalendarFeedForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("Choose what to do with your calendar address."))
            status = 400
        elif form.cleaned_data["action"] == "revoke":
            services.calendar_feed_revoke(user=request.user)
            messages.success(request, _("Your calendar address was revoked: it no longer works."))
            return redirect("meetings:calendar")
        else:
            renew = form.cleaned_data["action"] == "renew"
            token = services.calendar_feed_token(user=request.user, renew=renew)
            if token is None:
                messages.info(
                    request,
                    _("You have a calendar address already. Renew it to see a new one."),
                )
    feed = CalendarFeed.objects.filter(user=request.user).first()
    feed_url = _feed_url(token) if token else None
    return render(
        request,
        "meetings/calendar_feed.html",
        {
            "feed": feed,
            "feed_url": feed_url,
            "webcal_url": "webcal://" + feed_url.split("://", 1)[1] if feed_url else None,
        },
        status=status,
    )
