"""Placeholder views: being written now (issue 5); each answers 404 until then."""

from django.http import Http404


def document_list(request, *args, **kwargs):
    raise Http404


def folder_create(request, *args, **kwargs):
    raise Http404


def document_upload(request, *args, **kwargs):
    raise Http404


def document_detail(request, *args, **kwargs):
    raise Http404


def document_edit(request, *args, **kwargs):
    raise Http404


def document_delete(request, *args, **kwargs):
    raise Http404


def document_discuss(request, *args, **kwargs):
    raise Http404


def version_upload(request, *args, **kwargs):
    raise Http404


def version_restore(request, *args, **kwargs):
    raise Http404


def version_download(request, *args, **kwargs):
    raise Http404


def version_view(request, *args, **kwargs):
    raise Http404
