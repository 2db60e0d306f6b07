"""The pages of a group's documents. Thin: look the object up through
``permissions`` (Http404 for missing and forbidden alike), call a service,
render. Every version, old ones included, reaches the browser only through
``version_download`` / ``version_view``, which authorise it first.

The forms that receive a file work without JavaScript; ``static/js/upload.js``
sends them with XMLHttpRequest (for the progress bar) and asks for JSON
(``Accept: application/json``): ``{"redirect": url}`` on success,
``{"errors": {field: [message, ...]}}`` otherwise.
"""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseNotAllowed, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from discussions import selectors as discussion_selectors
from groups import permissions as group_permissions
from groups.decorators import group_view, mfa_gate
from groups.models import GroupVisit

from . import downloads, files, permissions, services
from .forms import (
    SORTS,
    DocumentEditForm,
    FolderForm,
    ListForm,
    UploadForm,
    VersionForm,
    folder_paths,
)
from .models import Document, Folder

PAGE_SIZE = 50
# What a multipart body may carry besides the file: framing and the form's
# text fields (a description of 5,000 characters is at most 20 KB in UTF-8).
UPLOAD_ALLOWANCE = 64 * 1024

# Which form field a service's ValidationError belongs to, by its code.
FIELD_OF_CODE = {
    "too_large": "file",
    "empty": "file",
    "type": "file",
    "duplicate": "file",
    "storage": "file",
    "title": "title",
    "folder": "folder",
    "name": "name",
    "exists": "name",
}

TYPE_LABELS = {
    "application/pdf": gettext_lazy("PDF"),
    "application/msword": gettext_lazy("Word document"),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": gettext_lazy(
        "Word document"
    ),
    "application/vnd.oasis.opendocument.text": gettext_lazy("Text document"),
    "application/rtf": gettext_lazy("Text document"),
    "text/rtf": gettext_lazy("Text document"),
    "application/vnd.ms-excel": gettext_lazy("Spreadsheet"),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": gettext_lazy(
        "Spreadsheet"
    ),
    "application/vnd.oasis.opendocument.spreadsheet": gettext_lazy("Spreadsheet"),
    "text/csv": gettext_lazy("Spreadsheet"),
    "application/vnd.ms-powerpoint": gettext_lazy("Presentation"),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": gettext_lazy(
        "Presentation"
    ),
    "application/vnd.oasis.opendocument.presentation": gettext_lazy("Presentation"),
    "text/plain": gettext_lazy("Text"),
    "text/markdown": gettext_lazy("Text"),
    "application/zip": gettext_lazy("ZIP archive"),
}


def type_label(content_type: str) -> str:
    if content_type.startswith("image/"):
        return _("Image")
    return str(TYPE_LABELS.get(content_type, content_type))


def _describe(version) -> None:
    """Adds what the templates show about a version's type."""
    version.type_label = type_label(version.content_type)
    version.previewable = version.content_type in files.INLINE_TYPES


# --- Answers for the upload forms (HTML or JSON) ----------------------------------


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _errors_json(form) -> dict[str, list[str]]:
    return {
        field: [error["message"] for error in errors.get_json_data()]
        for field, errors in form.errors.items()
    }


def _add_service_error(form, error: ValidationError) -> None:
    field = FIELD_OF_CODE.get(error.code)
    form.add_error(field if field in form.fields else None, error)


def _succeeded(request, url: str):
    if _wants_json(request):
        return JsonResponse({"redirect": url})
    return redirect(url)


def _failed(request, template: str, context: dict, *, status: int = 400):
    if _wants_json(request):
        return JsonResponse({"errors": _errors_json(context["form"])}, status=status)
    return render(request, template, context, status=status)


