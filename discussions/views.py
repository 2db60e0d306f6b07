"""Placeholder views: being written now (issue 4); each answers 404 until then."""

from django.http import Http404


def thread_list(request, *args, **kwargs):
    raise Http404


def thread_create(request, *args, **kwargs):
    raise Http404


def report_queue(request, *args, **kwargs):
    raise Http404


def thread_detail(request, *args, **kwargs):
    raise Http404


def thread_first_unread(request, *args, **kwargs):
    raise Http404


def post_create(request, *args, **kwargs):
    raise Http404


def thread_mark_read(request, *args, **kwargs):
    raise Http404


def thread_watch(request, *args, **kwargs):
    raise Http404


def thread_moderate(request, *args, **kwargs):
    raise Http404


def thread_move(request, *args, **kwargs):
    raise Http404


def post_redirect(request, *args, **kwargs):
    raise Http404


def post_fragment(request, *args, **kwargs):
    raise Http404


def post_edit(request, *args, **kwargs):
    raise Http404


def post_delete(request, *args, **kwargs):
    raise Http404


def post_history(request, *args, **kwargs):
    raise Http404


def post_react(request, *args, **kwargs):
    raise Http404


def post_report(request, *args, **kwargs):
    raise Http404


def post_hide(request, *args, **kwargs):
    raise Http404


def thread_split(request, *args, **kwargs):
    raise Http404


def report_close(request, *args, **kwargs):
    raise Http404


def preview(request, *args, **kwargs):
    raise Http404
