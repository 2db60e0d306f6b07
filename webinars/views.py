"""Public webinar pages and registrants' personal links (no sign-in), and the
moderators' pages (publish, registrations, export, attendance).

The public views never touch the session or messages (a visitor gets no
session cookie; the registration and confirmation forms set the CSRF cookie
only), never show the video link, and answer alike whether or not an
address is registered. Personal links carry the registration's token; an
unknown token gets a 404 page that says so.
"""

import csv
from functools import wraps

from allauth.account.adapter import get_adapter as get_account_adapter
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from core import public_cache, ratelimit
from groups.decorators import mfa_gate
from meetings.models import Meeting

from . import emails, permissions, selectors, services
from .forms import AttendanceForm, PublishForm, RegistrationForm
from .models import Registration, Webinar

State = Registration.State


def _client_ip(request) -> str:
    # allauth's adapter knows the proxy setting (ALLAUTH_TRUSTED_PROXY_COUNT).
    return get_account_adapter(request).get_client_ip(request)


def _private(response: HttpResponse) -> HttpResponse:
    """A page reached by a personal link: not stored, and the link (its
    token) not passed on to the next site."""
    # Not "no-referrer": browsers then send "Origin: null" with the
    # page's own forms, which CSRF protection refuses.
    response["Referrer-Policy"] = "same-origin"
    response["Cache-Control"] = "no-store, private"
    return response


# --- The public page and registration ------------------------------------------------


@login_not_required
def webinar_detail(request, pk):
    """The webinar's public page with its registration form; for visitors
    served from the public pages' cache (no query when stored)."""
    if request.method != "POST":
        return public_cache.serve(request, _webinar_page, pk)
    webinar = permissions.access_public_webinar(pk)
    form = RegistrationForm(request.POST)
    status = 400
    limited = None
    if not ratelimit.hit(
        f"webinar-ip:{_client_ip(request)}", settings.WEBINAR_REGISTER_IP_RATE_LIMIT
    ):
        limited, status = "ip", 429
    elif form.is_valid():
        data = form.cleaned_data
        if data["website"]:  # the honeypot stays empty for people
            return redirect("webinars:registered", pk=webinar.pk)
        if not ratelimit.hit(
            f"webinar-email:{data['email'].strip().lower()}",
            settings.WEBINAR_REGISTER_EMAIL_RATE_LIMIT,
        ):
            limited, status = "email", 429
        else:
            try:
                services.registration_create(
                    webinar=webinar,
                    name=data["name"],
                    email=data["email"],
                    affiliation=data["affiliation"],
                    keep_informed=data["keep_informed"],
                    language=translation.get_language() or settings.LANGUAGE_CODE,
                    time_zone=data["time_zone"],
                )
            except ValidationError as error:
                form.add_error(None, " ".join(error.messages))
            else:
                return redirect("webinars:registered", pk=webinar.pk)
    template, context, _seconds = _webinar_page(request, None, pk, webinar=webinar, form=form)
    return render(request, template, {**context, "rate_limited": limited}, status=status)


def _webinar_page(request, csrf_token, pk, *, webinar=None, form=None):
    """The page for ``core.public_cache.serve``: 404 unless the webinar is
    public. A stored page stays true until registration closes at the start
    (every other change of what it shows calls ``public.changed``)."""
    webinar = webinar or permissions.access_public_webinar(pk)
    closed = services.registration_refusal(webinar)
    context = {
        **selectors.public_webinar_context(webinar),
        "form": form or RegistrationForm(),
        "rate_limited": None,
        "closed": closed,
    }
    if csrf_token is not None:
        context["csrf_token"] = csrf_token
    seconds = None if closed else (webinar.meeting.starts_at - timezone.now()).total_seconds()
    return "webinars/webinar_detail.html", context, seconds


@login_not_required
def registered(request, pk):
    webinar = permissions.access_public_webinar(pk)
    return render(
        request,
        "webinars/registered.html",
        {"webinar": webinar, "meeting": webinar.meeting, "hours": settings.WEBINAR_CONFIRM_HOURS},
    )


