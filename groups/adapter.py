from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context as allauth_context
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
