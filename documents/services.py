"""Writes to a group's documents. Each checks permission, runs in one
transaction, writes the group's audit log and emits after commit on the
group's stream (``group:<id>``):

- ``document.uploaded`` {document, version} — a new document
- ``document.version_added`` {document, version} — a new version (or a restore)
- ``document.changed`` {document} — renamed or moved
- ``document.deleted`` {document}

Inside the transaction, a new document or version is told to the hook
``documents.version_added`` (version, new_document): the notifications.

``document_discuss`` starts a thread through ``discussions.services`` (its event).

Files never change once stored; a restore adds a version pointing at the same
bytes. Deleting a document removes every file of it once the deletion commits.
"""

import contextlib
import logging
import re
import uuid
from contextlib import contextmanager

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core import hooks
from core.realtime import emit
from groups import permissions as group_permissions
from groups.services import audit

from . import files, permissions
from .models import Document, DocumentVersion, Folder

logger = logging.getLogger(__name__)


def storage_failed_message() -> str:
    """What a person is told when the file could not be written."""
    return _(
        "The file could not be stored: the server's storage is full or not writable "
        "just now. Nothing was saved; please try again later."
    )


def _event(document: Document, event_type: str, **data) -> None:
    emit(f"group:{document.group_id}", event_type, {"document": document.pk, **data})


def _clean_title(title: str) -> str:
    title = " ".join((title or "").split())
    if not title:
        raise ValidationError(_("Please give the document a title."), code="title")
    return title[:200]


def _check_folder(folder: Folder | None, group) -> None:
    if folder is not None and folder.group_id != group.pk:
        raise ValidationError(_("This folder belongs to another group."), code="folder")


def document_upload(
    *,
    actor,
    group,
    uploaded,
    title: str = "",
    description: str = "",
    folder: Folder | None = None,
    change_note: str = "",
) -> Document:
    """Adds a new document with its first version. The group's people (guests
    too); not in an archived group. ValidationError for a file that is too
    large, empty, or of a type not accepted (read from its content)."""
    permissions.check_upload(actor, group)
    _check_folder(folder, group)
    checked = files.check_upload(uploaded)
    title = _clean_title(title or checked.display_name)
    with _stored(group, uploaded) as name, transaction.atomic():
        document = Document.objects.create(
            group=group,
            folder=folder,
            title=title,
            description=(description or "").strip()[:5000],
            created_by=actor,
        )
        version = _add_version(
            actor=actor,
            document=document,
            name=name,
            change_note=change_note,
            **_described(checked),
        )
        audit(
            group=group,
            actor=actor,
            action="document.uploaded",
            summary=f"{title} ({checked.display_name})",
            document=document.pk,
        )
        _event(document, "document.uploaded", version=version.pk)
        hooks.call("documents.version_added", version=version, new_document=True)
    return document


def _next_number(document: Document) -> int:
    last = document.versions.order_by("-number").values_list("number", flat=True).first()
    return (last or 0) + 1


@contextmanager
def _stored(group, uploaded):
    """Stores the bytes under a random name, and removes them again if the
    database work that follows fails. ValidationError (code ``storage``) if
    they cannot be written, with nothing of them left."""
    storage = DocumentVersion._meta.get_field("file").storage
    wanted = f"documents/{group.pk}/{uuid.uuid4().hex}"
    try:
        name = storage.save(wanted, uploaded)
    except OSError as error:
        # The disk full, the folder unwritable, a file-size limit: what was
        # written of the file goes (a fresh random name, so nobody else's).
        with contextlib.suppress(OSError):
            storage.delete(wanted)
        logger.warning("Upload not stored (%s): %s", wanted, error)
        raise ValidationError(storage_failed_message(), code="storage") from None
    try:
        yield name
    except BaseException:
        storage.delete(name)
        raise


def _described(checked: files.CheckedFile) -> dict:
    return {
        "original_filename": checked.display_name,
        "size": checked.size,
        "sha256": checked.sha256,
        "content_type": checked.content_type,
    }


def _add_version(
    *, actor, document, name, original_filename, size, sha256, content_type, change_note
) -> DocumentVersion:
    version = DocumentVersion.objects.create(
        document=document,
        number=_next_number(document),
        file=name,
        original_filename=original_filename,
        size=size,
        sha256=sha256,
        content_type=content_type,
        uploaded_by=actor,
        change_note=(change_note or "").strip()[:500],
    )
    document.current_version = version
    document.updated_at = timezone.now()
    document.save(update_fields=["current_version", "updated_at"])
    return version


def _refuse_duplicate(document: Document, sha256: str) -> None:
    same = document.versions.filter(sha256=sha256).order_by("-number").first()
    if same is not None:
        raise ValidationError(
            _("This file is identical to version %(number)d.") % {"number": same.number},
            code="duplicate",
        )


