from .decorators import mfa_gate
from .permissions import is_organiser, roles_read_once


class OrganiserMFAMiddleware:
    """Organisers reach the admin only with two-factor authentication turned
    on (``mfa_gate``, as for every moderator action)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and request.path.startswith("/admin/")
            and is_organiser(user)
            and (refused := mfa_gate(request))
        ):
            return refused
        return self.get_response(request)


class RolesOncePerRequestMiddleware:
    """A request's access checks read each person's valid memberships once
    (``permissions.roles_read_once``): a page asks the rules a dozen times
    (its view, the bell, the templates), and the memberships do not change
    in between unless the request itself changes them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with roles_read_once():
            return self.get_response(request)
