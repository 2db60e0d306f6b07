"""Reads of documents for pages other than the documents' own: the home
page's news and the search. Each starts from ``documents.permissions``."""

from collections.abc import Iterable

from django.db.models import Count, F, Q, QuerySet, Subquery

from groups.models import GroupVisit, WorkingGroup

from .models import Document
from .permissions import documents_visible_to, versions_visible_to


def _seen_at(user, group_field: str) -> Subquery:
    """When ``user`` last opened the overview or the documents of the group
    of the row (``group_field``)."""
    return GroupVisit.objects.seen_at(user, group_field, GroupVisit.Section.DOCUMENTS)


def _since_visit(field: str) -> Q:
    # No visit yet: everything in the group is new to the person.
    return Q(seen_at__isnull=True) | Q(**{f"{field}__gt": F("seen_at")})


def news_by_group(user, groups: Iterable[WorkingGroup]) -> dict[int, dict[str, int]]:
    """For each of ``groups`` that has any: ``{"documents": n, "versions": n}``,
    the documents added and the new versions (a document's second and later)
    uploaded since ``user`` last opened the group's page. Two queries, whatever
    the number of groups and documents."""
    group_ids = [group.pk for group in groups]
    news: dict[int, dict[str, int]] = {}
    documents = (
        documents_visible_to(user)
        .filter(group_id__in=group_ids)
        .alias(seen_at=_seen_at(user, "group_id"))
        .filter(_since_visit("created_at"))
        .values_list("group_id")
        .annotate(count=Count("pk"))
        .order_by()
    )
    for group_id, count in documents:
        news.setdefault(group_id, {"documents": 0, "versions": 0})["documents"] = count
    versions = (
        versions_visible_to(user)
        .filter(document__group_id__in=group_ids, number__gt=1)
        .alias(seen_at=_seen_at(user, "document__group_id"))
        .filter(_since_visit("created_at"))
        .values_list("document__group_id")
        .annotate(count=Count("pk"))
        .order_by()
    )
    for group_id, count in versions:
        news.setdefault(group_id, {"documents": 0, "versions": 0})["versions"] = count
    return news


def document_search(
    user, *, words: list[str], without: list[str] = (), group=None, limit: int = 20
) -> QuerySet[Document]:
    """Documents ``user`` may see (``documents_visible_to``) whose name or
    description contains every one of ``words`` and none of ``without``
    (case-insensitive), in ``group`` only if given; newest change first, at
    most ``limit``. No words: none."""
    if not words:
        return Document.objects.none()
    documents = documents_visible_to(user)
    if group is not None:
        documents = documents.filter(group=group)
    for word in words:
        documents = documents.filter(Q(title__icontains=word) | Q(description__icontains=word))
    for word in without:
        documents = documents.exclude(Q(title__icontains=word) | Q(description__icontains=word))
    return documents.select_related("group").order_by("-updated_at", "-pk")[:limit]