def version_add(*, actor, document: Document, uploaded, change_note: str = "") -> DocumentVersion:
    """Adds a new version. ValidationError if the file is identical to an
    existing version of this document (it is named), or not acceptable.
    Concurrent uploads to one document each get their own version number."""
    permissions.check_upload(actor, document.group)
    checked = files.check_upload(uploaded)
    _refuse_duplicate(document, checked.sha256)  # before storing the bytes
    with _stored(document.group, uploaded) as name, transaction.atomic():
        document = (
            Document.objects.select_for_update(of=("self",))
            .select_related("group")
            .get(pk=document.pk)
        )
        _refuse_duplicate(document, checked.sha256)  # and again under the lock
        version = _add_version(
            actor=actor,
            document=document,
            name=name,
            change_note=change_note,
            **_described(checked),
        )
        audit(
            group=document.group,
            actor=actor,
            action="document.version_added",
            summary=f"{document.title} v{version.number}",
            document=document.pk,
        )
        _event(document, "document.version_added", version=version.pk)
        hooks.call("documents.version_added", version=version, new_document=False)
    return version


def version_restore(*, actor, version: DocumentVersion) -> DocumentVersion:
    """Makes an older version current again by adding it as a new version."""
    permissions.check_upload(actor, version.document.group)
    with transaction.atomic():
        document = (
            Document.objects.select_for_update(of=("self",))
            .select_related("group")
            .get(pk=version.document_id)
        )
        if document.current_version_id == version.pk:
            raise ValidationError(_("This version is the current one already."), code="current")
        restored = _add_version(
            actor=actor,
            document=document,
            name=version.file.name,
            original_filename=version.original_filename,
            size=version.size,
            sha256=version.sha256,
            content_type=version.content_type,
            change_note=_("Restored version %(number)d") % {"number": version.number},
        )
        audit(
            group=document.group,
            actor=actor,
            action="document.version_restored",
            summary=f"{document.title} v{version.number} → v{restored.number}",
            document=document.pk,
        )
        _event(document, "document.version_added", version=restored.pk)
        hooks.call("documents.version_added", version=restored, new_document=False)
    return restored


def document_update(
    *,
    actor,
    document: Document,
    title: str | None = None,
    description: str | None = None,
    folder=...,
) -> Document:
    """Renames, re-describes or moves a document (``folder=None``: to the top).
    Its uploader or the group's moderators."""
    permissions.check_manage_document(actor, document)
    changes = {}
    if title is not None:
        changes["title"] = _clean_title(title)
    if description is not None:
        changes["description"] = description.strip()[:5000]
    if folder is not ...:
        _check_folder(folder, document.group)
        changes["folder"] = folder
    with transaction.atomic():
        for field, value in changes.items():
            setattr(document, field, value)
        document.updated_at = timezone.now()
        document.save(update_fields=[*changes, "updated_at"])
        audit(
            group=document.group,
            actor=actor,
            action="document.changed",
            summary=document.title,
            document=document.pk,
            fields=sorted(changes),
        )
        _event(document, "document.changed")
    return document


def document_delete(*, actor, document: Document) -> None:
    """Deletes a document with all its versions and their files; only the
    audit entry remains. Its uploader or the group's moderators."""
    permissions.check_manage_document(actor, document)
    with transaction.atomic():
        names = set(document.versions.values_list("file", flat=True))
        storage = DocumentVersion._meta.get_field("file").storage
        group, title, pk = document.group, document.title, document.pk
        Document.objects.filter(pk=pk).update(current_version=None)
        document.delete()
        audit(group=group, actor=actor, action="document.deleted", summary=title, document=pk)
        emit(f"group:{group.pk}", "document.deleted", {"document": pk})

        def remove_files():
            for name in names:
                storage.delete(name)

        transaction.on_commit(remove_files)


def folder_create(*, actor, group, name: str, parent: Folder | None = None) -> Folder:
    """Creates a folder. The group's people; names are unique within a folder."""
    permissions.check_upload(actor, group)
    _check_folder(parent, group)
    name = " ".join((name or "").split())[:200]
    if not name:
        raise ValidationError(_("Please give the folder a name."), code="name")
    with transaction.atomic():
        if Folder.objects.filter(group=group, parent=parent, name__iexact=name).exists():
            raise ValidationError(_("A folder of this name exists here already."), code="exists")
        folder = Folder.objects.create(group=group, parent=parent, name=name, created_by=actor)
        audit(group=group, actor=actor, action="folder.created", summary=name)
    return folder


def _markdown_text(text: str) -> str:
    """``text`` with Markdown's punctuation escaped, to show it literally."""
    return re.sub(r"([\\`*_{}\[\]()<>#+\-.!|~&])", r"\\\1", text)


def document_discuss(*, actor, document: Document):
    """The document's discussion: its thread if it has one, otherwise a new
    thread in the group (started by ``actor``) that is stored on the document.
    The group's people, not in an archived group (PermissionDenied). Sends
    ``thread.created`` through ``discussions.services.thread_create`` when it
    starts one."""
    from discussions.services import thread_create

    if not group_permissions.is_member(actor, document.group):
        raise PermissionDenied
    with transaction.atomic():
        # Locked, so that two people clicking at once start one thread, not two.
        document = (
            Document.objects.select_for_update(of=("self",))
            .select_related("group")
            .get(pk=document.pk)
        )
        if document.thread_id is not None:
            return document.thread
        thread = thread_create(
            actor=actor,
            group=document.group,
            title=document.title,
            body=_("About the document [%(title)s](%(url)s).")
            % {"title": _markdown_text(document.title), "url": document.get_absolute_url()},
        )
        document.thread = thread
        document.save(update_fields=["thread"])
        audit(
            group=document.group,
            actor=actor,
            action="document.discussed",
            summary=document.title,
            document=document.pk,
            thread=thread.pk,
        )
    return thread
