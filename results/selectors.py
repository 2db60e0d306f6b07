"""Reads for the results pages, starting from ``permissions``."""

import difflib
import re
from dataclasses import dataclass, field

from django.db.models import QuerySet

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

WORD = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)


@dataclass
class DiffLine:
    """One row of a side-by-side difference: the old line and the new one
    (either may be absent), each as segments (text, changed)."""

    tag: str  # equal, delete, insert, replace
    old_number: int | None = None
    new_number: int | None = None
    old: list[tuple[str, bool]] = field(default_factory=list)
    new: list[tuple[str, bool]] = field(default_factory=list)


def _word_segments(old: str, new: str) -> tuple[list, list]:
    """The two lines as segments, the words that differ marked."""
    a, b = WORD.findall(old), WORD.findall(new)
    old_segments, new_segments = [], []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if i2 > i1:
            old_segments.append(("".join(a[i1:i2]), tag != "equal"))
        if j2 > j1:
            new_segments.append(("".join(b[j1:j2]), tag != "equal"))
    return old_segments, new_segments


def text_diff(old_text: str, new_text: str, context: int = 3) -> list[DiffLine | None]:
    """A side-by-side difference of two Markdown sources, line by line, the
    changed words within a changed line marked; unchanged stretches longer
    than twice ``context`` are folded (None stands for the fold). The text
    is plain: the template escapes it."""
    a, b = old_text.splitlines(), new_text.splitlines()
    rows: list[DiffLine | None] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for group_index, group in enumerate(matcher.get_grouped_opcodes(context)):
        if group_index or (group and (group[0][1] > 0 or group[0][3] > 0)):
            rows.append(None)
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                for offset in range(i2 - i1):
                    line = a[i1 + offset]
                    rows.append(
                        DiffLine(
                            "equal",
                            i1 + offset + 1,
                            j1 + offset + 1,
                            [(line, False)],
                            [(line, False)],
                        )
                    )
                continue
            pairs = max(i2 - i1, j2 - j1)
            for offset in range(pairs):
                i, j = i1 + offset, j1 + offset
                old = a[i] if i < i2 else None
                new = b[j] if j < j2 else None
                if old is not None and new is not None:
                    old_segments, new_segments = _word_segments(old, new)
                    rows.append(DiffLine("replace", i + 1, j + 1, old_segments, new_segments))
                elif old is not None:
                    rows.append(DiffLine("delete", i + 1, None, [(old, True)], []))
                else:
                    rows.append(DiffLine("insert", None, j + 1, [], [(new, True)]))
    shown = [row for row in rows if row is not None]
    if shown:
        last_old = max((row.old_number or 0) for row in shown)
        last_new = max((row.new_number or 0) for row in shown)
        if last_old < len(a) or last_new < len(b):
            rows.append(None)
    return rows


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
