from allauth.account.adapter import DefaultAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    """Account policy: the workspace is members-only, so there is no open sign-up.

    People join through an invitation (groups) or are created by an organiser in
    the admin.
    """

    def is_open_for_signup(self, request):
        return False
