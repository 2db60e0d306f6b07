"""The notifications page and the bell's count: thin interfaces over
selectors (access decided afresh) and services."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from discussions import permissions as discussion_permissions
from groups import permissions as group_permissions
from groups.decorators import group_view, mfa_gate

from . import selectors, services
from . import unsubscribe as links
from .forms import DefaultLevelForm, LevelForm, MarkReadForm, PreferencesForm
from .models import Kind


@require_GET
def notification_list(request):
    return render(
        request,
        "notifications/notification_list.html",
        {
            "groups": selectors.notification_groups(request.user),
            "unread": selectors.unread_count(request.user),
        },
    )


@require_GET
def notification_open(request, pk):
    """Opening an item marks it read and leads to its object."""
    notification = selectors.access_notification(request.user, pk)
    return redirect(services.notification_open(user=request.user, notification=notification))


@require_POST
def notification_mark_read(request):
    form = MarkReadForm(request.POST)
    if form.is_valid():
        notification = selectors.access_notification(
            request.user, form.cleaned_data["notification"]
        )
        services.notifications_mark_read(user=request.user, ids=[notification.pk])
    return redirect("notifications:list")


@require_POST
def notification_mark_all_read(request):
    services.notifications_mark_read(user=request.user)
    return redirect("notifications:list")


@require_GET
def unread_count(request):
    """The bell's number, for the page's script when the person's stream says
    it changed."""
    return JsonResponse(
        {"count": selectors.unread_count(request.user)}, headers={"Cache-Control": "no-store"}
    )


@group_view
def group_level(request, group):
    """A person's level for a group; for its moderators, also the group's
    default (behind the two-factor gate, as every moderator action)."""
    is_moderator = group_permissions.is_moderator(request.user, group)
    own, default = selectors.group_levels(request.user, group)
    form = LevelForm(initial={"level": own or default})
    default_form = DefaultLevelForm(initial={"level": default}) if is_moderator else None
    status = 200
    if request.method == "POST":
        if "default" in request.POST:
            if not is_moderator:
                raise PermissionDenied
            if refused := mfa_gate(request):
                return refused
            default_form = DefaultLevelForm(request.POST)
            if default_form.is_valid():
                services.group_default_level_set(
                    actor=request.user, group=group, level=default_form.cleaned_data["level"]
                )
                messages.success(request, _("The group's default was saved."))
                return redirect("notifications:group_level", slug=group.slug)
        else:
            form = LevelForm(request.POST)
            if form.is_valid():
                services.group_level_set(
                    user=request.user, group=group, level=form.cleaned_data["level"]
                )
                messages.success(request, _("Your level for this group was saved."))
                return redirect("notifications:group_level", slug=group.slug)
        status = 400
    return render(
        request,
        "notifications/group_level.html",
        {"group": group, "form": form, "default_form": default_form},
        status=status,
    )


def thread_level(request, pk):
    """A person's level for one thread (Http404 unless they may see it)."""
    thread = discussion_permissions.access_thread(request.user, pk)
    _own, applies = selectors.thread_level(request.user, thread)
    form = LevelForm(initial={"level": applies})
    status = 200
    if request.method == "POST":
        form = LevelForm(request.POST)
        if form.is_valid():
            services.thread_level_set(
                user=request.user, thread=thread, level=form.cleaned_data["level"]
            )
            messages.success(request, _("Your level for this thread was saved."))
            return redirect(thread)
        status = 400
    return render(
        request,
        "notifications/thread_level.html",
        {"thread": thread, "group": thread.group, "form": form},
        status=status,
    )


@require_http_methods(["GET", "HEAD", "POST"])
def preferences(request):
    """One page for what a person hears: their level per group, which
    notifications they get by email, and the summary email."""
    rows, preference = selectors.preferences(request.user)
    time_zone = request.user.time_zone or settings.TIME_ZONE
    initial = {
        "enabled": preference.enabled,
        "digest": preference.digest,
        "digest_hour": preference.digest_hour,
        "digest_weekday": preference.digest_weekday,
    }
    initial.update({f"level_{group.pk}": own or default for group, own, default in rows})
    form = PreferencesForm(initial=initial, rows=rows, time_zone=time_zone)
    for name in form.email_sections:
        form.initial[name] = [
            kind for kind, _label in form.fields[name].choices if kind not in preference.kinds_off
        ]
    status = 200
    if request.method == "POST":
        form = PreferencesForm(request.POST, rows=rows, time_zone=time_zone)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.preferences_save(
                    user=request.user,
                    levels=form.levels(),
                    enabled=data["enabled"],
                    kinds_off=form.kinds_off(),
                    digest=data["digest"],
                    digest_hour=data["digest_hour"],
                    digest_weekday=data["digest_weekday"],
                )
            except PermissionDenied:
                # The person left a group between reading and saving the page.
                form.add_error(
                    None,
                    _("You no longer take part in one of these groups. Nothing was saved."),
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, _("Your notification settings were saved."))
                return redirect("notifications:preferences")
        status = 400
    return render(request, "notifications/preferences.html", {"form": form}, status=status)


def _scope_text(scope: str) -> str:
    prefix, _sep, rest = scope.partition(":")
    if scope == "all":
        return _("all notification emails and summaries")
    if scope == "digest":
        return _("the summary emails")
    if prefix == "kind" and rest in Kind.values:
        return _("emails of the kind “%(kind)s”") % {"kind": Kind(rest).label}
    return _("this thread")


@login_not_required
@csrf_exempt  # the signed link is the authority; mail clients POST without a form
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request, token):
    """An unsubscribe link from an email, without sign-in. GET asks (link
    checkers and previews open links: they change nothing); POST does it,
    both from that page and as RFC 8058's one-click POST by the mail client."""
    try:
        user_id, scope = links.read(token)
    except links.BadLink as error:
        return render(
            request,
            "notifications/unsubscribe.html",
            {"expired": error.expired, "bad": True},
            status=400,
        )
    context = {"scope": _scope_text(scope), "token": token}
    if request.method == "POST":
        if not services.unsubscribe(user_id=user_id, scope=scope):
            context["bad"] = True
            return render(request, "notifications/unsubscribe.html", context, status=400)
        context["done"] = True
    return render(request, "notifications/unsubscribe.html", context)
