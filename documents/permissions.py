"""Who may see and do what with a group's documents; built on groups.permissions."""

import functools

from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import QuerySet
from django.http import Http404

from core import rows
from groups import permissions as group_permissions
from groups.models import WorkingGroup

from .models import Document, DocumentVersion, Folder


def documents_visible_to(user) -> QuerySet[Document]:
    return Document.objects.filter(group__in=group_permissions.groups_visible_to(user))


def folders_visible_to(user) -> QuerySet[Folder]:
    return Folder.objects.filter(group__in=group_permissions.groups_visible_to(user))


def access_document(user, pk) -> Document:
    """The document if the user may see it; Http404 otherwise (missing and forbidden alike)."""
    document = documents_visible_to(user).select_related("group").filter(pk=pk).first()
    if document is None:
        raise Http404
    return document


@functools.cache
def _version_sql(vendor: str) -> tuple[str, tuple[rows.Columns, ...]]:
    columns = (
        rows.Columns(DocumentVersion, "v"),
        rows.Columns(Document, "d"),
        rows.Columns(WorkingGroup, "g"),
    )
    sql = f"""
        SELECT {", ".join(part.select for part in columns)}
        FROM {rows.table(DocumentVersion)} v
        JOIN {rows.table(Document)} d ON d.id = v.document_id
        JOIN {rows.table(WorkingGroup)} g ON g.id = d.group_id
        WHERE v.id = %(pk)s AND {group_permissions.visible_group_sql("d.group_id")}
    """  # noqa: S608 (table and column names are the models'; values are parameters)
    return sql, columns


def access_version(user, pk) -> DocumentVersion:
    """Any version, old ones included, of a document the user may see (with
    its document and group); Http404 otherwise.

    Hand-written SQL (core.rows): every download passes here before nginx or
    sendfile sends a byte, and the equivalent queryset (versions of documents
    of groups of valid memberships) cost Django about 2 ms of CPU to build,
    a fifth of the authorising request (bench/download.py, ``ratio_accel``).
    The documents access matrix and a direct comparison test check it."""
    sql, columns = _version_sql(connection.vendor)
    row = group_permissions.access_row(user, sql, pk)
    version, document, group = rows.split(row, *columns)
    document.group = group
    version.document = document
    return version


def versions_visible_to(user) -> QuerySet[DocumentVersion]:
    """The queryset twin of ``access_version``."""
    return DocumentVersion.objects.filter(document__in=documents_visible_to(user))


def access_folder(user, group, pk) -> Folder:
    folder = folders_visible_to(user).filter(group=group, pk=pk).first()
    if folder is None:
        raise Http404
    return folder


def can_upload(user, group) -> bool:
    """The group's people (guests too) add documents and versions, unless the group is archived."""
    return group_permissions.is_member(user, group) and not group.archived


def check_upload(user, group) -> None:
    if not can_upload(user, group):
        raise PermissionDenied


def can_manage_document(user, document: Document) -> bool:
    """Rename, move, delete: whoever uploaded it, and the group's moderators."""
    if not can_upload(user, document.group):
        return False
    return document.created_by_id == user.pk or group_permissions.is_moderator(user, document.group)


def check_manage_document(user, document: Document) -> None:
    if not can_manage_document(user, document):
        raise PermissionDenied


def can_manage_folder(user, folder: Folder) -> bool:
    if not can_upload(user, folder.group):
        return False
    return folder.created_by_id == user.pk or group_permissions.is_moderator(user, folder.group)
