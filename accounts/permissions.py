"""Who may see and change whose profile."""

from django.http import Http404
from django.shortcuts import get_object_or_404

from .models import User


def can_view_profile(viewer: User, user: User) -> bool:
    """A profile is visible to its owner and to organisers.

    The groups app widens this to people who share a group.
    """
    return viewer.is_authenticated and (viewer.pk == user.pk or viewer.is_staff)


def access_profile(viewer: User, pk: int) -> User:
    """The active user ``pk`` if ``viewer`` may see them; Http404 otherwise
    (missing and hidden alike)."""
    user = get_object_or_404(User, pk=pk, is_active=True)
    if not can_view_profile(viewer, user):
        raise Http404
    return user
