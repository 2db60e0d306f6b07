"""Writes of the public side: the process's introduction."""

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from core import hooks
from groups.services import audit

from . import permissions
from .models import Introduction


def introduction_save(*, actor: User, texts: dict[str, tuple[str, str]]) -> None:
    """Saves the process's name and introduction per language (``texts``:
    language -> (name, Markdown text), already validated; an empty name
    removes that language's version, which then falls back to the default
    language's). Organisers only: PermissionDenied otherwise. Calls the
    ``public.changed`` hook."""
    permissions.check_edit_introduction(actor)
    with transaction.atomic():
        for language, (name, text) in texts.items():
            if not name:
                Introduction.objects.filter(language=language).delete()
                continue
            Introduction.objects.update_or_create(
                language=language,
                defaults={
                    "name": name,
                    "text": text,
                    "updated_at": timezone.now(),
                    "updated_by": actor,
                },
            )
        audit(
            group=None,
            actor=actor,
            action="public.introduction_saved",
            summary=", ".join(sorted(texts)),
        )
        hooks.call("public.changed", group_id=None)
