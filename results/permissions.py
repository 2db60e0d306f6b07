"""Who may see and do what with a group's results; built on groups.permissions.

- A published result (one version or more) and its versions are public:
  anyone, visitors too, reads them, withdrawn ones included (with a notice).
- A result never published, and the working copy (the draft) of every
  result, are for the group's people.
- The group's moderators write, publish and withdraw, with two-factor
  authentication (``check_act_as_moderator``), while the group is not archived.
- The threads, documents and meetings a result came from are shown to each
  person through the owning app's ``*_visible_to`` (``sources_visible_to``).
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils.module_loading import import_string

from groups import permissions as group_permissions

from .models import Result, ResultVersion


def published_results() -> QuerySet[Result]:
    """Every result with a published version: what the public sees."""
    return Result.objects.filter(latest_number__gt=0)


def results_visible_to(user) -> QuerySet[Result]:
    """The published results, and every result (drafts too) of the user's groups."""
    return Result.objects.filter(
        Q(latest_number__gt=0) | Q(group__in=group_permissions.groups_visible_to(user))
    )


def versions_visible_to(user) -> QuerySet[ResultVersion]:
    """Published versions are public: every version of a visible result."""
    return ResultVersion.objects.filter(result__in=results_visible_to(user))


def access_result(user, group_slug: str, slug: str) -> Result:
    """The result if the user may see it (with its group); Http404 otherwise,
    for missing and forbidden alike."""
    result = (
        results_visible_to(user)
        .select_related("group")
        .filter(group__slug=group_slug, slug=slug)
        .first()
    )
    if result is None:
        raise Http404
    return result


def access_version(user, group_slug: str, slug: str, number) -> ResultVersion:
    """A published version (old ones too) of a result the user may see, with
    its result and group; Http404 otherwise."""
    try:
        number = int(number)
    except (TypeError, ValueError):
        raise Http404 from None
    version = (
        versions_visible_to(user)
        .select_related("result__group")
        .filter(result__group__slug=group_slug, result__slug=slug, number=number)
        .first()
    )
    if version is None:
        raise Http404
    return version


def can_read_draft(user, result: Result) -> bool:
    """The working copy, and the sources, are for the group's people."""
    return group_permissions.is_member(user, result.group)


def access_result_draft(user, group_slug: str, slug: str) -> Result:
    """The result for reading its draft: Http404 for anyone not of its group."""
    result = access_result(user, group_slug, slug)
    if not can_read_draft(user, result):
        raise Http404
    return result


def can_write_results(user, group) -> bool:
    """Write, publish and withdraw the group's results: its moderators, while
    the group is not archived (two-factor authentication asked separately:
    ``check_write_results``, or ``mfa_gate`` in front of a view)."""
    return group_permissions.is_moderator(user, group) and not group.archived


def check_write_results(user, group) -> None:
    """PermissionDenied unless ``can_write_results``; MFARequired (a
    PermissionDenied) for a moderator without two-factor authentication."""
    if not can_write_results(user, group):
        raise PermissionDenied
    group_permissions.check_act_as_moderator(user, group)


def access_result_as_moderator(user, group_slug: str, slug: str) -> Result:
    """The result for its moderators: Http404 for people who cannot read its
    draft, PermissionDenied for the others of its group."""
    result = access_result_draft(user, group_slug, slug)
    if not can_write_results(user, result.group):
        raise PermissionDenied
    return result


def source_rules() -> dict:
    """kind -> the owning app's ``*_visible_to(user)`` (``settings.RESULT_SOURCES``,
    dotted paths: this app sits beside discussions, documents and meetings and
    imports none of them)."""
    return {
        kind: import_string(path) for kind, path in getattr(settings, "RESULT_SOURCES", {}).items()
    }


def sources_visible_to(user, result: Result, sources) -> list[tuple[str, object]]:
    """The result's sources (``ResultSource`` rows) the user may see, as
    (kind, object), in one query per kind; nothing (and no query) for
    someone not of the result's group: visitors never see them."""
    if not sources or not can_read_draft(user, result):
        return []
    ids_by_kind: dict[str, list[int]] = {}
    for source in sources:
        ids_by_kind.setdefault(source.kind, []).append(source.object_id)
    rules = source_rules()
    found = []
    for kind, ids in ids_by_kind.items():
        if kind not in rules:
            continue
        for obj in rules[kind](user).filter(group=result.group, pk__in=ids):
            found.append((kind, obj))
    return found


def source_candidates(user, group, kind: str) -> QuerySet:
    """What a moderator may name as a source of the given kind: the group's
    objects of that kind they see."""
    rules = source_rules()
    if kind not in rules:
        raise KeyError(kind)
    return rules[kind](user).filter(group=group)
