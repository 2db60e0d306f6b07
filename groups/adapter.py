import time

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context as allauth_context
from django.conf import settings
from django.contrib.sites.shortcuts import get_current_site
from django.utils import translation

from core.outbox import email_queue_message

from .services import invitation_from_session


class AccountAdapter(DefaultAccountAdapter):
    """Account policy: the workspace is members-only, so sign-up is open only
    to someone who arrives through a valid invitation link (``groups.views.invitation``
    puts it in the session); everyone else sees the closed page."""

    def is_open_for_signup(self, request):
        return invitation_from_session(request.session) is not None

    def send_mail(self, template_prefix, email, context):
        """allauth's emails (address confirmation, password reset, ...) are
        rendered now, in the active language, and queued in the outbox
        (``core.outbox``): the worker sends them after the request's writes commit."""
        request = allauth_context.request
        context = {
            "request": request,
            "email": email,
            "current_site": get_current_site(request),
            **context,
        }
        email_queue_message(
            self.render_mail(template_prefix, email, context),
            language=translation.get_language() or "",
        )

    def is_reauthentication_required(self, *, app: str, **kwargs) -> bool:
        """A fresh sign-in counts as having confirmed the password: no second
        prompt for the same thing within ``ACCOUNT_REAUTHENTICATION_TIMEOUT``
        seconds of signing in (a moderator led from their first moderator
        action to turn on two-factor authentication, moments after signing
        in). Later on allauth asks as usual."""
        if signed_in_recently(self.request):
            return False
        return super().is_reauthentication_required(app=app, **kwargs)


# When this session signed in (a Unix time), kept by ``remember_sign_in``.
SIGNED_IN_AT = "groups.signed_in_at"


def remember_sign_in(sender, request, user, **kwargs) -> None:
    """Django's ``user_logged_in``: notes when this session signed in
    (connected in ``GroupsConfig.ready()``)."""
    if request is not None and hasattr(request, "session"):
        request.session[SIGNED_IN_AT] = time.time()


def signed_in_recently(request) -> bool:
    """True if ``request``'s session signed in less than
    ``ACCOUNT_REAUTHENTICATION_TIMEOUT`` seconds ago."""
    session = getattr(request, "session", None)
    signed_in_at = session.get(SIGNED_IN_AT) if session is not None else None
    if not isinstance(signed_in_at, (int, float)):
        return False
    timeout = getattr(settings, "ACCOUNT_REAUTHENTICATION_TIMEOUT", 300)
    return 0 <= time.time() - signed_in_at < timeout