@login_not_required
def privacy(request):
    return render(
        request,
        "webinars/privacy.html",
        {
            "version": settings.WEBINAR_PRIVACY_NOTICE_VERSION,
            "retention_days": settings.WEBINAR_RETENTION_DAYS,
            "unconfirmed_hours": settings.WEBINAR_UNCONFIRMED_DELETE_HOURS,
        },
    )


# --- Personal links ------------------------------------------------------------------


def personal_link(view):
    """Looks the registration up by its token: a 404 page that says the link
    is not (or no longer) valid otherwise."""

    @wraps(view)
    def wrapper(request, token, *args, **kwargs):
        registration = permissions.registration_by_token(token)
        if registration is None:
            return _private(render(request, "webinars/link_invalid.html", status=404))
        return _private(view(request, registration, *args, **kwargs))

    return login_not_required(never_cache(wrapper))


def _link_context(registration: Registration) -> dict:
    meeting = registration.webinar.meeting
    opens, closes = registration.join_window()
    return {
        "registration": registration,
        "webinar": registration.webinar,
        "meeting": meeting,
        "join_opens_at": opens,
        "join_closes_at": closes,
        "is_cancelled": meeting.status == Meeting.Status.CANCELLED,
        "link_expired": registration.link_expires_at is not None
        and timezone.now() > registration.link_expires_at,
    }


@personal_link
def confirm(request, registration):
    error = None
    if request.method == "POST":
        try:
            registration = services.registration_confirm(registration=registration)
        except ValidationError as refusal:
            error = " ".join(refusal.messages)
    return render(
        request,
        "webinars/confirm.html",
        {**_link_context(registration), "error": error},
        status=400 if error else 200,
    )


@personal_link
def join(request, registration):
    """Redirects to the video call from ``WEBINAR_JOIN_OPENS_MINUTES_BEFORE``
    before the start until the end, for a confirmed registration of a
    webinar that takes place; otherwise says when it opens or why not."""
    meeting = registration.webinar.meeting
    opens, closes = registration.join_window()
    now = timezone.now()
    if (
        registration.state == State.CONFIRMED
        and meeting.status == Meeting.Status.SCHEDULED
        and meeting.video_link
        and opens <= now <= closes
    ):
        return redirect(meeting.video_link)
    context = _link_context(registration) | {
        "not_yet": now < opens,
        "over": now > closes,
        "no_link": not meeting.video_link,
    }
    return render(request, "webinars/join.html", context)


@personal_link
def cancel(request, registration):
    error = None
    done = False
    if request.method == "POST":
        try:
            registration = services.registration_cancel(registration=registration)
            done = True
        except ValidationError as refusal:
            error = " ".join(refusal.messages)
    return render(
        request,
        "webinars/cancel.html",
        {**_link_context(registration), "error": error, "done": done},
        status=400 if error else 200,
    )


@personal_link
def calendar(request, registration):
    if registration.state == State.CONFIRMED:
        method = "REQUEST"
    elif registration.state == State.CANCELLED and registration.confirmed_at is not None:
        method = "CANCEL"
    else:
        raise Http404
    data = emails.calendar_for_registration(registration, method=method)
    response = HttpResponse(data, content_type=f"text/calendar; charset=utf-8; method={method}")
    response["Content-Disposition"] = 'attachment; filename="webinar.ics"'
    return response


# --- Moderators ----------------------------------------------------------------------


def webinar_moderator_view(view):
    """For those who may publish the webinar meeting ``pk``
    (``permissions.access_meeting_to_publish``); moderators without
    two-factor authentication are led to turn it on first."""

    @wraps(view)
    def wrapper(request, pk, *args, **kwargs):
        meeting = permissions.access_meeting_to_publish(request.user, pk)
        if refused := mfa_gate(request):
            return refused
        return view(request, meeting, *args, **kwargs)

    return wrapper