def _oversized(request) -> str | None:
    """The error for a body that cannot hold an acceptable file, judged by its
    Content-Length alone, so nothing of it is parsed or stored."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    limit = settings.DOCUMENTS_MAX_UPLOAD_BYTES
    if length <= limit + UPLOAD_ALLOWANCE:
        return None
    return _("The file is %(size)s; the largest allowed is %(limit)s.") % {
        "size": filesizeformat(length),
        "limit": filesizeformat(limit),
    }


def _unreadable(request) -> str | None:
    """The error for a multipart body Django cannot parse (a part's headers
    are limited to 1 KB, which a very long file name exceeds)."""
    try:
        request.POST  # noqa: B018 - parses the body and stores the file
    except MultiPartParserError:
        return _(
            "The upload could not be read. If the file name is very long, "
            "please shorten it and try again."
        )
    return None


def _status_of(error: ValidationError) -> int:
    """503 when the file could not be stored (no fault of the person's), 400 otherwise."""
    return 503 if getattr(error, "code", None) == "storage" else 400


def _refuse(request, message: str, form, template: str, context: dict, *, status: int):
    """``status`` with ``message`` at the file field; ``form`` is bound to nothing."""
    form.errors.clear()
    form.errors["file"] = form.error_class([message])
    return _failed(request, template, {**context, "form": form}, status=status)


def _upload_context(group, **extra) -> dict:
    return {"group": group, "max_upload_bytes": settings.DOCUMENTS_MAX_UPLOAD_BYTES, **extra}


# --- The group's documents ---------------------------------------------------------


def _int_param(request, name: str) -> int | None:
    value = request.GET.get(name, "")
    return int(value) if value.isdigit() else None


@group_view
def document_list(request, group, pk=None):
    """A folder of the group (the top level without ``pk``): its folders and
    documents; with a filter, the matching documents of every folder."""
    folders = list(group.folders.all())
    by_pk = {folder.pk: folder for folder in folders}
    folder = None
    # What the home page counts as new documents is what comes after now.
    GroupVisit.objects.mark(request.user, group, GroupVisit.Section.DOCUMENTS)
    if pk is not None:
        folder = by_pk.get(pk)
        if folder is None:
            raise Http404
    list_form = ListForm(request.GET or None)
    query, sort = list_form.filters()
    documents = Document.objects.filter(group=group).select_related("current_version", "created_by")
    if query:
        documents = documents.filter(title__icontains=query)
        subfolders = []
    else:
        documents = documents.filter(folder=folder)
        subfolders = sorted(
            (item for item in folders if item.parent_id == (folder.pk if folder else None)),
            key=lambda item: item.name.casefold(),
        )
    page = Paginator(documents.order_by(*SORTS[sort]), PAGE_SIZE).get_page(request.GET.get("page"))
    paths = folder_paths(folders)
    for document in page:
        document.folder_path = paths.get(document.folder_id, "")
        if document.current_version:
            _describe(document.current_version)
    return render(
        request,
        "documents/document_list.html",
        {
            "group": group,
            "folder": folder,
            "breadcrumbs": _breadcrumbs(folder, by_pk),
            "subfolders": subfolders,
            "page": page,
            "list_form": list_form,
            "query": query,
            "can_upload": permissions.can_upload(request.user, group),
            "is_moderator": group_permissions.is_moderator(request.user, group),
        },
    )


def _breadcrumbs(folder: Folder | None, by_pk: dict) -> list[Folder]:
    trail, seen = [], set()
    while folder is not None and folder.pk not in seen:
        seen.add(folder.pk)
        trail.append(folder)
        folder = by_pk.get(folder.parent_id)
    return trail[::-1]


@group_view
def folder_create(request, group):
    permissions.check_upload(request.user, group)
    parent = None
    if (parent_pk := _int_param(request, "parent")) is not None:
        parent = permissions.access_folder(request.user, group, parent_pk)
    form = FolderForm(request.POST or None, group=group, initial={"parent": parent})
    if request.method == "POST" and form.is_valid():
        try:
            folder = services.folder_create(
                actor=request.user,
                group=group,
                name=form.cleaned_data["name"],
                parent=form.cleaned_data["parent"],
            )
        except ValidationError as error:
            _add_service_error(form, error)
        else:
            messages.success(request, _("The folder was created."))
            return redirect(folder)
    return render(
        request,
        "documents/folder_create.html",
        {"group": group, "form": form, "parent": parent},
        status=400 if form.errors else 200,
    )


# CSRF is checked after the size check: the CSRF check parses the whole form.
@csrf_exempt
@group_view
def document_upload(request, group):
    permissions.check_upload(request.user, group)
    context = _upload_context(group)
    template = "documents/upload.html"
    if request.method == "POST":
        form = UploadForm(data={}, files={}, group=group)
        if message := _oversized(request):
            return _refuse(request, message, form, template, context, status=413)
        if message := _unreadable(request):
            return _refuse(request, message, form, template, context, status=400)
        return _receive_document(request, group, template, context)
    folder = None
    if (folder_pk := _int_param(request, "folder")) is not None:
        folder = permissions.access_folder(request.user, group, folder_pk)
    context["form"] = UploadForm(group=group, initial={"folder": folder})
    return render(request, template, context)


@csrf_protect
def _receive_document(request, group, template, context):
    form = UploadForm(request.POST, request.FILES, group=group)
    if form.is_valid():
        data = form.cleaned_data
        try:
            document = services.document_upload(
                actor=request.user,
                group=group,
                uploaded=data["file"],
                title=data["title"],
                description=data["description"],
                folder=data["folder"],
            )
        except ValidationError as error:
            _add_service_error(form, error)
            return _failed(request, template, {**context, "form": form}, status=_status_of(error))
        messages.success(request, _("“%(title)s” was uploaded.") % {"title": document.title})
        return _succeeded(request, document.get_absolute_url())
    return _failed(request, template, {**context, "form": form})


# --- One document --------------------------------------------------------------------


def _document_context(request, document, **extra) -> dict:
    group = document.group
    return {
        "group": group,
        "document": document,
        "is_moderator": group_permissions.is_moderator(request.user, group),
        **extra,
    }


def document_detail(request, pk):
    document = permissions.access_document(request.user, pk)
    group = document.group
    versions = list(document.versions.select_related("uploaded_by"))
    for version in versions:
        _describe(version)
    current = next((v for v in versions if v.pk == document.current_version_id), None)
    by_pk = {folder.pk: folder for folder in group.folders.all()} if document.folder_id else {}
    thread, can_discuss = discussion_selectors.discussion_of(
        request.user, group, document.thread_id
    )
    can_upload = permissions.can_upload(request.user, group)
    return render(
        request,
        "documents/document_detail.html",
        _document_context(
            request,
            document,
            versions=versions,
            current=current,
            breadcrumbs=_breadcrumbs(by_pk.get(document.folder_id), by_pk),
            thread=thread,
            can_discuss=can_discuss,
            can_upload=can_upload,
            can_manage=permissions.can_manage_document(request.user, document),
            form=VersionForm() if can_upload else None,
            max_upload_bytes=settings.DOCUMENTS_MAX_UPLOAD_BYTES,
        ),
    )


@csrf_exempt  # checked after the size check, as for document_upload
def version_upload(request, pk):
    document = permissions.access_document(request.user, pk)
    permissions.check_upload(request.user, document.group)
    context = _upload_context(document.group, document=document)
    template = "documents/version_upload.html"
    if request.method == "POST":
        form = VersionForm(data={}, files={})
        if message := _oversized(request):
            return _refuse(request, message, form, template, context, status=413)
        if message := _unreadable(request):
            return _refuse(request, message, form, template, context, status=400)
        return _receive_version(request, document, template, context)
    context["form"] = VersionForm()
    return render(request, template, context)


@csrf_protect
def _receive_version(request, document, template, context):
    form = VersionForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            version = services.version_add(
                actor=request.user,
                document=document,
                uploaded=form.cleaned_data["file"],
                change_note=form.cleaned_data["change_note"],
            )
        except ValidationError as error:
            _add_service_error(form, error)
            return _failed(request, template, {**context, "form": form}, status=_status_of(error))
        messages.success(request, _("Version %(number)d was added.") % {"number": version.number})
        return _succeeded(request, document.get_absolute_url())
    return _failed(request, template, {**context, "form": form})


def _manage(request, document):
    """None if the user may rename, move or delete ``document``; PermissionDenied
    if not; a redirect to turn on two-factor authentication for a moderator
    without it who acts on someone else's document."""
    permissions.check_manage_document(request.user, document)
    if document.created_by_id != request.user.pk:
        return mfa_gate(request)
    return None


def document_edit(request, pk):
    document = permissions.access_document(request.user, pk)
    if response := _manage(request, document):
        return response
    form = DocumentEditForm(
        request.POST or None,
        group=document.group,
        initial={
            "title": document.title,
            "description": document.description,
            "folder": document.folder_id,
        },
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        changes = {}
        if data["title"] != document.title:
            changes["title"] = data["title"]
        if data["description"] != document.description:
            changes["description"] = data["description"]
        if (data["folder"].pk if data["folder"] else None) != document.folder_id:
            changes["folder"] = data["folder"]
        if not changes:
            messages.info(request, _("Nothing was changed."))
            return redirect(document)
        try:
            services.document_update(actor=request.user, document=document, **changes)
        except ValidationError as error:
            _add_service_error(form, error)
        else:
            messages.success(request, _("The document was saved."))
            return redirect(document)
    return render(
        request,
        "documents/document_edit.html",
        _document_context(request, document, form=form),
        status=400 if form.errors else 200,
    )


def document_delete(request, pk):
    document = permissions.access_document(request.user, pk)
    if response := _manage(request, document):
        return response
    if request.method == "POST":
        group, folder_id, title = document.group, document.folder_id, document.title
        services.document_delete(actor=request.user, document=document)
        messages.success(request, _("“%(title)s” was deleted.") % {"title": title})
        if folder_id is not None and Folder.objects.filter(pk=folder_id).exists():
            return redirect("documents:folder", slug=group.slug, pk=folder_id)
        return redirect("documents:list", slug=group.slug)
    return render(
        request,
        "documents/document_delete.html",
        _document_context(request, document, version_count=document.versions.count()),
    )


def document_discuss(request, pk):
    """Opens the document's thread, starting it first if there is none yet."""
    document = permissions.access_document(request.user, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    thread = services.document_discuss(actor=request.user, document=document)
    return redirect(thread)


def version_restore(request, pk):
    version = permissions.access_version(request.user, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        restored = services.version_restore(actor=request.user, version=version)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            _("Version %(old)d is the current one again, as version %(new)d.")
            % {"old": version.number, "new": restored.number},
        )
    return redirect(version.document)


# --- Downloads -----------------------------------------------------------------------
# Plain sync views: the response carries an async iterator, which daphne
# streams chunk by chunk (see downloads.version_response).


def version_download(request, pk):
    """Any version of a document the user may see, as an attachment."""
    version = permissions.access_version(request.user, pk)
    return downloads.version_response(version)


def version_view(request, pk):
    """Images and PDFs for viewing in the browser; everything else as an attachment."""
    version = permissions.access_version(request.user, pk)
    return downloads.version_response(version, inline=True)
