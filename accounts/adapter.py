from allauth.account.adapter import DefaultAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    """Account policy: the workspace is members-only, so sign-up is open only
    to someone who arrives through a valid invitation link (the groups app puts
    it in the session); everyone else sees the closed page."""

    def is_open_for_signup(self, request):
        from groups.views import invitation_from_session

        return invitation_from_session(request) is not None
