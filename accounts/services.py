"""Writes to accounts."""

from django.db import transaction

from core import hooks

from .models import PUBLIC_PROFILE_FIELDS, User

# What the public pages show of a person: the listed fields, their choices,
# and the sector (counted in every group's mix of sectors).
_PUBLICLY_SHOWN = {*PUBLIC_PROFILE_FIELDS, *PUBLIC_PROFILE_FIELDS.values()}


def profile_update(*, actor: User, user: User, data: dict) -> User:
    """Saves the profile fields in ``data`` (already validated) for ``user``.

    Only the owner edits their profile; raises PermissionError otherwise.
    Sends no event: profiles are read on request. A change of what the public
    pages show of the person (a listed field, a choice to be listed, the
    sector) calls the ``public.changed`` hook, for every group.
    """
    if actor.pk != user.pk:
        raise PermissionError("Only the owner edits a profile.")
    with transaction.atomic():
        changed = {field for field, value in data.items() if getattr(user, field) != value}
        for field, value in data.items():
            setattr(user, field, value)
        user.save(update_fields=list(data))
        if changed & _PUBLICLY_SHOWN:
            hooks.call("public.changed", group_id=None)
    return user


def language_set(*, user: User, language: str) -> None:
    """Remembers ``language`` as the user's preferred language."""
    User.objects.filter(pk=user.pk).update(language=language)
    user.language = language
