from functools import wraps

from django.contrib import messages
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from .permissions import access_group, access_group_as_moderator, needs_mfa_to_moderate


def group_view(view):
    """Looks the group up by slug for a person who takes part (Http404 otherwise)."""

    @wraps(view)
    def wrapper(request, slug, *args, **kwargs):
        return view(request, access_group(request.user, slug), *args, **kwargs)

    return wrapper


def mfa_gate(request):
    """``needs_mfa_to_moderate`` applied to a view, for a request whose user
    acts as a moderator or organiser: None when they may go ahead; otherwise
    the response that leads them to turn on two-factor authentication, which
    the view returns instead of acting."""
    if not needs_mfa_to_moderate(request.user):
        return None
    messages.warning(
        request,
        _(
            "Moderators and organisers protect their accounts with two-factor "
            "authentication. Please turn it on to continue."
        ),
    )
    return redirect("mfa_index")


def moderator_view(view):
    """For moderators (and organisers) of the group: Http404 for people who
    cannot see it, 403 for members; moderators without two-factor
    authentication are led to turn it on first (``mfa_gate``)."""

    @wraps(view)
    def wrapper(request, slug, *args, **kwargs):
        group = access_group_as_moderator(request.user, slug)
        if refused := mfa_gate(request):
            return refused
        return view(request, group, *args, **kwargs)

    return wrapper
