"""Who may see and do what with a group's documents; built on groups.permissions."""

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from groups import permissions as group_permissions

from .models import Document, DocumentVersion, Folder


def documents_visible_to(user) -> QuerySet[Document]:
    return Document.objects.filter(group_permissions.in_groups_visible_to(user))


def folders_visible_to(user) -> QuerySet[Folder]:
    return Folder.objects.filter(group_permissions.in_groups_visible_to(user))


def access_document(user, pk) -> Document:
    """The document if the user may see it; Http404 otherwise (missing and forbidden alike)."""
    document = documents_visible_to(user).select_related("group").filter(pk=pk).first()
    if document is None:
        raise Http404
    return document


def versions_visible_to(user) -> QuerySet[DocumentVersion]:
    """Every version, old ones included, of the documents the user may see."""
    return DocumentVersion.objects.filter(document__in=documents_visible_to(user))


def versions_audience(versions, user_ids) -> set[tuple[int, int]]:
    """``versions_visible_to`` for many people and versions at once: the
    pairs (version id, user id) where that person may see the version's
    document now (``versions``: DocumentVersion objects with ``document``
    loaded), in the queries of ``groups.permissions.groups_audience``."""
    return group_permissions.objects_audience(
        [(version.pk, version.document.group_id) for version in versions], user_ids
    )


def access_version(user, pk) -> DocumentVersion:
    """A version (old ones included) of a document the user may see, with its
    document and group; Http404 otherwise (missing and forbidden alike, and
    for an id that is not a number)."""
    try:
        version = versions_visible_to(user).select_related("document__group").filter(pk=pk).first()
    except (TypeError, ValueError):  # not a number: no version has it
        raise Http404 from None
    if version is None:
        raise Http404
    return version


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
