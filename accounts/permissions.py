"""Who may see whose profile."""

from django.conf import settings
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.module_loading import import_string

from .models import User


def can_view_profile(viewer: User, user: User) -> bool:
    """The owner sees their profile; anyone else as the rule
    ``settings.PROFILE_VISIBILITY_RULE`` names says (``viewer, user -> bool``).
    That rule is group access (``groups.permissions.can_view_profile``), which
    accounts, a layer below groups, takes from the settings instead of
    importing it. Without one, a profile is its owner's alone."""
    if not viewer.is_authenticated:
        return False
    if viewer.pk == user.pk:
        return True
    rule = getattr(settings, "PROFILE_VISIBILITY_RULE", None)
    return bool(rule) and import_string(rule)(viewer, user)


def access_profile(viewer: User, pk: int) -> User:
    """The active user ``pk`` if ``viewer`` may see them; Http404 otherwise
    (missing and hidden alike)."""
    user = get_object_or_404(User, pk=pk, is_active=True)
    if not can_view_profile(viewer, user):
        raise Http404
    return user
