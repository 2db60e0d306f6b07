"""Placeholder views: being written now (issue 6); each answers 404 until then."""

from django.contrib.auth.decorators import login_not_required
from django.http import Http404


def meeting_list(request, *args, **kwargs):
    raise Http404


def meeting_schedule(request, *args, **kwargs):
    raise Http404


def group_chat(request, *args, **kwargs):
    raise Http404


def meeting_detail(request, *args, **kwargs):
    raise Http404


def meeting_edit(request, *args, **kwargs):
    raise Http404


def meeting_cancel(request, *args, **kwargs):
    raise Http404


def minutes_edit(request, *args, **kwargs):
    raise Http404


def minutes_transcript(request, *args, **kwargs):
    raise Http404


def meeting_ics(request, *args, **kwargs):
    raise Http404


def calendar_feed_settings(request, *args, **kwargs):
    raise Http404


@login_not_required
def calendar_feed(request, *args, **kwargs):
    raise Http404
