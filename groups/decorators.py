from functools import wraps
from urllib.parse import urlsplit

from django.contrib import messages
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from .permissions import access_group, access_group_as_moderator, needs_mfa_to_moderate


def group_view(view):
    """Looks the group up by slug for a person who takes part (Http404 otherwise)."""

    @wraps(view)
    def wrapper(request, slug, *args, **kwargs):
        return view(request, access_group(request.user, slug), *args, **kwargs)

    return wrapper


# The page a moderator was on when ``mfa_gate`` sent them to turn on
# two-factor authentication: offered again once it is on (``groups:mfa_resume``).
MFA_RESUME = "groups.mfa_resume"


def safe_local_url(request, url: str) -> str | None:
    """``url`` as a path on this site (with its query), or None if it leads
    elsewhere or is no URL at all."""
    if not url or not url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return None
    parts = urlsplit(url)
    if not parts.path.startswith("/"):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _page_of_action(request) -> str | None:
    """Where to come back to: the page itself for a GET; for a POST (never
    replayed) the page it was posted from; for an htmx request (a part of a
    page) the page in the browser's address bar."""
    if request.headers.get("HX-Request"):
        return safe_local_url(request, request.headers.get("HX-Current-URL", ""))
    if request.method in ("GET", "HEAD"):
        return safe_local_url(request, request.get_full_path())
    return safe_local_url(request, request.headers.get("Referer", ""))


def mfa_gate(request):
    """``needs_mfa_to_moderate`` applied to a view, for a request whose user
    acts as a moderator or organiser: None when they may go ahead; otherwise
    the response that leads them to turn on two-factor authentication, which
    the view returns instead of acting. The page of the action is
    remembered in the session: once two-factor authentication is on, the
    allauth pages offer the way back (``groups:mfa_resume``)."""
    if not needs_mfa_to_moderate(request.user):
        return None
    if resume := _page_of_action(request):
        request.session[MFA_RESUME] = resume
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
