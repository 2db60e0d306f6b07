"""The notifications page and the bell's count: thin interfaces over
selectors (access decided afresh) and services."""

from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from . import selectors, services
from .forms import MarkReadForm


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
