"""Every write to results: ``<noun>_<verb>(*, actor, ...)``, checked and in
one transaction.

Each one that changes what the public sees (a version published, a result
withdrawn) calls ``core.hooks.call("public.changed", group_id=...)`` inside
its transaction, for the public pages' caches. Every write is in the group's
audit log.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from core import hooks
from groups.services import audit

from . import permissions
from .models import Kind, Result, ResultSource, ResultVersion

# Addresses under a group's results that are not results.
RESERVED_SLUGS = {"new", "feed"}
TITLE_MAX = 200
SUMMARY_MAX = 300
CHANGE_SUMMARY_MAX = 500


def _slug_for(group, title: str) -> str:
    """A short name for addresses, unique in the group, from the title."""
    base = slugify(title)[:70].strip("-") or "result"
    taken = (
        set(
            Result.objects.filter(group=group, slug__startswith=base).values_list("slug", flat=True)
        )
        | RESERVED_SLUGS
    )
    slug, counter = base, 2
    while slug in taken:
        slug = f"{base}-{counter}"
        counter += 1
    return slug


def _clean(kind, title, summary, body) -> dict:
    """The working copy's fields, checked; ValidationError (with the field as
    its code) for bad ones."""
    title = (title or "").strip()
    summary = " ".join((summary or "").split())
    body = (body or "").strip()
    if kind not in Kind.values:
        raise ValidationError(_("Choose a kind of result."), code="kind")
    if not title:
        raise ValidationError(_("A result needs a title."), code="title")
    if len(title) > TITLE_MAX:
        raise ValidationError(
            _("The title is at most %(max)d characters long.") % {"max": TITLE_MAX}, code="title"
        )
    if len(summary) > SUMMARY_MAX:
        raise ValidationError(
            _("The summary is at most %(max)d characters long.") % {"max": SUMMARY_MAX},
            code="summary",
        )
    return {"kind": kind, "title": title, "summary": summary, "body": body}


def _set_sources(*, actor, result: Result, sources: dict | None) -> None:
    """Replaces the result's sources by ``sources`` (kind -> ids), each of
    which must be of the result's group and visible to ``actor``;
    ValidationError (code ``sources``) otherwise."""
    if sources is None:
        return
    wanted = set()
    for kind, ids in sources.items():
        ids = {int(pk) for pk in ids}
        try:
            candidates = permissions.source_candidates(actor, result.group, kind)
        except KeyError:
            raise ValidationError(_("Unknown kind of source."), code="sources") from None
        if ids and candidates.filter(pk__in=ids).count() != len(ids):
            raise ValidationError(
                _("A source must be a discussion, document or meeting of this group."),
                code="sources",
            )
        wanted.update((kind, pk) for pk in ids)
    existing = {(s.kind, s.object_id): s.pk for s in result.sources.all()}
    gone = [pk for key, pk in existing.items() if key not in wanted]
    if gone:
        ResultSource.objects.filter(pk__in=gone).delete()
    ResultSource.objects.bulk_create(
        [
            ResultSource(result=result, kind=kind, object_id=pk)
            for kind, pk in sorted(wanted - set(existing))
        ]
    )


def result_create(
    *,
    actor,
    group,
    kind: str,
    title: str,
    summary: str = "",
    body: str = "",
    sources: dict | None = None,
) -> Result:
    """A new result of ``group``, a draft its people see (moderators).
    PermissionDenied (MFARequired without two-factor authentication),
    ValidationError for bad fields. Nothing public changes."""
    permissions.check_write_results(actor, group)
    fields = _clean(kind, title, summary, body)
    with transaction.atomic():
        result = Result.objects.create(
            group=group, slug=_slug_for(group, fields["title"]), created_by=actor, **fields
        )
        _set_sources(actor=actor, result=result, sources=sources)
        audit(group=group, actor=actor, action="result.created", summary=result.title)
    return result


def result_update(
    *,
    actor,
    result: Result,
    kind: str,
    title: str,
    summary: str = "",
    body: str = "",
    sources: dict | None = None,
) -> Result:
    """Changes the working copy (the draft) of ``result`` (moderators); the
    published versions stay as they are. ValidationError for bad fields and
    for a withdrawn result."""
    permissions.check_write_results(actor, result.group)
    fields = _clean(kind, title, summary, body)
    with transaction.atomic():
        locked = Result.objects.select_for_update().get(pk=result.pk)
        if locked.withdrawn_at is not None:
            raise ValidationError(
                _("A withdrawn result can no longer be changed."), code="withdrawn"
            )
        for key, value in fields.items():
            setattr(result, key, value)
        result.updated_at = timezone.now()
        result.save(update_fields=[*fields, "updated_at"])
        _set_sources(actor=actor, result=result, sources=sources)
        audit(group=result.group, actor=actor, action="result.edited", summary=result.title)
    return result


def result_publish(*, actor, result: Result, change_summary: str) -> ResultVersion:
    """Freezes the working copy as the result's next version (moderators);
    it is public at once, at its own address and at the result's.
    ValidationError without a change summary, with an empty text, for a
    withdrawn result, or when nothing changed since the latest version.
    Calls ``public.changed``."""
    permissions.check_write_results(actor, result.group)
    change_summary = " ".join((change_summary or "").split())
    if not change_summary:
        raise ValidationError(
            _("Say in a few words what this version changes."), code="change_summary"
        )
    if len(change_summary) > CHANGE_SUMMARY_MAX:
        raise ValidationError(
            _("The change summary is at most %(max)d characters long.")
            % {"max": CHANGE_SUMMARY_MAX},
            code="change_summary",
        )
    with transaction.atomic():
        # Under the row lock: two publications at once get two numbers.
        locked = Result.objects.select_for_update().get(pk=result.pk)
        if locked.withdrawn_at is not None:
            raise ValidationError(
                _("A withdrawn result cannot be published again."), code="withdrawn"
            )
        if not locked.body.strip():
            raise ValidationError(_("Write the result's text before publishing it."), code="body")
        frozen = {
            "kind": locked.kind,
            "title": locked.title,
            "summary": locked.summary,
            "body": locked.body,
        }
        latest = locked.versions.filter(number=locked.latest_number).first()
        if latest is not None and all(getattr(latest, k) == v for k, v in frozen.items()):
            raise ValidationError(
                _("Nothing has changed since version %(number)d.") % {"number": latest.number},
                code="unchanged",
            )
        now = timezone.now()
        version = ResultVersion.objects.create(
            result=locked,
            number=locked.latest_number + 1,
            change_summary=change_summary,
            published_at=now,
            published_by=actor,
            **frozen,
        )
        Result.objects.filter(pk=locked.pk).update(latest_number=version.number, published_at=now)
        result.latest_number, result.published_at = version.number, now
        audit(
            group=result.group,
            actor=actor,
            action="result.published",
            summary=f"{version.title} (v{version.number})",
        )
        hooks.call("public.changed", group_id=result.group_id)
    return version


def result_withdraw(*, actor, result: Result, reason: str) -> Result:
    """Withdraws a published result (moderators): its addresses stay, with a
    notice and the reason; it takes no new versions. ValidationError without
    a reason, for a result never published or already withdrawn. Calls
    ``public.changed``."""
    permissions.check_write_results(actor, result.group)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("Say why the result is withdrawn."), code="reason")
    with transaction.atomic():
        locked = Result.objects.select_for_update().get(pk=result.pk)
        if locked.latest_number == 0:
            raise ValidationError(
                _("Only a published result can be withdrawn; a draft can be deleted."),
                code="draft",
            )
        if locked.withdrawn_at is not None:
            raise ValidationError(_("The result is already withdrawn."), code="withdrawn")
        result.withdrawn_at = timezone.now()
        result.withdrawal_reason = reason
        result.save(update_fields=["withdrawn_at", "withdrawal_reason"])
        audit(group=result.group, actor=actor, action="result.withdrawn", summary=result.title)
        hooks.call("public.changed", group_id=result.group_id)
    return result


def result_delete(*, actor, result: Result) -> None:
    """Deletes a draft never published (moderators); a published result is
    withdrawn instead, so that its citable addresses stay. ValidationError
    for a published one."""
    permissions.check_write_results(actor, result.group)
    with transaction.atomic():
        locked = Result.objects.select_for_update().get(pk=result.pk)
        if locked.latest_number > 0:
            raise ValidationError(
                _("A published result is not deleted; withdraw it instead."), code="published"
            )
        audit(group=result.group, actor=actor, action="result.deleted", summary=result.title)
        locked.delete()
