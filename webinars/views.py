"""Public webinar pages and registrants' personal links (no sign-in), and the
moderators' pages (publish, registrations, export, attendance).

The public views never touch the session or messages (a visitor gets no
session cookie; the registration and confirmation forms set the CSRF cookie
only), never show the video link, and answer alike whether or not an
address is registered. Personal links carry the registration's token; an
unknown token gets a 404 page that says so.
"""

import csv
import hashlib
from functools import wraps

from allauth.account.adapter import get_adapter as get_account_adapter
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, HttpResponseNotAllowed
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from core import ratelimit
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
    webinar = permissions.access_public_webinar(pk)
    form = RegistrationForm(request.POST or None)
    status = 200
    limited = None
    if request.method == "POST":
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
                    status = 400
                else:
                    return redirect("webinars:registered", pk=webinar.pk)
        else:
            status = 400
        return _detail_page(request, webinar, form, limited=limited, status=status)
    if request.GET or request.user.is_authenticated:
        return _detail_page(request, webinar, form)
    return _cached_detail_page(request, webinar, form)


def _detail_page(request, webinar, form, *, limited=None, status=200, **context):
    return render(
        request,
        "webinars/webinar_detail.html",
        {
            **selectors.public_webinar_context(webinar),
            "form": form,
            "rate_limited": limited,
            "closed": services.registration_refusal(webinar),
            **context,
        },
        status=status,
    )


# Stands for the CSRF token in a page rendered once for every visitor.
CSRF_PLACEHOLDER = "csrf-placeholder-4c1f0e9b2d"
PAGE_CACHE_SECONDS = 300


def _cached_detail_page(request, webinar, form):
    """The empty page for visitors, rendered once per language and state of
    what it shows: the key holds the meeting's revision (raised by every
    change of the meeting and the announcement), the places left, whether
    registration is open and the group's name. Only the CSRF token differs
    between visitors; it is put in at each request (which sets its cookie,
    as rendering it would). Nothing of the visitor is in the stored page:
    it is rendered with no messages and for an anonymous visitor only."""
    meeting = webinar.meeting
    held = selectors.places_held(webinar)
    closed = services.registration_refusal(webinar)
    key = "webinar-page:" + ":".join(
        str(part)
        for part in (
            webinar.pk,
            translation.get_language(),
            meeting.revision,
            meeting.status,
            held,
            webinar.capacity,
            bool(closed),
            hashlib.sha256(meeting.group.name.encode()).hexdigest()[:16],
        )
    )
    html = cache.get(key)
    if html is None:
        response = _detail_page(request, webinar, form, csrf_token=CSRF_PLACEHOLDER, messages=())
        html = response.content.decode()
        cache.set(key, html, PAGE_CACHE_SECONDS)
    return HttpResponse(html.replace(CSRF_PLACEHOLDER, get_token(request)))


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
