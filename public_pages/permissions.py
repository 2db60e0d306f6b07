"""Who may do what on the public side. Reading needs nothing: every public
page shows only what is public by its nature (a group's public summary, the
sections lower apps publish, the people who chose to be listed)."""

from django.core.exceptions import PermissionDenied

from groups.permissions import is_organiser


def can_edit_introduction(user) -> bool:
    """Organisers write the process's name and introduction."""
    return is_organiser(user)


def check_edit_introduction(user) -> None:
    """PermissionDenied unless ``can_edit_introduction``."""
    if not can_edit_introduction(user):
        raise PermissionDenied
