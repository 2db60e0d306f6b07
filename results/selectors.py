"""Reads for the results pages, starting from ``permissions``."""

from django.db.models import QuerySet

from core.diff import text_diff

from . import permissions
from .models import Result, ResultVersion


def group_results(user, group) -> QuerySet[Result]:
    """The group's results the user sees: the published ones for everyone,
    drafts too for the group's people."""
    return permissions.results_visible_to(user).filter(group=group).select_related("group")


def published_list(limit: int | None = None) -> QuerySet[Result]:
    """Every group's published results, latest first (withdrawn ones included)."""
    results = permissions.published_results().select_related("group").order_by("-published_at")
    return results[:limit] if limit else results


def result_versions(result: Result) -> list[ResultVersion]:
    """The result's published versions, latest first."""
    return list(result.versions.order_by("-number"))


def has_unpublished_changes(result: Result, latest: ResultVersion | None) -> bool:
    if latest is None:
        return True
    return (latest.kind, latest.title, latest.summary, latest.body) != (
        result.kind,
        result.title,
        result.summary,
        result.body,
    )


def sources_for(user, result: Result) -> list[dict]:
    """The sources of ``result`` the user may see, as {kind, label, title,
    url}; empty for visitors and for people not of the result's group."""
    if not permissions.can_read_draft(user, result):
        return []
    from .models import SourceKind

    labels = dict(SourceKind.choices)
    found = permissions.sources_visible_to(user, result, list(result.sources.all()))
    return [
        {
            "kind": kind,
            "label": labels.get(kind, kind),
            "title": str(obj),
            "url": obj.get_absolute_url(),
        }
        for kind, obj in found
    ]


def feed_versions(group=None, limit: int = 50) -> QuerySet[ResultVersion]:
    """The latest published versions (of ``group``, or of every group) for a feed."""
    versions = ResultVersion.objects.select_related("result__group").order_by(
        "-published_at", "-pk"
    )
    if group is not None:
        versions = versions.filter(result__group=group)
    return versions[:limit]


# --- Differences between two versions -----------------------------------------------


def version_diff(old: ResultVersion, new: ResultVersion) -> dict:
    """What changed from ``old`` to ``new``: the title, kind and summary when
    they differ, and the text side by side."""
    return {
        "old": old,
        "new": new,
        "title_changed": old.title != new.title,
        "kind_changed": old.kind != new.kind,
        "summary_changed": old.summary != new.summary,
        "rows": text_diff(old.body, new.body),
        "same_text": old.body == new.body,
    }
