"""Writes to accounts."""

from django.db import transaction

from .models import User


def profile_update(*, actor: User, user: User, data: dict) -> User:
    """Saves the profile fields in ``data`` (already validated) for ``user``.

    Only the owner edits their profile; raises PermissionError otherwise.
    Sends no event: profiles are read on request.
    """
    if actor.pk != user.pk:
        raise PermissionError("Only the owner edits a profile.")
    with transaction.atomic():
        for field, value in data.items():
            setattr(user, field, value)
        user.save(update_fields=list(data))
    return user


def language_set(*, user: User, language: str) -> None:
    """Remembers ``language`` as the user's preferred language."""
    User.objects.filter(pk=user.pk).update(language=language)
    user.language = language