@webinar_moderator_view
def publish(request, meeting):
    webinar = Webinar.objects.filter(meeting=meeting).prefetch_related("presenters").first()
    form = PublishForm(request.POST or None, initial=PublishForm.initial_for(webinar))
    if request.method == "POST" and form.is_valid():
        try:
            webinar = services.webinar_publish(
                actor=request.user,
                meeting=meeting,
                abstract=form.cleaned_data["abstract"],
                presenters=form.cleaned_data["presenters"],
                capacity=form.cleaned_data["capacity"],
            )
        except ValidationError as error:
            form.add_error("capacity" if error.code == "capacity" else None, error.messages[0])
        else:
            messages.success(request, _("The webinar is published."))
            if webinar.presenters_invited:
                messages.info(
                    request,
                    _("Invited as guests of the group: %(emails)s")
                    % {"emails": ", ".join(webinar.presenters_invited)},
                )
            return redirect("webinars:registrations", pk=meeting.pk)
    return render(
        request,
        "webinars/publish.html",
        {"meeting": meeting, "group": meeting.group, "webinar": webinar, "form": form},
        status=400 if form.errors else 200,
    )


@webinar_moderator_view
def unpublish(request, meeting):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    webinar = Webinar.objects.filter(meeting=meeting).first()
    if webinar is None:
        raise Http404
    try:
        services.webinar_unpublish(actor=request.user, webinar=webinar)
    except ValidationError as error:
        messages.error(request, error.messages[0])
    else:
        messages.success(request, _("The public page is taken down."))
    return redirect("webinars:publish", pk=meeting.pk)


@webinar_moderator_view
def registrations(request, meeting):
    webinar = Webinar.objects.filter(meeting=meeting).first()
    if webinar is None:
        return redirect("webinars:publish", pk=meeting.pk)
    webinar.meeting = meeting
    return render(
        request,
        "webinars/registrations.html",
        {
            "meeting": meeting,
            "group": meeting.group,
            "webinar": webinar,
            **selectors.registrations_overview(webinar),
            "attendance_choices": AttendanceForm.base_fields["attended"].choices,
        },
    )


@webinar_moderator_view
def export(request, meeting):
    webinar = Webinar.objects.filter(meeting=meeting).first()
    if webinar is None:
        raise Http404
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="webinar-{meeting.pk}.csv"'
    response["Cache-Control"] = "no-store, private"
    response.write("\ufeff")  # spreadsheet programs then read UTF-8
    writer = csv.writer(response)
    writer.writerow(
        [_("Name"), _("Email address"), _("Affiliation"), _("State"), _("Registered"),
         _("Confirmed"), _("Keep informed"), _("Attended"), _("Language")]
    )  # fmt: skip
    for registration in webinar.registrations.order_by("created_at", "pk"):
        writer.writerow(
            [
                _csv_cell(registration.name),
                registration.email,
                _csv_cell(registration.affiliation),
                registration.get_state_display(),
                registration.created_at.isoformat(),
                registration.confirmed_at.isoformat() if registration.confirmed_at else "",
                _("yes") if registration.keep_informed else _("no"),
                {True: _("yes"), False: _("no")}.get(registration.attended, ""),
                registration.language,
            ]
        )
    return response


def _csv_cell(value: str) -> str:
    """A cell a spreadsheet program will not run as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def attendance(request, pk):
    registration = (
        Registration.objects.select_related("webinar__meeting__group").filter(pk=pk).first()
    )
    if registration is None:
        raise Http404
    permissions.access_meeting_to_publish(request.user, registration.webinar.meeting_id)
    if refused := mfa_gate(request):
        return refused
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = AttendanceForm(request.POST)
    if form.is_valid():
        services.attendance_mark(
            actor=request.user, registration=registration, attended=form.value()
        )
        messages.success(request, _("Attendance saved."))
    else:
        messages.error(request, _("Choose attended, did not attend or not known."))
    return redirect(
        reverse("webinars:registrations", kwargs={"pk": registration.webinar.meeting_id})
    )
