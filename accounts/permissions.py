"""Who may see and change whose profile."""

from django.http import Http404
from django.shortcuts import get_object_or_404

from .models import User


def can_view_profile(viewer: User, user: User) -> bool:
    """A profile is visible to its owner, to organisers, and to people who
    share a working group with its owner (group access decides)."""
    from groups.permissions import share_a_group

    if not viewer.is_authenticated:
        return False
    return viewer.pk == user.pk or share_a_group(viewer, user)


def access_profile(viewer: User, pk: int) -> User:
    """The active user ``pk`` if ``viewer`` may see them; Http404 otherwise
    (missing and hidden alike)."""
    user = get_object_or_404(User, pk=pk, is_active=True)
    if not can_view_profile(viewer, user):
        raise Http404
    return user
