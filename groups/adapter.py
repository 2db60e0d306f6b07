from allauth.account.adapter import DefaultAccountAdapter

from .services import invitation_from_session


class AccountAdapter(DefaultAccountAdapter):
    """Account policy: the workspace is members-only, so sign-up is open only
    to someone who arrives through a valid invitation link (``groups.views.invitation``
    puts it in the session); everyone else sees the closed page."""

    def is_open_for_signup(self, request):
        return invitation_from_session(request.session) is not None
