"""Placeholder: search across the user's groups is being written now (issue 4)."""

from django.http import Http404


def search(request):
    raise Http404
